"""Write the demo dataset into a DuckDB warehouse file, atomically.

The warehouse is built in a temp file beside the target and moved into place with
``os.replace`` only once every table is written and checkpointed, so a failed or interrupted
generation never leaves a half-written warehouse (the previous one, if any, stays intact).
Usage events stream in as Arrow chunks, so 50M rows never sit in memory at once.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from churnml import demo_data

USAGE_EVENTS_DDL = """
CREATE TABLE usage_events (
    account_id VARCHAR NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    event_type VARCHAR NOT NULL,
    user_id VARCHAR,
    quantity DOUBLE
)
"""
SMALL_TABLES = ("accounts", "subscriptions", "support_tickets", "nps_responses", "cs_activities")
LATENT_TABLE = "demo_latent_truth"
PLAY_TRUTH_TABLE = "demo_play_truth"


def write_demo_warehouse(
    path: str | Path,
    n_accounts: int,
    months: int,
    seed: int,
    end: date = demo_data.DEFAULT_END,
    *,
    events_per_user_day: float = demo_data.DEFAULT_EVENTS_PER_USER_DAY,
    tickets_per_account_month: float = demo_data.DEFAULT_TICKETS_PER_ACCOUNT_MONTH,
    threads: int = 2,
    memory_limit: str = "3GB",
) -> dict[str, int]:
    """Generate the demo into ``path`` (replacing it); returns row counts per table.

    Tables: the six contract tables plus ``demo_latent_truth`` (hidden drivers, for checking
    explanations against causes; never a feature source) and ``demo_play_truth`` (the CS
    team's flagged accounts, for checking the plays measurement).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.building")
    tmp_wal = tmp.with_name(tmp.name + ".wal")
    for leftover in (tmp, tmp_wal):
        leftover.unlink(missing_ok=True)
    try:
        tables = demo_data.generate_accounts_and_contracts(
            n_accounts, months, seed, end, tickets_per_account_month
        )
        con = duckdb.connect(str(tmp), config={"threads": threads, "memory_limit": memory_limit})
        try:
            for name in SMALL_TABLES:
                _create_from_frame(con, name, tables[name])
            _create_from_frame(con, LATENT_TABLE, tables["latent"])
            _create_from_frame(con, PLAY_TRUTH_TABLE, tables["demo_play_truth"])
            con.execute(USAGE_EVENTS_DDL)
            for batch in demo_data.usage_event_batches(
                tables, months, seed, end, events_per_user_day=events_per_user_day
            ):
                con.register("usage_batch", batch)
                con.execute("INSERT INTO usage_events SELECT * FROM usage_batch")
                con.unregister("usage_batch")
            counts = {
                name: con.execute(f'SELECT count(*)::BIGINT FROM "{name}"').fetchall()[0][0]
                for name in (*SMALL_TABLES, "usage_events", LATENT_TABLE, PLAY_TRUTH_TABLE)
            }
            con.execute("CHECKPOINT")
        finally:
            con.close()
        if tmp_wal.exists():
            raise RuntimeError(f"DuckDB left a write-ahead log beside {tmp}; not replacing")
        # A stale WAL of the old file would be replayed onto the new one: drop it first.
        path.with_name(path.name + ".wal").unlink(missing_ok=True)
        os.replace(tmp, path)
        return counts
    finally:
        for leftover in (tmp, tmp_wal):
            leftover.unlink(missing_ok=True)


def _create_from_frame(con: duckdb.DuckDBPyConnection, name: str, frame: pd.DataFrame) -> None:
    """One table from a small frame; pandas str/datetime64[us] map to VARCHAR/TIMESTAMP."""
    con.register("frame_to_write", frame)
    try:
        con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM frame_to_write')
    finally:
        con.unregister("frame_to_write")
