"""The model bundle: booster, calibrator, feature schema and category levels travel together.

A scoring run must see exactly the columns and category levels the model was trained with;
bundling them (instead of trusting the caller) is what makes `@champion` safe to load.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd

from churnml.linear import blended_log_odds, sigmoid


@dataclass
class ModelBundle:
    """Everything needed to turn a feature frame into calibrated probabilities and drivers."""

    target: str  # "churn" or "upsell"
    booster: lgb.Booster
    calibrator: object  # has .predict(raw_probability) -> calibrated probability
    features: list[str]
    categories: dict[str, list[str]]
    spec: dict
    metrics: dict[str, float] = field(default_factory=dict)
    trained_through: str | None = None  # last as-of used in training
    drift_reference: dict | None = None  # churnml.drift.reference_profile of the training data
    # optional linear correction (churnml.linear.LinearPart), blended in log-odds with weight
    # `blend_weight`; bundles pickled before it existed read the class defaults: trees only
    linear: object | None = None
    blend_weight: float = 0.0

    @property
    def blended(self) -> bool:
        return self.linear is not None and self.blend_weight > 0

    def design_matrix(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The frame restricted to the model's features with its category levels re-applied."""
        missing = [c for c in self.features if c not in frame.columns]
        if missing:
            raise KeyError(f"feature frame lacks model features {missing[:10]}")
        X = frame[self.features].copy()
        for col, levels in self.categories.items():
            X[col] = pd.Categorical(X[col].astype("string").astype(object), categories=levels)
        for col in self.features:
            if col not in self.categories:
                X[col] = pd.to_numeric(X[col], errors="coerce").astype("float64")
        return X

    def predict_raw(self, frame: pd.DataFrame) -> np.ndarray:
        """The model's uncalibrated probability: the booster's, or the blend's."""
        X = self.design_matrix(frame)
        if not self.blended:
            return self.booster.predict(X)
        return self.score_matrix(lightgbm_matrix(X))

    def score_matrix(self, matrix: np.ndarray, num_iteration: int | None = None) -> np.ndarray:
        """predict_raw on the numeric matrix LightGBM reads (lightgbm_matrix of design_matrix)."""
        return blend_scores(self.booster, matrix, self.linear, self.blend_weight, num_iteration)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of the target event within the horizon."""
        return np.clip(self.calibrator.predict(self.predict_raw(frame)), 0.0, 1.0)

    def contributions(self, frame: pd.DataFrame, threads: int = 1) -> np.ndarray:
        """Exact contributions in log-odds (n, p): TreeSHAP values (LightGBM's pred_contrib),
        and for a blend (1 - w) * TreeSHAP + w * the linear part's exact contributions, so that
        base_value + their sum is the blend's log-odds."""
        from churnml.treeshap import shap_values

        X = self.design_matrix(frame)
        trees = shap_values(self.booster, X, threads)
        if not self.blended:
            return trees
        w = self.blend_weight
        return (1.0 - w) * trees + w * self.linear.contributions(lightgbm_matrix(X))  # type: ignore[union-attr]

    def base_value(self) -> float:
        """The log-odds that the contributions start from (TreeSHAP's expected value, blended)."""
        from churnml.treeshap import explainer

        trees = explainer(self.booster).expected_value
        if not self.blended:
            return trees
        w = self.blend_weight
        return (1.0 - w) * trees + w * self.linear.base_value  # type: ignore[union-attr]


def lightgbm_matrix(X: pd.DataFrame) -> np.ndarray:
    """The design matrix as the numbers LightGBM scores (categories as their codes, NaN
    missing), built once so that scoring rows is a row selection, not a pandas conversion."""
    columns = [
        np.where(X[c].cat.codes.to_numpy() < 0, np.nan, X[c].cat.codes.to_numpy())
        if isinstance(X[c].dtype, pd.CategoricalDtype)
        else X[c].to_numpy(dtype="float64")
        for c in X.columns
    ]
    return np.column_stack(columns).astype("float64") if columns else np.empty((len(X), 0))


def blend_scores(
    booster: lgb.Booster,
    matrix: np.ndarray,
    linear: object | None,
    weight: float,
    num_iteration: int | None = None,
) -> np.ndarray:
    """Probability of (1 - w) * the booster's log-odds + w * the linear part's; without a
    linear part (or w = 0) exactly the booster's probability."""
    if linear is None or weight <= 0:
        return booster.predict(matrix, num_iteration=num_iteration)
    z_trees = booster.predict(matrix, num_iteration=num_iteration, raw_score=True)
    return sigmoid(blended_log_odds(z_trees, linear.log_odds(matrix), weight))  # type: ignore[attr-defined]


def unknown_categories(bundle: ModelBundle, frame: pd.DataFrame) -> dict[str, list[str]]:
    """Category values in a scoring frame that the model never saw (they score as missing)."""
    out: dict[str, list[str]] = {}
    for col, levels in bundle.categories.items():
        if col not in frame.columns:
            continue
        seen = set(frame[col].dropna().astype(str).unique())
        new = sorted(seen - set(levels))
        if new:
            out[col] = new
    return out


class PlattCalibrator:
    """Logistic calibration on the log-odds of the raw probability, for small calibration sets."""

    def __init__(self, slope: float = 1.0, intercept: float = 0.0, c: float = 1e4) -> None:
        self.slope = slope
        self.intercept = intercept
        self.c = c  # inverse L2 strength; small values shrink the slope on few outcomes
        # the lowest and highest target fitted: a sigmoid steep enough to separate few outcomes
        # would otherwise run past them to 0 or 1 (churnml.calibration.calibration_targets)
        self.low, self.high = 0.0, 1.0

    def fit(self, raw: np.ndarray, y: np.ndarray) -> PlattCalibrator:
        """Fit on outcomes ``y`` in [0, 1]: 0/1 labels, or soft targets (each row then counts
        as a positive with weight y and a negative with weight 1 - y)."""
        from sklearn.linear_model import LogisticRegression

        z = _logit(raw).reshape(-1, 1)
        t = np.asarray(y, dtype=float)
        lr = LogisticRegression(C=self.c).fit(
            np.vstack([z, z]),
            np.concatenate([np.ones(len(t)), np.zeros(len(t))]),
            sample_weight=np.concatenate([t, 1.0 - t]),
        )
        self.slope = float(lr.coef_[0, 0])
        self.intercept = float(lr.intercept_[0])
        self.low, self.high = float(t.min()), float(t.max())
        if self.slope < 0:
            # held-out scores ranking backwards show no skill to calibrate: every account gets
            # the base rate rather than a curve that turns the model's ranking upside down
            self.slope = 0.0
            self.intercept = float(_logit(np.mean(t)))
        return self

    def predict(self, raw: np.ndarray) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-(self.slope * _logit(raw) + self.intercept)))
        # calibrators pickled before the bounds existed have none: as fitted, 0 to 1
        return np.clip(p, getattr(self, "low", 0.0), getattr(self, "high", 1.0))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))
