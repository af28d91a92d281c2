"""Drift: how far a scoring run's data and scores have moved from what the model was trained on.

At training, each model keeps a reference profile: for every numeric feature the quantile bin
edges of the training rows and the share of rows in each bin (plus a missing bin), for every
categorical feature the share of each level (plus missing and unseen), and the same binning of
the model's calibrated score on its out-of-time test snapshot(s). At scoring, the scored
accounts are put in the same bins and compared with the Population Stability Index

    PSI = sum over bins of (current - reference) * ln(current / reference)

where empty bins count as ``epsilon`` so the logarithm stays finite. 0 means identical shares;
the usual reading is below 0.1 stable, 0.1-0.25 worth watching, above 0.25 a real shift.

Two kinds of feature move with the calendar rather than with the customers, because the
reference rows are at least horizon + gap older than the scoring as-of. Ageing features (tenure
in days) grow one day per day: the reference records its as-of, and the PSI is the smaller of
the plain comparison (a population renewed at a steady pace keeps its tenure shares) and the
one with current values shifted back by the days elapsed (the same accounts, only older).
History counters (counts over an account's whole history) only grow: they are measured and
logged but, like ``ignore_features``, do not mark the run unless ``history_counters: judge``.

The profile is a plain JSON-ready dict so it travels inside the model bundle and as an MLflow
artifact. Everything here is pure: frames in, frames and dicts out.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

MISSING = "(missing)"
UNSEEN = "(unseen)"
PROFILE_VERSION = 2  # 2: records the as-of of its rows (version 1 has none: no ageing shift)
LEVELS = ("stable", "watch", "alert")

DRIFT_COLUMNS = ["model", "kind", "name", "psi", "level", "warn", "alert"]


class DriftError(RuntimeError):
    """The scoring data moved beyond the alert threshold and the config says to stop."""


def _numeric(values: pd.Series) -> np.ndarray:
    return pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype="float64")


def _labels(values: pd.Series) -> pd.Series:
    """Category values as plain strings; missing stays missing."""
    s = pd.Series(values)
    return s.astype("string").astype(object).where(s.notna(), None)


def _require_rows(values: pd.Series | np.ndarray, what: str) -> None:
    if len(values) == 0:
        raise ValueError(f"{what}: no rows to profile; drift needs at least one value")


def numeric_edges(values: pd.Series | np.ndarray, bins: int) -> list[float]:
    """Inner bin edges at the quantiles 1/bins .. (bins-1)/bins of the non-missing values.

    Tied quantiles collapse into one edge, so a mostly-zero count gets fewer, wider bins. A
    constant column gets the edges (just below c, c): below, equal to and above the constant.
    """
    if bins < 2:
        raise ValueError(f"bins must be at least 2, got {bins}")
    x = _numeric(values)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return []
    unique = np.unique(x)
    if unique.size == 1:
        c = float(unique[0])
        return [float(np.nextafter(c, -np.inf)), c]
    quantiles = np.quantile(x, np.arange(1, bins) / bins)
    return [float(e) for e in np.unique(quantiles)]


def numeric_shares(values: pd.Series | np.ndarray, edges: list[float]) -> np.ndarray:
    """Share of values in each right-closed bin ``(e[i-1], e[i]]``, then the missing share."""
    x = _numeric(values)
    _require_rows(x, "numeric values")
    missing = np.isnan(x)
    index = np.searchsorted(np.asarray(edges, dtype="float64"), x[~missing], side="left")
    counts = np.bincount(index, minlength=len(edges) + 1).astype("float64")
    return np.append(counts, missing.sum()) / len(x)


def categorical_shares(values: pd.Series, levels: list[str]) -> np.ndarray:
    """Share of each reference level, then unseen levels, then missing."""
    labels = _labels(values)
    _require_rows(labels, "categorical values")
    missing = labels.isna()
    known = labels[~missing]
    counts = known.value_counts()
    seen = np.array([counts.get(level, 0) for level in levels], dtype="float64")
    unseen = float(len(known) - seen.sum())
    return np.append(seen, [unseen, float(missing.sum())]) / len(labels)


def numeric_profile(values: pd.Series | np.ndarray, bins: int) -> dict:
    edges = numeric_edges(values, bins)
    return {"kind": "numeric", "edges": edges, "shares": numeric_shares(values, edges).tolist()}


def categorical_profile(values: pd.Series) -> dict:
    labels = _labels(values)
    _require_rows(labels, "categorical values")
    levels = sorted(str(v) for v in labels.dropna().unique())
    return {
        "kind": "categorical",
        "levels": levels,
        "shares": categorical_shares(labels, levels).tolist(),
    }


def current_shares(profile: Mapping, values: pd.Series | np.ndarray) -> np.ndarray:
    """The current values in the reference profile's buckets."""
    if profile["kind"] == "categorical":
        return categorical_shares(pd.Series(values), list(profile["levels"]))
    return numeric_shares(values, list(profile["edges"]))


