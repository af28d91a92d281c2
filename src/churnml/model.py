"""The model bundle: booster, calibrator, feature schema and category levels travel together.

A scoring run must see exactly the columns and category levels the model was trained with;
bundling them (instead of trusting the caller) is what makes `@champion` safe to load.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd


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
        return self.booster.predict(self.design_matrix(frame))

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of the target event within the horizon."""
        return np.clip(self.calibrator.predict(self.predict_raw(frame)), 0.0, 1.0)

    def contributions(self, frame: pd.DataFrame, threads: int = 1) -> np.ndarray:
        """Exact TreeSHAP values in log-odds (n, p), the same as LightGBM's pred_contrib."""
        from churnml.treeshap import shap_values

        return shap_values(self.booster, self.design_matrix(frame), threads)


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

    def fit(self, raw: np.ndarray, y: np.ndarray) -> PlattCalibrator:
        from sklearn.linear_model import LogisticRegression

        z = _logit(raw).reshape(-1, 1)
        lr = LogisticRegression(C=self.c).fit(z, y)
        self.slope = float(lr.coef_[0, 0])
        self.intercept = float(lr.intercept_[0])
        return self

    def predict(self, raw: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(self.slope * _logit(raw) + self.intercept)))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))
