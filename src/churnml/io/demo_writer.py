"""Write the demo dataset into a DuckDB warehouse, atomically.

Tables are built in a temp file beside the target and moved into place at the end, so a failed
or interrupted generation never leaves a half-written warehouse behind. Tables other than the
demo's (scored accounts from earlier runs) are carried over.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from churnml.demo import (
    DemoShape,
    generate_accounts,
    generate_tickets_and_nps,
    iter_usage_events,
    simulate_subscriptions,
)

DEMO_TABLES = (
    "accounts",
    "subscriptions",
    "usage_events",
    "support_tickets",
    "nps_responses",
    "demo_latent_truth",
)


def write_demo_warehouse(path: str | Path, shape: DemoShape) -> dict[str, int]:
    """Generate the demo into `path`; returns row counts per table."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.building")
    for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
        leftover.unlink(missing_ok=True)
    try:
        accounts, latent = generate_accounts(shape)
        subs = simulate_subscriptions(accounts, latent, shape)
        current = subs.sort_values("start_at").groupby("account_id").plan.last()
        accounts["plan"] = accounts.account_id.map(current).fillna("starter").astype("str")
        tickets, nps = generate_tickets_and_nps(accounts, latent, subs, shape)
        con = duckdb.connect(str(tmp))
        try:
            for name, frame in (
                ("accounts", accounts),
                ("subscriptions", subs),
                ("support_tickets", tickets),
                ("nps_responses", nps),
                ("demo_latent_truth", latent),
            ):
                con.register("__frame", frame)
                con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM __frame')
                con.unregister("__frame")
            first = True
            for chunk in iter_usage_events(accounts, latent, subs, shape):
                con.register("__frame", chunk)
                if first:
                    con.execute('CREATE TABLE "usage_events" AS SELECT * FROM __frame')
                    first = False
                else:
                    con.execute('INSERT INTO "usage_events" SELECT * FROM __frame')
                con.unregister("__frame")
            if path.exists():
                _carry_over(con, path)
            counts = {
                t: con.execute(f'SELECT count(*) FROM "{t}"').fetchall()[0][0] for t in DEMO_TABLES
            }
            con.execute("CHECKPOINT")
        finally:
            con.close()
        os.replace(tmp, path)
        return counts
    finally:
        tmp.unlink(missing_ok=True)


def _carry_over(con: duckdb.DuckDBPyConnection, previous: Path) -> None:
    """Keep tables that are not part of the demo (e.g. scored_accounts) from the old warehouse."""
    con.execute(f"ATTACH '{previous.as_posix()}' AS previous (READ_ONLY)")
    try:
        names = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = 'previous'"
            ).fetchall()
        ]
        for name in names:
            if name not in DEMO_TABLES:
                con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM previous."{name}"')
    finally:
        con.execute("DETACH previous")