def bucket_names(profile: Mapping) -> list[str]:
    """Readable names of a profile's buckets, in order (for tables and debugging)."""
    if profile["kind"] == "categorical":
        return [*profile["levels"], UNSEEN, MISSING]
    edges = list(profile["edges"])
    if not edges:
        return ["any value", MISSING]
    lows = ["-inf", *(f"{e:g}" for e in edges)]
    highs = [*(f"{e:g}" for e in edges), "inf"]
    return [f"({lo}, {hi}]" for lo, hi in zip(lows, highs, strict=True)] + [MISSING]


def psi(reference: np.ndarray, current: np.ndarray, epsilon: float = 1e-4) -> float:
    """Population Stability Index of two share vectors over the same buckets."""
    ref = np.asarray(reference, dtype="float64")
    cur = np.asarray(current, dtype="float64")
    if ref.shape != cur.shape or ref.size == 0:
        raise ValueError(
            f"PSI needs two share vectors of one length, got {ref.shape} and {cur.shape}"
        )
    if epsilon <= 0:
        raise ValueError("epsilon must be positive")
    ref = np.maximum(ref, epsilon)
    cur = np.maximum(cur, epsilon)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def reference_profile(
    frame: pd.DataFrame,
    features: list[str],
    categorical: list[str],
    scores: pd.Series | np.ndarray,
    bins: int = 10,
    as_of=None,
) -> dict:
    """A model's drift reference: its training rows' feature distributions and its test scores.

    ``as_of`` is the date the rows describe, by default the latest of their ``as_of`` column
    (the latest test snapshot): scoring shifts ageing features by the days elapsed since."""
    _require_rows(frame, "training rows")
    _require_rows(np.asarray(scores), "reference scores")
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise KeyError(f"training frame lacks features {missing[:10]}")
    cats = set(categorical)
    if as_of is None and "as_of" in frame.columns:
        as_of = frame["as_of"].max()
    return {
        "version": PROFILE_VERSION,
        "bins": bins,
        "as_of": None if pd.isna(as_of) else _day_stamp(as_of).isoformat(),
        "rows": len(frame),
        "score_rows": len(scores),
        "features": {
            f: categorical_profile(frame[f]) if f in cats else numeric_profile(frame[f], bins)
            for f in features
        },
        "score": numeric_profile(np.asarray(scores, dtype="float64"), bins),
    }


# Computed features that grow one day per calendar day (declared attributes may be static).
_AGEING = re.compile(r"^(?!attr_)(.+_)?(tenure|age)_days$")


def ages_with_calendar(name: str) -> bool:
    """Whether a feature grows one day per day by construction (tenure or age in days)."""
    return bool(_AGEING.match(name))


def counts_whole_history(name: str) -> bool:
    """Whether a feature counts over an account's whole history, so it only grows with age:
    ``*_lifetime`` counts and the catalogue's counts "so far" (not the per-month rates)."""
    from churnml.catalogue import feature_entry

    entry = feature_entry(name)
    if entry.family == "account":  # declared attributes are copied, not counted over time
        return False
    return name.endswith("_lifetime") or "so far" in entry.description


def _day_stamp(value) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_convert(None) if stamp.tzinfo is not None else stamp


def days_elapsed(profile: Mapping, as_of) -> float:
    """Days from the reference's as-of to the scoring as-of; 0 when either is unknown."""
    if as_of is None or not profile.get("as_of"):
        return 0.0
    return float((_day_stamp(as_of) - _day_stamp(profile["as_of"])) / pd.Timedelta(days=1))


def _verdict(name: str, value: float, cfg) -> str:
    ignored = name in cfg.ignore_features or (
        cfg.history_counters == "ignore" and counts_whole_history(name)
    )
    return "stable" if ignored else level(value, cfg.feature_warn, cfg.feature_alert)


def _feature_rows(model: str, profile: Mapping, features: pd.DataFrame, cfg, as_of) -> list:
    absent = [f for f in profile["features"] if f not in features.columns]
    if absent:
        raise KeyError(f"scoring features lack {model} model features {absent[:10]}")
    shift = days_elapsed(profile, as_of)
    rows = []
    for name, feature in profile["features"].items():
        value = psi(feature["shares"], current_shares(feature, features[name]), cfg.epsilon)
        if shift and feature["kind"] == "numeric" and ages_with_calendar(name):
            aged = current_shares(feature, _numeric(features[name]) - shift)
            value = min(value, psi(feature["shares"], aged, cfg.epsilon))
        rows.append(
            (
                model,
                "feature",
                name,
                value,
                _verdict(name, value, cfg),
                cfg.feature_warn,
                cfg.feature_alert,
            )
        )
    return rows


