"""A scoring write in its own process, so tests can kill it or run several at once.

    python fault_writer.py duckdb <warehouse> <as_of> <rows> [--p P] [--lock-timeout S] [--hold S]
    python fault_writer.py postgres <ENV_VAR_WITH_URL> <as_of> <rows> [--p P]

Every SQL statement sent to DuckDB is printed (``SQL ...`` before, ``DONE ...`` after), so a
test can tell exactly how far the write got before it killed the process.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

from churnml.config import SinkConfig, WarehouseConfig, default_config
from churnml.io.sinks import write_duckdb, write_postgres
from churnml.io.sources import connect_warehouse


def scored_run(as_of: str, rows: int, p: float) -> pd.DataFrame:
    """A scored frame shaped like the real one where it matters: one as_of, unique accounts."""
    return pd.DataFrame(
        {
            "account_id": [f"acc_{i:07d}" for i in range(rows)],
            "as_of": pd.Timestamp(as_of).as_unit("us"),
            "p_churn": p,
            "drivers_text": "Usage fell by half over 30 days; two urgent tickets are open. " * 3,
        }
    )


class TracingConnection:
    """A DuckDB connection that announces each statement on stdout before and after it runs."""

    def __init__(self, con) -> None:
        self._con = con

    def execute(self, sql: str, *args):
        statement = " ".join(sql.split())[:80]
        print(f"SQL {statement}", flush=True)
        result = self._con.execute(sql, *args)
        print(f"DONE {statement}", flush=True)
        return result

    def __getattr__(self, name):
        return getattr(self._con, name)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["duckdb", "postgres"])
    parser.add_argument("target")
    parser.add_argument("as_of")
    parser.add_argument("rows", type=int)
    parser.add_argument("--p", type=float, default=0.5)
    parser.add_argument("--lock-timeout", type=float, default=60.0)
    parser.add_argument("--hold", type=float, default=0.0)
    args = parser.parse_args(argv)
    frame = scored_run(args.as_of, args.rows, args.p)
    if args.kind == "postgres":
        write_postgres(frame, SinkConfig(kind="postgres", url_env=args.target))
        print("WRITTEN", flush=True)
        return 0
    path = Path(args.target)
    cfg = default_config(path.parent).model_copy(
        update={
            "warehouse": WarehouseConfig(
                path=str(path), lock_timeout_seconds=args.lock_timeout, memory_limit=None
            )
        }
    )
    con = connect_warehouse(cfg)
    print("OPENED", flush=True)
    write_duckdb(TracingConnection(con.con), frame, "scored_accounts")
    print("WRITTEN", flush=True)
    time.sleep(args.hold)
    con.disconnect()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
