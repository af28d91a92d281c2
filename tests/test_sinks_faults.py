"""Nothing lost under faults: real writer processes killed mid-write, and several writing at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import sqlalchemy as sa

from churnml.config import SinkConfig
from churnml.io.sinks import write_duckdb, write_postgres
from fault_writer import scored_run
from pg_server import postgres_server

TESTS = Path(__file__).parent
WRITER = TESTS / "fault_writer.py"
PREVIOUS_ROWS = 1000

pytestmark = pytest.mark.slow


def writer_env(**extra: str) -> dict[str, str]:
    src = str(TESTS.parent / "src")
    path = os.pathsep.join([src, str(TESTS.parent), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, **extra}


def start_writer(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(WRITER), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env or writer_env(),
    )


def kill_and_collect(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    return out


def duckdb_rows(path: Path, table: str) -> pd.DataFrame:
    con = duckdb.connect(str(path))  # read-write: replays the WAL a killed writer left behind
    try:
        return con.execute(f"SELECT * FROM {table}").df()
    finally:
        con.close()


def test_duckdb_write_killed_mid_transaction_keeps_the_previous_run(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    write_duckdb(con, scored_run("2025-01-01", PREVIOUS_ROWS, 0.1), "scored_accounts")
    con.close()

    proc = start_writer("duckdb", str(warehouse), "2025-02-01", "300000")
    seen = []
    # The dangerous moment: the current list has been emptied inside the transaction and the new
    # rows are not committed yet. Without the transaction the CS team would find an empty list.
    for line in proc.stdout:
        seen.append(line)
        if line.startswith('DONE DELETE FROM "scored_accounts"'):
            break
    else:
        pytest.fail(f"writer ended before emptying the current list: {seen} {proc.stderr.read()}")
    out = "".join(seen) + kill_and_collect(proc)
    assert "SQL COMMIT" not in out, (
        "the writer committed before it was killed: not a mid-write kill"
    )

    current = duckdb_rows(warehouse, "scored_accounts")
    history = duckdb_rows(warehouse, "scored_accounts_history")
    assert len(current) == PREVIOUS_ROWS and (current.as_of == pd.Timestamp("2025-01-01")).all()
    assert len(history) == PREVIOUS_ROWS and (history.as_of == pd.Timestamp("2025-01-01")).all()
    assert (current.p_churn == 0.1).all()


@pytest.mark.postgres
def test_postgres_write_killed_mid_transaction_keeps_the_previous_run(monkeypatch):
    sink = SinkConfig(kind="postgres", url_env="CHURNML_KILL_TEST_URL")
    with postgres_server() as url:
        monkeypatch.setenv("CHURNML_KILL_TEST_URL", url)
        write_postgres(scored_run("2025-01-01", PREVIOUS_ROWS, 0.1), sink)
        app = "churnml-kill-test"
        proc = start_writer(
            "postgres",
            "WRITER_URL",
            "2025-02-01",
            "200000",
            env=writer_env(WRITER_URL=f"{url}?application_name={app}"),
        )
        engine = sa.create_engine(url)
        # Wait until PostgreSQL itself shows the writer's open transaction copying into the
        # current list (after it deleted the previous rows in that same transaction).
        watch = sa.text(
            "SELECT pid, xact_start, left(query, 60) FROM pg_stat_activity "
            "WHERE application_name = :app AND xact_start IS NOT NULL "
            """AND query LIKE 'COPY "scored_accounts" (%'"""
        )
        deadline = time.time() + 120
        seen = None
        with engine.connect() as c:
            while time.time() < deadline and proc.poll() is None:
                seen = c.execute(watch, {"app": app}).fetchone()
                c.rollback()
                if seen:
                    break
                time.sleep(0.02)
        assert seen, f"never saw the writer mid-transaction: {proc.communicate()}"
        out = kill_and_collect(proc)
        assert "WRITTEN" not in out

        with engine.connect() as c:
            current = pd.read_sql("SELECT * FROM scored_accounts", c)
            history = pd.read_sql("SELECT * FROM scored_accounts_history", c)
        assert len(current) == PREVIOUS_ROWS and (current.p_churn == 0.1).all()
        assert len(history) == PREVIOUS_ROWS
        assert set(history.as_of) == {pd.Timestamp("2025-01-01")}
        # and the table is usable again: the killed session's locks went with it
        write_postgres(scored_run("2025-02-01", 10, 0.2), sink)
        with engine.connect() as c:
            n_current = c.execute(sa.text("SELECT count(*) FROM scored_accounts")).scalar()
        assert n_current == 10
        engine.dispose()


RUNS = [("2025-03-01", 0.3), ("2025-03-01", 0.4), ("2025-02-01", 0.2), ("2025-04-01", 0.5)]
ROWS = 20000


def assert_no_rows_lost_or_doubled(current: pd.DataFrame, history: pd.DataFrame) -> None:
    per_as_of = history.groupby("as_of").account_id.agg(["size", "nunique"])
    assert set(per_as_of.index) == {pd.Timestamp(a) for a, _ in RUNS}
    assert (per_as_of["size"] == ROWS).all() and (per_as_of["nunique"] == ROWS).all()
    # the two runs of 2025-03-01 replaced each other: one of them, never a mix
    march = history[history.as_of == pd.Timestamp("2025-03-01")]
    assert march.p_churn.nunique() == 1 and march.p_churn.iloc[0] in (0.3, 0.4)
    # the current list is the newest as-of, whatever order the runs finished in
    assert len(current) == ROWS and set(current.as_of) == {pd.Timestamp("2025-04-01")}


@pytest.mark.postgres
def test_concurrent_postgres_runs_neither_duplicate_nor_lose_rows():
    with postgres_server() as url:
        env = writer_env(WRITER_URL=url)
        procs = [
            start_writer("postgres", "WRITER_URL", a, str(ROWS), "--p", str(p), env=env)
            for a, p in RUNS
        ]
        outs = [p.communicate(timeout=300) for p in procs]
        for p, (_out, err) in zip(procs, outs, strict=True):
            assert p.returncode == 0, err[-2000:]
        engine = sa.create_engine(url)
        with engine.connect() as c:
            current = pd.read_sql("SELECT * FROM scored_accounts", c)
            history = pd.read_sql("SELECT * FROM scored_accounts_history", c)
        engine.dispose()
        assert_no_rows_lost_or_doubled(current, history)


def test_concurrent_duckdb_runs_queue_for_the_warehouse(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    procs = [
        start_writer("duckdb", str(warehouse), a, str(ROWS), "--p", str(p), "--hold", "0.5")
        for a, p in RUNS
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-2000:]
    assert_no_rows_lost_or_doubled(
        duckdb_rows(warehouse, "scored_accounts"), duckdb_rows(warehouse, "scored_accounts_history")
    )


def test_duckdb_waits_a_bounded_time_then_fails_clearly(tmp_path, caplog):
    warehouse = tmp_path / "warehouse.duckdb"
    holder = start_writer("duckdb", str(warehouse), "2025-01-01", "100", "--hold", "30")
    for line in holder.stdout:
        if line.startswith("WRITTEN"):
            break
    try:
        started = time.time()
        second = start_writer(
            "duckdb", str(warehouse), "2025-02-01", "100", "--lock-timeout", "1.5"
        )
        out, err = second.communicate(timeout=120)
        waited = time.time() - started
        cli = _check_data_while_held(tmp_path, warehouse)
    finally:
        holder.send_signal(signal.SIGTERM)
        holder.communicate(timeout=30)
    assert second.returncode != 0 and "OPENED" not in out
    assert "WarehouseBusyError" in err and "is held by another process for more than 1.5s" in err
    assert str(warehouse) in err
    assert waited < 60  # bounded: it did not hang
    # the CLI says it in one line, as the outside world's failure (exit 1), not a mapping mistake
    assert cli.exit_code == 1, cli.output
    (line,) = [x for x in cli.output.splitlines() if x.strip()]
    assert line.startswith("warehouse busy: warehouse ") and "held by another process" in line
    # and while it waits it says why nothing seems to happen (a warning on stderr)
    waiting = [r.getMessage() for r in caplog.records if "waiting for warehouse" in r.getMessage()]
    assert waiting == [
        f"waiting for warehouse {warehouse}: another process holds it (up to 1s, "
        "warehouse.lock_timeout_seconds)"
    ]
    current = duckdb_rows(warehouse, "scored_accounts")
    assert len(current) == 100 and set(current.as_of) == {pd.Timestamp("2025-01-01")}


def _check_data_while_held(folder: Path, warehouse: Path):
    """`churnml check-data` on a warehouse another process holds, with a short lock timeout."""
    import yaml
    from typer.testing import CliRunner

    from churnml.cli import app

    config = folder / "churnml.yaml"
    settings = {
        "warehouse": {"path": str(warehouse), "lock_timeout_seconds": 1.0},
        "sources": {
            name: {"source": {"kind": "duckdb", "table": name}}
            for name in ("accounts", "subscriptions")
        },
    }
    config.write_text(yaml.safe_dump(settings))
    return CliRunner().invoke(app, ["check-data", "-c", str(config)])
