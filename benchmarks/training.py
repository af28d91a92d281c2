"""Training benchmark: `churnml train`'s work after the matrix, for both targets, step by step.

    python benchmarks/training.py [--accounts 100000] [--months 13] [--snapshots 12] [--threads N]

Builds (or reuses, under bench-data/) the feature benchmark's demo warehouse, builds the
matrix once (timed, but not part of the training figure), then per target: the design matrix
and its one binned LightGBM Dataset, the judged recipe's time-ordered folds and cross-fitted
calibration, the judged fit, the shuffled-label check, the registered recipe's folds, the refit
on every labelled snapshot, the drift reference, the logistic baseline, and the gate (top
feature share, the champion comparison on unseen snapshots, the decision). The rolling backtest
is the registered recipe's folds: nothing is refitted for it or for the gate.

Target on a 2-core machine: <= 5 min at 100k accounts (630k account-snapshots), and a
shuffled-label AUC of ~0.5 for both targets.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
sys.path.insert(0, str(Path(__file__).parent))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=13)
    parser.add_argument("--snapshots", type=int, default=12)
    parser.add_argument("--events-per-user-day", type=float, default=0.12)
    parser.add_argument("--tickets-per-account-month", type=float, default=1.15)
    parser.add_argument(
        "--threads", type=int, default=None, help="LightGBM threads (default: training.num_threads)"
    )
    args = parser.parse_args()

    from churnml.gate import decide
    from churnml.io.warehouse_writer import write_demo_warehouse
    from churnml.train import (
        champion_comparison,
        single_feature_auc,
        top_feature_share,
        train_target,
    )
    from features import engine_matrix  # the feature benchmark's matrix step

    data = Path("bench-data").resolve()
    data.mkdir(exist_ok=True)
    warehouse = data / (
        f"features-{args.accounts}-{args.months}-{args.events_per_user_day}"
        f"-{args.tickets_per_account_month}.duckdb"
    )
    if not warehouse.exists():
        print(f"building {warehouse} ...", flush=True)
        write_demo_warehouse(
            warehouse,
            args.accounts,
            args.months,
            31,
            events_per_user_day=args.events_per_user_day,
            tickets_per_account_month=args.tickets_per_account_month,
        )
    start = time.perf_counter()
    frame, spec, _, _, cfg = engine_matrix(warehouse, args.snapshots)
    if args.threads is not None:
        training = cfg.training.model_copy(update={"num_threads": args.threads})
        cfg = cfg.model_copy(update={"training": training})
    print(
        f"matrix: {len(frame):,} account-snapshots, {frame.shape[1]} columns, "
        f"{frame.account_id.nunique():,} accounts in {time.perf_counter() - start:.1f} s "
        "(not counted below)",
        flush=True,
    )
    total = 0.0
    for target in ("churn", "upsell"):
        timings: dict[str, float] = {}
        result = train_target(frame, target, spec.to_dict(), cfg, timings)
        t = time.perf_counter()
        name, share = top_feature_share(result.bundle)
        alone = single_feature_auc(result.split, name, f"{target}_label")
        # a stand-in champion trained a snapshot before the newest test snapshot
        champion = result.judged
        champion.trained_through = f"{result.split.test.as_of.min():%Y-%m-%d}"
        challenger, incumbent, span = champion_comparison(
            result, champion, cfg.outreach.capacity_top_k
        )
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
        seconds = sum(timings.values())
        total += seconds
        m = result.metrics
        print(f"\n{target}: {seconds:.1f} s")
        for step, s in timings.items():
            print(f"  {step:<44} {s:7.1f} s")
        print(
            f"  test ROC AUC {m['roc_auc']:.3f} (logistic {result.baseline_metrics['roc_auc']:.3f}), "
            f"PR AUC {m['pr_auc']:.3f}, lift {m['top_decile_lift']:.2f}, Brier {m['brier']:.4f}; "
            f"trees judged {m['judged_trees']:.0f}, registered {m['registered_trees']:.0f}; "
            f"shuffled-label AUC {result.shuffled_auc:.3f} (+/- {result.shuffled_auc_se:.3f} "
            f"over {result.shuffled_draws} draws); top feature {name} {share:.0%} "
            f"of the gain, alone AUC {alone:.3f}"
        )
        print(f"  gate (stand-in champion): {decision.as_text()}", flush=True)
    print(f"\ntraining, both targets, matrix excluded: {total:.1f} s (target <= 300 s at 100k)")


if __name__ == "__main__":
    main()
