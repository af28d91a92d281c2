"""Calibration benchmark: churnml's QuantileCalibrator beside scikit-learn's
``CalibratedClassifierCV`` on the frozen booster, on the demo backtest's test snapshots.

    python benchmarks/calibration.py [--accounts 1500] [--seed 7] [--months 24]

Both start from the same judged model (trained on the fit snapshots, never the test) and the
same out-of-fold snapshots; they differ in what the curve is fitted on:

- churnml: each fold model's out-of-fold scores, as ranks among that fold model's own training
  scores, mapped back through the judged model's ranks (``train.choose_recipe``/``fit_model``);
- scikit-learn: ``CalibratedClassifierCV(FrozenEstimator(judged booster), method=...)`` fitted
  on the judged model's own scores of those out-of-fold rows (the only rows it can use without
  touching the test: the judged model trained on them), with the method churnml chose
  ("sigmoid" for Platt, "isotonic"); and the same on the last fold model's raw scores of its
  validation snapshot (a frozen model that did not see its calibration rows).

Prints Brier score and log-loss on the test snapshots per target (lower is better).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
sys.path.insert(0, str(Path(__file__).parent))


def booster_classifier(booster, trees: int):
    """A fitted LightGBM booster in scikit-learn's classifier shape (for FrozenEstimator)."""
    from sklearn.base import BaseEstimator, ClassifierMixin

    class BoosterClassifier(ClassifierMixin, BaseEstimator):
        def __init__(self, booster=None, trees: int = 0) -> None:
            self.booster = booster
            self.trees = trees

        def fit(self, X=None, y=None):
            self.classes_ = np.array([0, 1])
            return self

        def predict_proba(self, X):
            p = self.booster.predict(X, num_iteration=self.trees)
            return np.column_stack([1 - p, p])

        def predict(self, X):
            return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    return BoosterClassifier(booster, trees).fit()


def sklearn_calibrated(booster, trees, X_cal, y_cal, X_test, method: str) -> np.ndarray:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator

    model = CalibratedClassifierCV(
        FrozenEstimator(booster_classifier(booster, trees)), method=method
    ).fit(X_cal, y_cal)
    return model.predict_proba(X_test)[:, 1]


def measure(frame, spec, cfg, target: str) -> list[dict]:
    from sklearn.metrics import brier_score_loss, log_loss

    from churnml import train

    label = f"{target}_label"
    horizon = cfg.labels.churn_horizon_days if target == "churn" else cfg.labels.upsell_horizon_days
    split = train.backtest_split(frame, label, horizon, cfg.training.validation_snapshots)
    features, categorical = train.model_features(frame)
    params = cfg.training
    data = train.labelled_data(frame, target, features, categorical, spec, params)
    pool = data.positions(split.fit.as_of.unique())
    folds = train.time_folds(data, data.as_of[pool].max(), horizon, params.backtest_folds)
    recipe = train.choose_recipe(data, folds, params)
    judged = train.fit_model(data, pool, recipe, params)
    test = data.positions(split.test.as_of.unique())
    y_test = data.y[test]
    oof = recipe.oof.position.to_numpy()
    method = "isotonic" if recipe.calibration_method == "isotonic" else "sigmoid"
    booster, trees = judged.booster, judged.booster.num_trees()
    last = folds[-1]
    fold_booster, _ = train.boost(data, last.train, params, recipe.trees)
    candidates = {
        f"churnml QuantileCalibrator ({recipe.calibration_method})": train.calibrated(
            judged, data, test
        ),
        f"sklearn {method}, frozen judged model, out-of-fold rows": sklearn_calibrated(
            booster, trees, data.matrix[oof], data.y[oof], data.matrix[test], method
        ),
        f"sklearn {method}, frozen last fold model, its validation rows": sklearn_calibrated(
            fold_booster,
            fold_booster.num_trees(),
            data.matrix[last.valid],
            data.y[last.valid],
            data.matrix[test],
            method,
        ),
    }
    rows = []
    for name, p in candidates.items():
        p = np.clip(p, 1e-6, 1 - 1e-6)
        rows.append(
            {
                "target": target,
                "calibration": name,
                "brier": brier_score_loss(y_test, p),
                "log_loss": log_loss(y_test, p),
                "mean_p": float(p.mean()),
                "rate": float(y_test.mean()),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    from quality import Dataset, feature_frame

    cache = Path("bench-data").resolve()
    cache.mkdir(exist_ok=True)
    dataset = Dataset("demo", accounts=args.accounts, seed=args.seed, months=args.months)
    cfg = dataset.config(cache, args.threads)
    frame, spec = feature_frame(cfg)
    print("| target | calibration | Brier | log-loss | mean p | observed rate |")
    print("|---|---|---|---|---|---|")
    for target in ("churn", "upsell"):
        for r in measure(frame, spec, cfg, target):
            print(
                f"| {r['target']} | {r['calibration']} | {r['brier']:.5f} | {r['log_loss']:.5f}"
                f" | {r['mean_p']:.4f} | {r['rate']:.4f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
