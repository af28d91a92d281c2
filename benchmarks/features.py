"""Feature benchmark: the full feature and label matrix at 100k accounts and ~50M usage events.

    python benchmarks/features.py [--accounts 100000] [--months 13] [--snapshots 12]
                                  [--pandas-share 0.2] [--quick]

Builds (and caches under bench-data/) a demo warehouse, then measures in this one process:

1. the training matrix (features + labels, 12 monthly snapshots) through the code path the
   training flow uses (mapping, materialise, ibis on DuckDB), with wall time and peak RSS;
2. the same matrix on samples of the usage log (20%, 50%, 100% of the events) to show how time
   grows with events;
3. the plain pandas reference (tests/pandas_reference.py) and the engine on the same sample
   (`--pandas-share` of the events, all accounts, tickets and snapshots), with the speed ratio.

Targets on a 2-core machine: <= 60 s and <= 6 GB for the full matrix; >= 5x faster than pandas.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from warehouses import add_size_arguments, feature_warehouse

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


class PeakRss:
    """Samples this process's resident memory (DuckDB runs in-process) every 20 ms."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def current() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.current())
            time.sleep(0.02)

    def __enter__(self) -> PeakRss:
        self.peak = self.current()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


@contextmanager
def measured(label: str, results: dict):
    with PeakRss() as rss:
        start = time.perf_counter()
        yield
        seconds = time.perf_counter() - start
    results[label] = (seconds, rss.peak / 1024**3)
    print(f"  {label:<46} {seconds:8.2f} s   peak RSS {rss.peak / 1024**3:5.2f} GB", flush=True)


def sample_events(warehouse: Path, share: float) -> Path:
    """A copy of the warehouse keeping `share` of the usage events (by a stable hash)."""
    import duckdb

    if share >= 1.0:
        return warehouse
    target = warehouse.with_name(f"{warehouse.stem}-events{int(share * 100)}.duckdb")
    if target.exists():
        return target
    tmp = target.with_name(f".{target.name}.building")
    tmp.unlink(missing_ok=True)
    con = duckdb.connect(str(tmp))
    con.execute(f"ATTACH '{warehouse}' AS src (READ_ONLY)")
    for (name,) in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = 'src'"
    ).fetchall():
        where = (
            f"WHERE hash(user_id, occurred_at, event_type) % 1000 < {int(share * 1000)}"
            if name == "usage_events"
            else ""
        )
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM src.{name} {where}")
    con.close()
    tmp.rename(target)
    return target


def engine_matrix(warehouse: Path, snapshots: int):
    """The training flow's matrix step, outside Prefect: map, validate-free load, ibis, pandas."""
    from churnml.config import default_config
    from churnml.features import derive_spec
    from churnml.io.frames import to_pandas
    from churnml.io.sources import connect_warehouse, load_sources, materialize
    from churnml.matrix import feature_matrix, observed_until
    from churnml.snapshots import snapshot_grid

    cfg = default_config(warehouse.parent)
    cfg = cfg.model_copy(
        update={"warehouse": cfg.warehouse.model_copy(update={"path": str(warehouse)})}
    )
    con = connect_warehouse(cfg, read_only=True)
    tables = materialize(con, load_sources(con, cfg))
    end = observed_until(tables)
    grid = snapshot_grid(end.date(), snapshots, "monthly")
    spec = derive_spec(tables, cfg)
    frame = to_pandas(feature_matrix(tables, grid, spec, cfg.labels, end))
    con.disconnect()
    return frame, spec, grid, end, cfg


def reference_matrix(warehouse: Path, spec, grid, end, cfg):
    import duckdb

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    import pandas_reference  # beside the parity tests it serves; not part of the package

    con = duckdb.connect(str(warehouse), read_only=True)
    names = ["accounts", "subscriptions", "usage_events", "support_tickets", "nps_responses"]
    frames = {n: con.execute(f"SELECT * FROM {n}").df() for n in names}
    con.close()
    return pandas_reference.feature_matrix(frames, grid, spec, cfg.labels, end)


