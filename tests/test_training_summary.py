"""The run summary `churnml train` prints: rolling backtest folds named so they can be told apart."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from churnml.config import default_config
from churnml.io.tracking import training_markdown

METRICS = {"roc_auc": 0.7, "pr_auc": 0.3, "brier": 0.1, "top_decile_lift": 2.0}


@pytest.mark.parametrize(
    ("frequency", "expected"),
    [
        ("weekly", "2025-12-08 0.700, 2025-12-15 0.800"),
        ("monthly", "2025-12 0.700, 2026-01 0.800"),
    ],
)
def test_rolling_folds_are_named_by_day_when_snapshots_are_weekly(frequency, expected):
    cfg = default_config()
    cfg = cfg.model_copy(
        update={"snapshots": cfg.snapshots.model_copy(update={"frequency": frequency})}
    )
    days = ["2025-12-08", "2025-12-15"] if frequency == "weekly" else ["2025-12-01", "2026-01-01"]
    folds = [
        {"test_as_of": pd.Timestamp(day), "roc_auc": auc}
        for day, auc in zip(days, (0.7, 0.8), strict=True)
    ]
    result = SimpleNamespace(
        metrics={**METRICS, "recall_at_capacity": 0.5},
        baseline_metrics=METRICS,
        split=SimpleNamespace(snapshot_spans=lambda: {"test": "2025-12-15..2025-12-22"}),
        tuning_trials=None,
    )
    summary = {
        "targets": {"churn": {"version": 1, "rolling_backtest": folds, "decision": "PROMOTE"}},
        "skipped": {},
    }
    text = training_markdown(summary, {"churn": result}, cfg)
    assert f"- rolling backtest ROC AUC: {expected}\n" in text
