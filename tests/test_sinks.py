"""Write-back: one transaction per run, reruns replace, failures leave earlier results intact."""

from __future__ import annotations

import json
from datetime import date

import duckdb
import pandas as pd
import pytest
import sqlalchemy as sa

from churnml.changes import score_changes
from churnml.config import ChurnmlConfig, SinkConfig, default_config
from churnml.io.sinks import SINK_KINDS, SinkError, open_sink, write_duckdb, write_postgres
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


# --- one interface, every kind -------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_url():
    with postgres_server() as url:
        yield url


@pytest.fixture(
    params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres), "parquet", "csv"]
)
def sink_case(request, tmp_path, monkeypatch):
    """A sink of each kind, first in the config, with an empty DuckDB sink after it."""
    kind = request.param
    table = f"scores_{kind}_{abs(hash(request.node.nodeid)) % 10**8}"
    first = {"kind": kind, "table": table, "path": "crm"}
    if kind == "postgres":
        monkeypatch.setenv("CHURNML_POSTGRES_URL", request.getfixturevalue("pg_url"))
        first = {"kind": kind, "table": table}
    raw = default_config(tmp_path).model_dump()
    raw["output"]["sinks"] = [first, {"kind": "duckdb", "table": "other_scores"}]
    cfg = ChurnmlConfig.model_validate(raw)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    yield open_sink(cfg.output.sinks[0], cfg, con), cfg, con
    con.close()


def test_the_factory_picks_one_implementation_per_kind(sink_case):
    sink, cfg, _ = sink_case
    assert isinstance(sink, SINK_KINDS[cfg.output.sinks[0].kind])
    assert cfg.output.sinks[0].table in sink.describe()


def test_a_new_output_column_joins_every_sink(sink_case):
    sink, _, _ = sink_case
    assert sink.as_ofs() == [] and sink.read("2025-01-01").empty
    sink.write(run("2025-01-01"), pd.Timestamp("2025-01-01"))
    newer = run("2025-02-01", p=0.3).assign(upsell_rank=[1, 2])  # a newer churnml's column
    sink.write(newer, pd.Timestamp("2025-02-01"))
    assert sink.as_ofs() == [date(2025, 1, 1), date(2025, 2, 1)]
    old, new = sink.read("2025-01-01"), sink.read(date(2025, 2, 1))
    assert len(old) == 2 and (old.p_churn == 0.2).all()
    assert old.as_of.dtype == "datetime64[us]" and old.account_id.tolist() == ["acc_a", "acc_b"]
    assert old.get("upsell_rank", pd.Series([None, None])).isna().all()
    assert new.upsell_rank.tolist() == [1, 2] and (new.p_churn == 0.3).all()
    assert new.drivers_text.iloc[0] == "Usage fell; <script>x</script>"


def test_the_second_scoring_run_sees_the_first_on_every_sink(sink_case):
    from flows.scoring import previous_run

    sink, cfg, con = sink_case
    usage = {"family": "usage", "label": "Product usage", "impact": 0.2, "sentence": ""}
    first = run("2025-01-01", p=0.1).assign(drivers_json=json.dumps({"risk": [usage]}))
    assert previous_run.fn(con, cfg, date(2025, 1, 1)) is None
    sink.write(first, date(2025, 1, 1))
    second = run("2025-02-01", p=0.3).assign(
        drivers_json=json.dumps({"risk": [{**usage, "impact": 0.9}]})
    )
    previous = previous_run.fn(con, cfg, date(2025, 2, 1))
    changes = score_changes(second, previous)
    assert (changes.previous_as_of == pd.Timestamp("2025-01-01")).all()
    assert changes.p_churn_change.round(2).tolist() == [0.2, 0.2]
    assert (changes.change_summary == "churn risk +20 pts, mostly Product usage").all()
    sink.write(second, date(2025, 2, 1))
    assert (previous_run.fn(con, cfg, date(2025, 3, 1)).p_churn == 0.3).all()
    assert (previous_run.fn(con, cfg, date(2025, 2, 1)).p_churn == 0.1).all()


def test_a_run_is_written_for_the_as_of_it_holds(sink_case):
    sink, _, _ = sink_case
    with pytest.raises(SinkError, match="as of 2025-01-01, not 2025-02-01"):
        sink.write(run("2025-01-01"), pd.Timestamp("2025-02-01"))
    assert sink.as_ofs() == []


@pytest.mark.postgres
def test_postgres_new_column_and_bad_rows_roll_back_together(pg_url, monkeypatch):
    monkeypatch.setenv("CHURNML_POSTGRES_URL", pg_url)
    sink = open_sink(SinkConfig(kind="postgres", table="evolving"), None)
    sink.write(run("2025-01-01"), pd.Timestamp("2025-01-01"))
    bad = run("2025-02-01").assign(p_churn="x", upsell_rank=1)
    with pytest.raises(SinkError, match="nothing written"):
        sink.write(bad, pd.Timestamp("2025-02-01"))
    engine = sa.create_engine(pg_url)
    with engine.connect() as c:
        columns = set(pd.read_sql("SELECT * FROM evolving_history", c).columns)
        copied = c.execute(sa.text("SELECT count(*) FROM evolving")).scalar()
    engine.dispose()
    assert "upsell_rank" not in columns and copied == 2
    assert sink.as_ofs() == [date(2025, 1, 1)]


@pytest.mark.parametrize("kind", ["duckdb", "parquet", "csv"])
def test_a_full_disk_is_one_line_and_keeps_the_earlier_runs(tmp_path, monkeypatch, kind):
    import errno

    import churnml.io.sinks as sinks

    raw = default_config(tmp_path).model_dump()
    raw["output"]["sinks"] = [{"kind": kind, "table": "scored_accounts", "path": "crm"}]
    cfg = ChurnmlConfig.model_validate(raw)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    sink = open_sink(cfg.output.sinks[0], cfg, con)
    sink.write(run("2025-01-01"), None)
    before = sorted(p.name for p in tmp_path.rglob("*"))

    def full(frame, path, *args):
        path.write_bytes(b"part of a file")
        raise OSError(errno.ENOSPC, "No space left on device")

    def full_duckdb(*args):
        raise duckdb.IOException("IO Error: No space left on device\nmore detail")

    if kind == "duckdb":
        monkeypatch.setattr(sinks, "write_duckdb", full_duckdb)
    else:
        monkeypatch.setattr(type(sink), "_save", lambda self, frame, path: full(frame, path))
    with pytest.raises(SinkError) as raised:
        sink.write(run("2025-01-01", p=0.9), None)
    line = str(raised.value)
    assert "\n" not in line and "No space left on device" in line, line
    assert line.startswith(f"sink {kind} "), line
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # no temp file left behind
    assert (sink.previous(pd.Timestamp("2025-02-01")).p_churn == 0.2).all()
    con.close()


def test_a_report_that_cannot_be_written_is_one_line_and_leaves_no_temp_file(tmp_path, monkeypatch):
    import errno
    from pathlib import Path

    from churnml.io.sinks import write_report_file

    target = tmp_path / "reports" / "churnml-report-2025-01-01.html"
    write_report_file(target, "<p>earlier</p>")

    def full(self, text, encoding=None):
        Path.write_bytes(self, b"<p>ha")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(SinkError) as raised:
        write_report_file(target, "<p>new</p>")
    assert str(raised.value).startswith(
        f"report {target} could not be written (No space left on device); the scores were "
    )
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]
    assert target.read_bytes() == b"<p>earlier</p>"
