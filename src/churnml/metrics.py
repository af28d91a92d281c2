"""Model quality as CS teams read it: ranking, calibration, lift and recall at CSM capacity."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from churnml.vocabulary import money_short


def expected_top_k_hits(y_true: np.ndarray, score: np.ndarray, k: int) -> float:
    """Expected number of events among the top k by score, every order of tied scores equally
    likely: rows above the k-th score all count; the tied group at it fills the remaining places,
    each tied row with the same chance, so it brings its event rate times those places.

    A model with few distinct scores (say a single small tree) otherwise gets a lift that depends
    on the row order of the frame.
    """
    y_true = np.asarray(y_true, dtype=float)
    score = np.asarray(score, dtype=float)
    k = min(max(1, k), len(y_true))
    if k == 0:
        return 0.0
    threshold = np.sort(score)[::-1][k - 1]
    above = score > threshold
    tied = score == threshold
    places = k - int(above.sum())
    return float(y_true[above].sum() + places * y_true[tied].mean())


def top_fraction_lift(y_true: np.ndarray, score: np.ndarray, fraction: float = 0.1) -> float:
    """Event rate in the top `fraction` by score divided by the overall rate (expected over ties)."""
    y_true = np.asarray(y_true, dtype=float)
    if len(y_true) == 0 or y_true.mean() == 0:
        return float("nan")
    k = max(1, int(np.ceil(len(y_true) * fraction)))
    return float(expected_top_k_hits(y_true, score, k) / k / y_true.mean())


def recall_at_k(y_true: np.ndarray, score: np.ndarray, k: int) -> float:
    """Share of all events caught if the team works only the top k accounts (expected over ties)."""
    y_true = np.asarray(y_true, dtype=float)
    positives = y_true.sum()
    if positives == 0:
        return float("nan")
    return float(expected_top_k_hits(y_true, score, k) / positives)


def classification_metrics(
    y_true: np.ndarray, probability: np.ndarray, capacity_k: int
) -> dict[str, float]:
    """ROC AUC, PR AUC, Brier, log loss, top-decile lift and recall at capacity."""
    y_true = np.asarray(y_true, dtype=int)
    p = np.clip(np.asarray(probability, dtype=float), 1e-6, 1 - 1e-6)
    out = {
        "n": float(len(y_true)),
        "positive_rate": float(y_true.mean()) if len(y_true) else float("nan"),
    }
    if len(np.unique(y_true)) < 2:
        out.update(roc_auc=float("nan"), pr_auc=float("nan"))
    else:
        out.update(
            roc_auc=float(roc_auc_score(y_true, p)),
            pr_auc=float(average_precision_score(y_true, p)),
        )
    out.update(
        brier=float(brier_score_loss(y_true, p)) if len(y_true) else float("nan"),
        log_loss=float(log_loss(y_true, p, labels=[0, 1])) if len(y_true) else float("nan"),
        top_decile_lift=top_fraction_lift(y_true, p, 0.1),
        recall_at_capacity=recall_at_k(y_true, p, capacity_k),
    )
    return out


def calibration_table(y_true: np.ndarray, probability: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Mean predicted versus observed rate per quantile bin."""
    observed, predicted = calibration_curve(y_true, probability, n_bins=bins, strategy="quantile")
    return pd.DataFrame({"predicted": predicted, "observed": observed})


def size_band(arr: pd.Series, edges: list[float]) -> pd.Series:
    """Label each account's ARR with its size band ("<12k", "12k-60k", ..., ">=250k").

    Missing ARR gets "unknown" so those accounts still appear in per-segment tables.
    """
    labels = (
        [f"<{money_short(edges[0])}"]
        + [f"{money_short(a)}-{money_short(b)}" for a, b in zip(edges, edges[1:], strict=False)]
        + [f">={money_short(edges[-1])}"]
    )
    values = pd.to_numeric(arr, errors="coerce").to_numpy(dtype=float)
    index = np.searchsorted(np.asarray(edges, dtype=float), values, side="right")
    out = np.asarray(labels, dtype=object)[np.minimum(index, len(labels) - 1)]
    out[np.isnan(values)] = "unknown"
    return pd.Series(out, index=arr.index, name="size_band")


def metrics_by_segment(
    frame: pd.DataFrame, label: str, probability: str, segment_columns: list[str], capacity_k: int
) -> pd.DataFrame:
    """The same metrics per segment value, for segments with both outcomes present."""
    rows = []
    for col in segment_columns:
        if col not in frame.columns:
            continue
        for value, part in frame.groupby(col, observed=True, dropna=False):
            m = classification_metrics(
                part[label].to_numpy(), part[probability].to_numpy(), capacity_k
            )
            rows.append({"segment_column": col, "segment": str(value), **m})
    return pd.DataFrame(rows)
