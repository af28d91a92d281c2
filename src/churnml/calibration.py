"""Calibration of raw LightGBM scores into probabilities, fitted on out-of-fold predictions.

One calibration snapshot holds a few dozen positives on a small book of accounts: an isotonic
curve fitted on it is a staircase of noise, and a snapshot without a positive cannot be fitted
at all. The training recipe therefore pools the predictions each time-ordered fold made on a
snapshot it never saw, and picks the method by how many positives that pool holds.
"""

from __future__ import annotations

import numpy as np
from sklearn.isotonic import IsotonicRegression

from churnml.model import PlattCalibrator

MIN_ISOTONIC_POSITIVES = 500  # below this an isotonic step function follows noise
MIN_CALIBRATION_POSITIVES = 10  # below this a free two-parameter curve is a guess: shrink it
SHRUNK_PLATT_C = 1.0  # L2 strength pulling a curve fitted on few outcomes towards the base rate


class CalibrationError(ValueError):
    """No outcome of one kind at all: no calibration curve can be fitted."""


def calibration_method(positives: int, negatives: int) -> str:
    """ "isotonic" with many positives, "platt" (sigmoid on the log-odds) with fewer, and
    "platt-shrunk" (the same, regularised towards the base rate) with fewer than 10: a small
    book of accounts still gets probabilities that are honest about how little was seen."""
    fewest = min(positives, negatives)
    if fewest == 0:
        raise CalibrationError(
            f"{positives} positive and {negatives} negative out-of-fold outcomes; "
            "calibration needs at least one of each"
        )
    if fewest >= MIN_ISOTONIC_POSITIVES:
        return "isotonic"
    return "platt" if fewest >= MIN_CALIBRATION_POSITIVES else "platt-shrunk"


def calibration_targets(y: np.ndarray) -> np.ndarray:
    """Platt's targets for outcomes: (N+ + 1) / (N+ + 2) for a positive, 1 / (N- + 2) for a
    negative, where N+ and N- count them (Platt 1999, "Probabilistic outputs for support vector
    machines", section 2.2: the posterior of a binomial under a uniform prior, out of sample).

    Fitted on 0 and 1, a curve over scores that separate the outcomes (few positives, a small
    book of accounts) runs to a probability of exactly 0 or 1: certainty no finite sample gives.
    Fitted on these, every probability stays inside [1 / (N- + 2), (N+ + 1) / (N+ + 2)], strictly
    inside (0, 1): an isotonic curve averages targets, and a Platt sigmoid (which a steep slope
    would still carry past them) is held to them. Even a group of scores where every outcome
    was positive is then given the rule of succession's (N+ + 1) / (N+ + 2), not 1. With
    thousands of outcomes the targets are the outcomes to three decimals."""
    y = np.asarray(y, dtype=int)
    positives, negatives = int(y.sum()), int(len(y) - y.sum())
    return np.where(y == 1, (positives + 1) / (positives + 2), 1.0 / (negatives + 2))


def fit_calibrator(raw: np.ndarray, y: np.ndarray) -> tuple[object, str]:
    """A calibrator (``.predict(raw) -> probability``) and the name of its method, fitted on
    :func:`calibration_targets`, so that no probability is exactly 0 or 1."""
    y = np.asarray(y, dtype=int)
    raw = np.asarray(raw, dtype=float)
    method = calibration_method(int(y.sum()), int(len(y) - y.sum()))
    targets = calibration_targets(y)
    if method == "isotonic":
        curve = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
        return curve.fit(raw, targets), method
    if method == "platt-shrunk":
        return PlattCalibrator(c=SHRUNK_PLATT_C).fit(raw, targets), method
    return PlattCalibrator().fit(raw, targets), method


REFERENCE_POINTS = 2001


def score_reference(training_scores: np.ndarray) -> np.ndarray:
    """Quantiles of a model's own scores on its training rows: where a new score ranks."""
    return np.quantile(
        np.asarray(training_scores, dtype=float), np.linspace(0, 1, REFERENCE_POINTS)
    )


def score_quantile(reference: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """Share of the reference below each score (ties count half), kept inside (0, 1)."""
    raw = np.asarray(raw, dtype=float)
    below = np.searchsorted(reference, raw, side="left")
    upto = np.searchsorted(reference, raw, side="right")
    n = len(reference)
    return np.clip((below + upto) / (2.0 * n), 0.5 / n, 1 - 0.5 / n)


class QuantileCalibrator:
    """Probability from where a raw score ranks among the model's own training scores.

    Fold models learn from fewer snapshots than the model they calibrate, so their raw scores
    are less spread: a curve fitted on fold raw scores overstates the refitted model's top
    scores (the demo's upsell: 0.49 predicted, 0.19 observed). Ranks mean the same for both.

    Kept instead of scikit-learn's ``CalibratedClassifierCV(FrozenEstimator(booster))``, which
    measured worse on the demo backtest (`benchmarks/calibration.py`, 1,500 accounts, seed 7,
    test snapshots; Brier / log-loss, lower is better): churn 0.0629 / 0.233 here against
    0.0665 / 0.268 (sigmoid on the frozen judged model's out-of-fold rows, which it trained on)
    and 0.0656 / 0.245 (sigmoid on the last fold model's own validation rows); upsell 0.0841 /
    0.301 against 0.0899 / 0.317 and 0.0845 / 0.304. A frozen model can only be calibrated on
    rows it saw or on another model's scores; ranks carry over between the fold models and the
    refitted one.
    """

    def __init__(self, reference: np.ndarray, curve: object, method: str) -> None:
        self.reference = reference
        self.curve = curve
        self.method = method

    def predict(self, raw: np.ndarray) -> np.ndarray:
        return self.curve.predict(score_quantile(self.reference, raw))
