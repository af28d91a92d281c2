"""Figures logged with every training run: ROC, PR, calibration, cumulative gain and SHAP.

The curves are scikit-learn's ``*Display`` classes and the SHAP summary is shap's beeswarm, drawn
on ``matplotlib.figure.Figure`` objects: nothing here touches pyplot's global state or switches
the process-wide backend (a figure renders through Agg when it is saved as PNG).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.calibration import CalibrationDisplay
from sklearn.metrics import PrecisionRecallDisplay, RocCurveDisplay

CALIBRATION_BINS = 10


def _cumulative_gain(ax, y: np.ndarray, p: np.ndarray) -> None:
    """Share of events caught against share of accounts worked, riskiest first (scikit-learn
    has no display for it)."""
    order = np.argsort(-p, kind="stable")
    share = np.arange(1, len(y) + 1) / len(y)
    captured = np.cumsum(y[order]) / max(1, np.sum(y))
    ax.plot(share, captured, label="model")
    ax.plot([0, 1], [0, 1], "--", color="grey", label="random")
    ax.set(
        title="cumulative gain", xlabel="share of accounts worked", ylabel="share of events caught"
    )
    ax.legend(loc="lower right")


def evaluation_figure(y: np.ndarray, p: np.ndarray, title: str) -> Figure:
    """ROC, precision-recall, calibration and cumulative gain of one backtest, side by side."""
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    fig = Figure(figsize=(18, 4.2), layout="constrained")
    roc, pr, calibration, gain = fig.subplots(1, 4)
    RocCurveDisplay.from_predictions(y, p, name="model", ax=roc, plot_chance_level=True)
    roc.set_title("ROC")
    PrecisionRecallDisplay.from_predictions(y, p, name="model", ax=pr, plot_chance_level=True)
    pr.set_title("precision-recall")
    CalibrationDisplay.from_predictions(
        y, p, n_bins=CALIBRATION_BINS, strategy="quantile", name="model", ax=calibration
    )
    calibration.set_title(f"calibration ({CALIBRATION_BINS} equal-count bins)")
    _cumulative_gain(gain, y, p)
    fig.suptitle(title)
    return fig


def _numeric(values: pd.DataFrame) -> np.ndarray:
    """Feature values for the beeswarm's colour: category codes, missing as NaN (grey)."""
    columns = []
    for col in values.columns:
        s = values[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            codes = s.cat.codes.to_numpy().astype(float)
            columns.append(np.where(codes < 0, np.nan, codes))
        else:
            columns.append(pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan))
    return np.column_stack(columns) if columns else np.empty((len(values), 0))


def shap_summary_figure(
    contrib: np.ndarray, features: list[str], top: int = 20, values: pd.DataFrame | None = None
) -> Figure:
    """SHAP beeswarm: per feature, each account's push (log-odds) coloured by its value, the
    features ordered by mean |SHAP|; without values the dots are not coloured."""
    with warnings.catch_warnings():  # shap 0.51 builds its colour maps with calls matplotlib
        warnings.simplefilter("ignore", PendingDeprecationWarning)  # plans to deprecate
        import shap  # heavy import (numba): only when a training run draws it

    data = _numeric(values[features]) if values is not None else None
    explanation = shap.Explanation(
        values=np.asarray(contrib, dtype=float), data=data, feature_names=list(features)
    )
    shown = min(top, len(features))
    fig = Figure(figsize=(8, 0.35 * (shown + 1) + 1.5), layout="constrained")
    ax = fig.subplots()
    shap.plots.beeswarm(
        explanation,
        max_display=shown,
        ax=ax,
        show=False,
        plot_size=None,
        color_bar=data is not None,
    )
    ax.set_title("SHAP values (log-odds) of the backtest accounts")
    return fig
