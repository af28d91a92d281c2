"""Training benchmark: `churnml train`'s work after the matrix, for both targets, step by step.

    python benchmarks/training.py [--accounts 100000] [--months 13] [--snapshots 12] [--threads N]
                                  [--max-fit-rows N] [--learning-rate R] [--rebuild-matrix]

`--max-fit-rows` below a target's labelled rows makes a smaller warehouse train as large data
does (the row cap and the larger learning rate bind): quick to compare with and without.

Builds (or reuses, under bench-data/) the feature benchmark's demo warehouse, builds the
matrix once (timed, but not part of the training figure; cached beside the warehouse as
parquet so repeat runs skip it, `--rebuild-matrix` to rebuild), then per target: the design matrix
and its one binned LightGBM Dataset, the judged recipe's time-ordered folds and cross-fitted
calibration, the judged fit, the shuffled-label check, the registered recipe's folds, the refit
on every labelled snapshot, the drift reference, the logistic baseline, and the gate (top
feature share, the champion comparison on unseen snapshots, the decision). The rolling backtest
is the registered recipe's folds: nothing is refitted for it or for the gate.

Each step prints wall and CPU seconds (this process, all threads) and the run ends with the
load average: on a shared machine the wall time grows with the load, the CPU time does not.

Target on a 2-core machine: <= 5 min at 100k accounts (630k account-snapshots), and a
shuffled-label AUC of ~0.5 for both targets.
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import time
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
sys.path.insert(0, str(Path(__file__).parent))

from warehouses import add_size_arguments, feature_warehouse  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    add_size_arguments(parser)
    parser.add_argument(
        "--threads", type=int, default=None, help="LightGBM threads (default: training.num_threads)"
    )
    parser.add_argument(
        "--max-fit-rows",
        type=int,
        default=None,
        help="training.max_fit_rows for the run (0: no cap); a low cap emulates large data",
    )
    parser.add_argument("--learning-rate", type=float, default=None, help="training.learning_rate")
    parser.add_argument(
        "--rebuild-matrix", action="store_true", help="rebuild the cached matrix of the warehouse"
    )
    args = parser.parse_args()

    warehouse = feature_warehouse(args)
    start = time.perf_counter()
    frame, spec, cfg = cached_matrix(warehouse, args.snapshots, args.rebuild_matrix)
    update = {"num_threads": args.threads} if args.threads is not None else {}
    if args.max_fit_rows is not None:
        update["max_fit_rows"] = args.max_fit_rows or None
    if args.learning_rate is not None:
        update["learning_rate"] = args.learning_rate
    if update:
        training = cfg.training.model_copy(update=update)
        cfg = cfg.model_copy(update={"training": training})
    print(
        f"matrix: {len(frame):,} account-snapshots, {frame.shape[1]} columns, "
        f"{frame.account_id.nunique():,} accounts in {time.perf_counter() - start:.1f} s "
        "(not counted below)",
        flush=True,
    )
    cpu_start = time.process_time()
    total = sum(train_and_gate(frame, target, spec, cfg) for target in ("churn", "upsell"))
    cpu = time.process_time() - cpu_start
    print(
        f"\ntraining, both targets, matrix excluded: {total:.1f} s wall, {cpu:.1f} s CPU "
        f"on {cfg.training.num_threads} LightGBM threads (target <= 300 s at 100k); "
        f"load average {Path('/proc/loadavg').read_text().split()[:3]}"
    )


def cached_matrix(warehouse: Path, snapshots: int, rebuild: bool):
    """The feature benchmark's matrix of `warehouse` (frame, spec, config), cached beside it."""
    from features import engine_matrix  # the feature benchmark's matrix step

    base = f"{warehouse.stem}-matrix-{snapshots}"
    parquet, meta = warehouse.with_name(f"{base}.parquet"), warehouse.with_name(f"{base}.pickle")
    if parquet.exists() and meta.exists() and not rebuild:
        import pandas as pd

        from churnml.config import default_config

        # the config is rebuilt as engine_matrix builds it, never unpickled: it may have changed
        cfg = default_config(warehouse.parent)
        cfg = cfg.model_copy(
            update={"warehouse": cfg.warehouse.model_copy(update={"path": str(warehouse)})}
        )
        return pd.read_parquet(parquet), pickle.loads(meta.read_bytes()), cfg
    frame, spec, _, _, cfg = engine_matrix(warehouse, snapshots)
    frame.to_parquet(parquet)
    meta.write_bytes(pickle.dumps(spec))
    return frame, spec, cfg


def train_and_gate(frame, target: str, spec, cfg) -> float:
    """One target's training steps and gate, timed and printed; returns their seconds."""
    from churnml.gate import decide
    from churnml.train import (
        champion_comparison,
        single_feature_auc,
        top_feature_share,
        train_target,
    )

    timings: dict[str, float] = {}
    cpu: dict[str, float] = {}
    result = train_target(frame, target, spec.to_dict(), cfg, timings, cpu)
    t, t_cpu = time.perf_counter(), time.process_time()
    name, share = top_feature_share(result.bundle)
    alone = single_feature_auc(result.split, name, f"{target}_label")
    # a stand-in champion trained a snapshot before the newest test snapshot
    champion = result.judged
    champion.trained_through = f"{result.split.test.as_of.min():%Y-%m-%d}"
    challenger, incumbent, span = champion_comparison(result, champion, cfg.outreach.capacity_top_k)
    decision = decide(
        result.metrics["roc_auc"],
        incumbent,
        cfg.training.min_auc,
        share,
        result.shuffled_auc,
        challenger_vs_champion=challenger,
        compared_on=span,
        top_feature=name,
        top_feature_auc=alone,
    )
    timings["gate"] = time.perf_counter() - t
    cpu["gate"] = time.process_time() - t_cpu
    seconds = sum(timings.values())
    m = result.metrics
    print(f"\n{target}: {seconds:.1f} s wall, {sum(cpu.values()):.1f} s CPU")
    for step, s in timings.items():
        print(f"  {step:<44} {s:7.1f} s wall {cpu.get(step, 0.0):7.1f} s CPU")
    print(
        f"  test ROC AUC {m['roc_auc']:.3f} (logistic {result.baseline_metrics['roc_auc']:.3f}), "
        f"PR AUC {m['pr_auc']:.3f}, lift {m['top_decile_lift']:.2f}, Brier {m['brier']:.4f}; "
        f"trees judged {m['judged_trees']:.0f}, registered {m['registered_trees']:.0f} "
        f"at learning rate {result.params.learning_rate:g}, fold AUC {m['fold_auc']:.3f}; "
        f"linear blend weight judged {m['judged_blend_weight']:g}, "
        f"registered {m['blend_weight']:g}; "
        f"shuffled-label AUC {result.shuffled_auc:.3f} (+/- {result.shuffled_auc_se:.3f} "
        f"over {result.shuffled_draws} draws); top feature {name} {share:.0%} "
        f"of the gain, alone AUC {alone:.3f}"
    )
    print(f"  gate (stand-in champion): {decision.as_text()}", flush=True)
    return seconds


if __name__ == "__main__":
    main()