def counts(warehouse: Path) -> dict[str, int]:
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    out = {
        t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
        for t in ("accounts", "usage_events", "support_tickets", "subscriptions")
    }
    con.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    add_size_arguments(parser)
    parser.add_argument(
        "--pandas-share", type=float, default=0.2, help="share of events for the pandas run"
    )
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument("--quick", action="store_true", help="5k accounts: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.accounts = 5000

    warehouse = feature_warehouse(args)
    n = counts(warehouse)
    print(
        f"warehouse: {n['accounts']:,} accounts, {n['usage_events']:,} usage events, "
        f"{n['support_tickets']:,} tickets, {n['subscriptions']:,} subscriptions; "
        f"{args.snapshots} monthly snapshots",
        flush=True,
    )
    results: dict[str, tuple[float, float]] = {}
    print("engine (ibis on DuckDB), full matrix:", flush=True)
    with measured("features + labels, all events", results):
        frame, _, _, _, _ = engine_matrix(warehouse, args.snapshots)
    scaling = growth_with_events(warehouse, args.snapshots, results)
    scaling.append((n["usage_events"], results["features + labels, all events"][0]))
    ratio_line = "pandas reference skipped"
    if not args.skip_pandas:
        ratio_line = pandas_versus_engine(warehouse, args.snapshots, args.pandas_share, results)

    seconds, peak = results["features + labels, all events"]
    print()
    print(f"matrix rows (account x snapshot) : {len(frame):,}, {frame.shape[1]} columns")
    print(f"full matrix                      : {seconds:.1f} s (target <= 60 s)")
    print(f"peak RSS                         : {peak:.2f} GB (target <= 6 GB)")
    print(ratio_line)
    print_scaling(scaling)


def growth_with_events(warehouse: Path, snapshots: int, results: dict) -> list[tuple[int, float]]:
    """(events, seconds) of the matrix on 20% and 50% of the usage log."""
    print("growth with events (same accounts, tickets, snapshots):", flush=True)
    scaling = []
    for share in (0.2, 0.5):
        sample = sample_events(warehouse, share)
        events = counts(sample)["usage_events"]
        label = f"features + labels, {share:.0%} of events"
        with measured(label, results):
            engine_matrix(sample, snapshots)
        scaling.append((events, results[label][0]))
    return scaling


def pandas_versus_engine(warehouse: Path, snapshots: int, share: float, results: dict) -> str:
    """The pandas reference and the engine on the same sample of events: the speed ratio."""
    print(f"pandas reference vs engine on {share:.0%} of the events:", flush=True)
    sample = sample_events(warehouse, share)
    with measured("engine on the sample", results):
        engine_frame, spec, grid, end, cfg = engine_matrix(sample, snapshots)
    with measured("pandas reference on the sample", results):
        plain = reference_matrix(sample, spec, grid, end, cfg)
    assert len(plain) == len(engine_frame), (len(plain), len(engine_frame))
    speedup = results["pandas reference on the sample"][0] / results["engine on the sample"][0]
    return (
        f"engine vs pandas on {counts(sample)['usage_events']:,} events: {speedup:.1f}x faster "
        f"(target >= 5x)"
    )


def print_scaling(scaling: list[tuple[int, float]]) -> None:
    print(
        "time by events                   : "
        + ", ".join(f"{e / 1e6:.1f}M -> {s:.1f} s" for e, s in scaling)
    )
    slopes = [
        (s2 - s1) / ((e2 - e1) / 1e6)
        for (e1, s1), (e2, s2) in zip(scaling[:-1], scaling[1:], strict=True)
        if e2 > e1
    ]
    if slopes:
        print(
            "extra seconds per extra M events : "
            + ", ".join(f"{x:.2f}" for x in slopes)
            + " (the rest is per account and snapshot, whatever the events)"
        )


if __name__ == "__main__":
    main()
