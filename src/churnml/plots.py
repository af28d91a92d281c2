"""Figures logged with every training run: ROC, PR, calibration, lift and SHAP summary."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import precision_recall_curve, roc_curve  # noqa: E402

from churnml.metrics import calibration_table  # noqa: E402


def evaluation_figure(y: np.ndarray, p: np.ndarray, title: str) -> plt.Figure:
    """ROC, precision-recall, calibration and cumulative lift of one backtest, side by side."""
    fig, axes = plt.subplots(1, 4, figsize=(18, 4.2))
    fpr, tpr, _ = roc_curve(y, p)
    axes[0].plot(fpr, tpr)
    axes[0].plot([0, 1], [0, 1], "--", color="grey")
    axes[0].set(title="ROC", xlabel="false positive rate", ylabel="true positive rate")
    prec, rec, _ = precision_recall_curve(y, p)
    axes[1].plot(rec, prec)
    axes[1].axhline(np.mean(y), ls="--", color="grey")
    axes[1].set(title="precision-recall", xlabel="recall", ylabel="precision")
    cal = calibration_table(y, p)
    axes[2].plot(cal.predicted, cal.observed, "o-")
    axes[2].plot([0, cal.predicted.max()], [0, cal.predicted.max()], "--", color="grey")
    axes[2].set(title="calibration", xlabel="predicted probability", ylabel="observed rate")
    order = np.argsort(-p, kind="stable")
    share = np.arange(1, len(y) + 1) / len(y)
    captured = np.cumsum(np.asarray(y)[order]) / max(1, np.sum(y))
    axes[3].plot(share, captured)
    axes[3].plot([0, 1], [0, 1], "--", color="grey")
    axes[3].set(
        title="cumulative gain", xlabel="share of accounts worked", ylabel="share of events caught"
    )
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def shap_summary_figure(contrib: np.ndarray, features: list[str], top: int = 20) -> plt.Figure:
    """Mean |SHAP| per feature: what the model leans on overall."""
    importance = pd.Series(np.abs(contrib).mean(axis=0), index=features).nlargest(top)[::-1]
    fig, ax = plt.subplots(figsize=(8, 0.3 * len(importance) + 1.2))
    ax.barh(importance.index, importance.to_numpy())
    ax.set(title="mean |SHAP| (log-odds)", xlabel="mean absolute contribution")
    fig.tight_layout()
    return fig
