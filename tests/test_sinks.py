"""Write-back: one transaction per run, reruns replace, failures leave earlier results intact."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest
import sqlalchemy as sa

from churnml.config import SinkConfig
from churnml.io.sinks import SinkError, write_duckdb, write_postgres
from pg_server import postgres_server


def run(as_of: str, accounts=("acc_a", "acc_b"), p=0.2) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account_id": list(accounts),
            "as_of": pd.Timestamp(as_of).as_unit("us"),
            "p_churn": [p] * len(accounts),
            "drivers_text": ["Usage fell; <script>x</script>"] * len(accounts),
        }
    )


def read(con, table):
    return con.execute(f"SELECT * FROM {table} ORDER BY as_of, account_id").df()


def test_duckdb_rerun_replaces_and_history_keeps_every_as_of(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    write_duckdb(con, run("2025-01-01"), "scored_accounts")
    write_duckdb(con, run("2025-02-01", p=0.3), "scored_accounts")
    write_duckdb(con, run("2025-02-01", p=0.4), "scored_accounts")
    current, history = read(con, "scored_accounts"), read(con, "scored_accounts_history")
    assert len(current) == 2 and (current.p_churn == 0.4).all()
    assert len(history) == 4
    # a backfill of an older as-of goes to history only
    write_duckdb(con, run("2024-12-01", accounts=("acc_z",)), "scored_accounts")
    assert set(read(con, "scored_accounts").account_id) == {"acc_a", "acc_b"}
    assert len(read(con, "scored_accounts_history")) == 5


def test_duckdb_failed_write_leaves_previous_results(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    write_duckdb(con, run("2025-01-01"), "scored_accounts")
    bad = run("2025-02-01").assign(
        p_churn="not a number"
    )  # cannot be inserted into a DOUBLE column
    with pytest.raises(duckdb.Error):
        write_duckdb(con, bad, "scored_accounts")
    assert len(read(con, "scored_accounts")) == 2
    assert (read(con, "scored_accounts").as_of == pd.Timestamp("2025-01-01")).all()
    assert len(read(con, "scored_accounts_history")) == 2


def test_new_columns_join_an_existing_table(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    write_duckdb(con, run("2025-01-01"), "scored_accounts")
    write_duckdb(con, run("2025-02-01").assign(p_churn_change=0.1), "scored_accounts")
    history = read(con, "scored_accounts_history")
    assert history.p_churn_change.isna().sum() == 2 and (history.p_churn_change == 0.1).sum() == 2


def test_a_run_must_hold_one_as_of(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    with pytest.raises(SinkError, match="exactly one as_of"):
        write_duckdb(con, pd.concat([run("2025-01-01"), run("2025-02-01")]), "scored_accounts")


@pytest.mark.postgres
def test_postgres_sink_replaces_and_rolls_back(monkeypatch):
    with postgres_server() as url:
        monkeypatch.setenv("CHURNML_POSTGRES_URL", url)
        sink = SinkConfig(kind="postgres", table="scored_accounts", url_env="CHURNML_POSTGRES_URL")
        write_postgres(run("2025-01-01"), sink)
        write_postgres(run("2025-01-01", p=0.5), sink)
        engine = sa.create_engine(url)
        with engine.connect() as c:
            current = pd.read_sql("SELECT * FROM scored_accounts", c)
            history = pd.read_sql("SELECT * FROM scored_accounts_history", c)
        assert len(current) == 2 and (current.p_churn == 0.5).all()
        assert len(history) == 2
        assert current.drivers_text.iloc[0] == "Usage fell; <script>x</script>"
        with pytest.raises(SinkError):
            write_postgres(run("2025-02-01").assign(p_churn="x"), sink)
        with engine.connect() as c:
            after = pd.read_sql("SELECT * FROM scored_accounts", c)
        assert (after.p_churn == 0.5).all() and len(after) == 2
        engine.dispose()


def test_postgres_needs_its_url_from_the_environment(monkeypatch):
    monkeypatch.delenv("CHURNML_POSTGRES_URL", raising=False)
    with pytest.raises(SinkError, match="CHURNML_POSTGRES_URL"):
        write_postgres(
            run("2025-01-01"), SinkConfig(kind="postgres", url_env="CHURNML_POSTGRES_URL")
        )
