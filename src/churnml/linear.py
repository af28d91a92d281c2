"""The linear part of a blended model: a regularised logistic regression on the LightGBM rows.

The signal in many churn data sets is close to linear in the usage features: a logistic
regression captures it directly where trees approximate it in steps. The trained model blends
the two in log-odds (churnml.train chooses the weight over the time-ordered folds); this module
fits and applies the linear part on the numeric design matrix LightGBM reads (categories as
their integer codes, NaN missing), so that scoring and explaining need no second frame.

Only numpy at scoring time: a registered bundle carries this module and loads without churnml.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LINEAR_C = 0.1  # inverse L2 strength, as the logistic baseline
LINEAR_MAX_ITER = 2000
MISSING_CODE = -1.0  # a category code standing for "missing" (its own one-hot level)


@dataclass
class LinearPart:
    """Median imputation and standardisation of numeric columns, one-hot categorical codes and
    the fitted coefficients; `owner` maps each design column to its model feature."""

    n_features: int
    numeric: np.ndarray  # model column indices of the numeric features
    medians: np.ndarray
    means: np.ndarray
    scales: np.ndarray
    categorical: np.ndarray  # model column indices of the categorical features
    levels: list[np.ndarray]  # the codes seen in training per categorical column (-1 missing)
    coef: np.ndarray  # one per design column
    intercept: float
    center: np.ndarray  # mean of each design column over the training rows
    owner: np.ndarray  # model column index of each design column

    def design(self, matrix: np.ndarray) -> np.ndarray:
        """Standardised numeric columns then one indicator per category level; an unseen code
        sets no indicator (it scores as the average category)."""
        matrix = np.asarray(matrix, dtype="float64")
        values = matrix[:, self.numeric]
        values = np.where(np.isfinite(values), values, self.medians)
        parts = [(values - self.means) / self.scales]
        for col, levels in zip(self.categorical, self.levels, strict=True):
            codes = np.nan_to_num(matrix[:, col], nan=MISSING_CODE)
            parts.append((codes[:, None] == levels[None, :]).astype("float64"))
        return np.hstack(parts) if parts else np.empty((len(matrix), 0))

    def log_odds(self, matrix: np.ndarray) -> np.ndarray:
        return self.design(matrix) @ self.coef + self.intercept

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """Exact per-feature log-odds contributions (n, p) around `base_value`: each design
        column's coef * (value - its training mean), one-hot levels summed into their feature."""
        terms = (self.design(matrix) - self.center) * self.coef
        assign = np.zeros((len(self.owner), self.n_features))
        assign[np.arange(len(self.owner)), self.owner] = 1.0
        return terms @ assign

    @property
    def base_value(self) -> float:
        """The log-odds of the training rows' mean design row: log_odds = base + contributions."""
        return float(self.intercept + self.center @ self.coef)


def fit_linear(
    matrix: np.ndarray,
    y: np.ndarray,
    categorical: list[int],
    weights: np.ndarray | None = None,
    seed: int = 0,
) -> LinearPart:
    """A LinearPart fitted on the rows of `matrix` (weights: capped_fit_rows' sample weights).

    Medians of all-missing columns are 0 and constant columns keep scale 1 (no division by 0),
    as scikit-learn's imputer and scaler do in the logistic baseline."""
    from sklearn.linear_model import LogisticRegression

    matrix = np.asarray(matrix, dtype="float64")
    n_features = matrix.shape[1]
    cat = np.asarray(sorted(categorical), dtype=np.intp)
    numeric = np.setdiff1d(np.arange(n_features), cat).astype(np.intp)
    values = np.where(np.isfinite(matrix[:, numeric]), matrix[:, numeric], np.nan)
    observed = ~np.isnan(values).all(axis=0)
    medians = np.zeros(len(numeric))
    medians[observed] = np.nanmedian(values[:, observed], axis=0)
    filled = np.where(np.isnan(values), medians, values)
    means = filled.mean(axis=0) if len(filled) else np.zeros(len(numeric))
    scales = filled.std(axis=0) if len(filled) else np.ones(len(numeric))
    scales = np.where(scales > 0, scales, 1.0)
    levels = [np.unique(np.nan_to_num(matrix[:, c], nan=MISSING_CODE)) for c in cat]
    owner = np.concatenate(
        [numeric, *(np.full(len(lv), c) for c, lv in zip(cat, levels, strict=True))]
    )
    part = LinearPart(
        n_features,
        numeric,
        medians,
        means,
        scales,
        cat,
        levels,
        np.zeros(len(owner)),
        0.0,
        np.zeros(len(owner)),
        owner.astype(np.intp),
    )
    design = part.design(matrix)
    model = LogisticRegression(C=LINEAR_C, max_iter=LINEAR_MAX_ITER, random_state=seed)
    model.fit(design, np.asarray(y, dtype=int), sample_weight=weights)
    part.coef = model.coef_[0].astype("float64")
    part.intercept = float(model.intercept_[0])
    part.center = design.mean(axis=0)
    return part


def blended_log_odds(z_trees: np.ndarray, z_linear: np.ndarray, weight: float) -> np.ndarray:
    """(1 - w) * trees + w * linear, in log-odds."""
    return (1.0 - weight) * np.asarray(z_trees) + weight * np.asarray(z_linear)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype="float64")))
