"""Demo warehouses the benchmarks share, built once under bench-data/ and reused by later runs.

The feature and training benchmarks read the same warehouse (same sizes, seed 31), so a
training run after a feature run does not generate 50M events again.
"""

from __future__ import annotations

import argparse
from pathlib import Path

BENCH_DATA = Path("bench-data")
FEATURE_SEED = 31


def add_size_arguments(parser: argparse.ArgumentParser) -> None:
    """The warehouse and matrix sizes of the feature and training benchmarks."""
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=13)
    parser.add_argument("--snapshots", type=int, default=12)
    parser.add_argument("--events-per-user-day", type=float, default=0.12)
    parser.add_argument("--tickets-per-account-month", type=float, default=1.15)


def cached_warehouse(file_name: str, accounts: int, months: int, seed: int, **rates) -> Path:
    """``bench-data/<file_name>``, generated with ``rates`` (events, tickets) unless present."""
    from churnml.io.warehouse_writer import write_demo_warehouse

    data = BENCH_DATA.resolve()
    data.mkdir(exist_ok=True)
    warehouse = data / file_name
    if not warehouse.exists():
        print(f"building {warehouse} ...", flush=True)
        write_demo_warehouse(warehouse, accounts, months, seed, **rates)
    return warehouse


def feature_warehouse(args: argparse.Namespace) -> Path:
    """The feature benchmark's warehouse for the sizes of ``add_size_arguments``."""
    return cached_warehouse(
        f"features-{args.accounts}-{args.months}-{args.events_per_user_day}"
        f"-{args.tickets_per_account_month}.duckdb",
        args.accounts,
        args.months,
        FEATURE_SEED,
        events_per_user_day=args.events_per_user_day,
        tickets_per_account_month=args.tickets_per_account_month,
    )