def level(value: float, warn: float, alert: float) -> str:
    """stable up to the warn threshold, watch up to the alert threshold, alert beyond it."""
    if value > alert:
        return "alert"
    if value > warn:
        return "watch"
    return "stable"


def drift_table(
    profiles: Mapping[str, Mapping],
    features: pd.DataFrame,
    scores: Mapping[str, pd.Series | np.ndarray],
    cfg,
    as_of=None,
) -> pd.DataFrame:
    """PSI of each model's score and of every feature it uses, against its reference profile.

    ``profiles`` and ``scores`` are keyed by model ("churn", "upsell"); ``cfg`` is a
    DriftConfig; ``as_of`` is the scoring as-of (ageing features also compared shifted back by
    the days since the reference's as-of, the smaller PSI counts; no shift when either is
    unknown). Features listed in
    ``cfg.ignore_features``, and history counters unless ``cfg.history_counters`` is "judge",
    are still measured but never raise the level above stable. Rows are sorted by model,
    score first, then PSI descending.
    """
    _require_rows(features, "scoring rows")
    rows = []
    for model, profile in profiles.items():
        score = np.asarray(scores[model], dtype="float64")
        _require_rows(score, f"{model} scores")
        value = psi(
            profile["score"]["shares"], current_shares(profile["score"], score), cfg.epsilon
        )
        rows.append(
            (
                model,
                "score",
                f"p_{model}",
                value,
                level(value, cfg.score_warn, cfg.score_alert),
                cfg.score_warn,
                cfg.score_alert,
            )
        )
        rows += _feature_rows(model, profile, features, cfg, as_of)
    table = pd.DataFrame(rows, columns=DRIFT_COLUMNS)
    table["is_score"] = table["kind"] == "score"
    table = table.sort_values(["model", "is_score", "psi"], ascending=[True, False, False])
    return table.drop(columns="is_score").reset_index(drop=True)


def summarize(table: pd.DataFrame) -> dict:
    """The verdict of a drift table: drifted when any score or feature is at the alert level."""
    alerts = table[table["level"] == "alert"]
    features = table[table["kind"] == "feature"]
    scores_alert = int((alerts["kind"] == "score").sum())
    worst = alerts.sort_values(["kind", "psi"], ascending=[False, False], kind="stable")
    headline = (
        f"{scores_alert} score(s) and {len(alerts) - scores_alert} feature(s) beyond the alert "
        "threshold; worst: "
        + ", ".join(f"{r.model} {r.name} {r.psi:.3f}" for r in worst.head(5).itertuples())
        if len(alerts)
        else "no score or feature beyond the alert threshold"
    )
    return {
        "drifted": bool(len(alerts)),
        "headline": headline,
        "alerts": [f"{r.model} {r.kind} {r.name}: PSI {r.psi:.3f}" for r in alerts.itertuples()],
        "score_psi": {r.model: float(r.psi) for r in table[table["kind"] == "score"].itertuples()},
        "max_feature_psi": float(features["psi"].max()) if len(features) else 0.0,
        "features_alert": int((features["level"] == "alert").sum()),
        "features_watch": int((features["level"] == "watch").sum()),
    }


def report_rows(table: pd.DataFrame, top_features: int) -> pd.DataFrame:
    """The rows the report shows: both scores, then the features that moved most (at most
    ``top_features``, one row per feature name)."""
    scores = table[table["kind"] == "score"]
    features = (
        table[table["kind"] == "feature"]
        .sort_values("psi", ascending=False, kind="stable")
        .drop_duplicates("name")
        .head(top_features)
    )
    return pd.concat([scores, features], ignore_index=True)


def metric_name(text: str) -> str:
    """A feature or model name as an MLflow metric key part (letters, digits, _ - . / only)."""
    return "".join(c if c.isalnum() or c in "_-./" else "_" for c in text)


def drift_metrics(table: pd.DataFrame) -> dict[str, float]:
    """MLflow metrics of a drift table: one PSI per score and per feature, plus the verdict."""
    summary = summarize(table)
    metrics = {
        f"drift.{metric_name(r.model)}.{'score' if r.kind == 'score' else 'feature.' + metric_name(r.name)}": float(
            r.psi
        )
        for r in table.itertuples()
        if math.isfinite(r.psi)
    }
    metrics["drift.drifted"] = float(summary["drifted"])
    metrics["drift.max_feature_psi"] = summary["max_feature_psi"]
    metrics["drift.features_alert"] = float(summary["features_alert"])
    metrics["drift.features_watch"] = float(summary["features_watch"])
    return metrics


__all__ = [
    "DriftError",
    "ages_with_calendar",
    "bucket_names",
    "categorical_profile",
    "counts_whole_history",
    "current_shares",
    "days_elapsed",
    "drift_metrics",
    "drift_table",
    "level",
    "numeric_edges",
    "numeric_profile",
    "psi",
    "reference_profile",
    "report_rows",
    "summarize",
]
