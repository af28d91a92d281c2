"""The training section of the configs that flow, API and CLI tests write.

These tests run the whole pipeline but do not judge the model's recipe: one LightGBM thread,
one backtest fold (the gate and the AUC bounds judge the test, not how many rolling folds are
reported beside it) and the configured parameter set only (the candidate choice, which refits
every fold per candidate, is tests/test_train.py's).
"""

from __future__ import annotations


def flow_training(n_estimators: int, min_auc: float, **more) -> dict:
    """`training:` for a flow test: `n_estimators` trees at most, the gate's `min_auc`."""
    return {
        "n_estimators": n_estimators,
        "min_auc": min_auc,
        "num_threads": 1,
        "backtest_folds": 1,
        "candidate_max_rows": 0,
    } | more
