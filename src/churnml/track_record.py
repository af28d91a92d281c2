"""The models' real-world record: scores written one horizon ago against what then happened.

A scoring run writes every active account's probabilities and tiers. Once the outcome horizon
after that as-of is over, the same label definitions the models train on (churn with the
reactivation gap, upsell by MRR, seats or plan) say what actually happened to each account.
This module joins the two and measures ranking, calibration and money. Outcomes always come
from the current source data, never from the scores table.

Terms (also defined on the track-record page, churnml.report):

- *flagged*: churn tier ``high`` or ``medium`` in the scored run (the tier the CSMs saw).
- *ARR*: the account's ARR recorded in the scored run.
- *retained flagged ARR*: ARR of flagged accounts that did not churn. Saved by the team or a
  false alarm: the data cannot tell which.
- *lost flagged ARR*: ARR of flagged accounts that churned anyway.
- *missed ARR*: ARR of accounts not flagged that churned.
- *realised expansion ARR*: for accounts whose upsell label is 1, 12 x (the highest account MRR
  reached within the upsell horizon - the MRR just before the as-of), never below 0 (a seat or
  plan upgrade without a price change counts as an expansion worth 0).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from churnml.config import LabelConfig
from churnml.features import DEFAULT_REACTIVATION_GAP_DAYS
from churnml.labels import build_labels
from churnml.metrics import calibration_table, classification_metrics, metrics_by_segment
from churnml.snapshots import as_of_table, population
from churnml.vocabulary import FLAGGED_TIERS, TIERS_HIGH_FIRST

SCORE_COLUMNS = (
    "account_id",
    "as_of",
    "p_churn",
    "p_upsell",
    "churn_tier",
    "upsell_tier",
    "arr",
    "arr_at_risk",
    "expected_expansion_arr",
)
OUTCOME_COLUMNS = ("account_id", "churn_label", "upsell_label")


class TrackRecordError(ValueError):
    """No scored as-of can be evaluated (none written, or the horizon is not over yet)."""


def outcome_horizon_days(labels: LabelConfig) -> int:
    """Days after an as-of until both outcomes are known (churn needs the reactivation gap too)."""
    return max(labels.churn_horizon_days + labels.reactivation_gap_days, labels.upsell_horizon_days)


def matures_on(as_of: date, labels: LabelConfig) -> date:
    """The first data end at which the as-of's outcomes are fully observed."""
    return as_of + timedelta(days=outcome_horizon_days(labels))


def _day(value) -> date:
    return pd.Timestamp(value).date()


def choose_as_of(
    scored_as_ofs: Iterable,
    labels: LabelConfig,
    observed_until: datetime,
    requested: date | None = None,
    where: str = "the score history",
) -> date:
    """The requested as-of, or the latest scored one whose outcome horizon is fully observed."""
    scored = sorted({_day(a) for a in scored_as_ofs})
    if not scored:
        raise TrackRecordError(f"no scored as-of in {where}: run `churnml score` first")
    horizon = outcome_horizon_days(labels)
    mature = [a for a in scored if matures_on(a, labels) <= observed_until.date()]
    rule = (
        f"outcomes need {horizon} days of data after the as-of (churn horizon "
        f"{labels.churn_horizon_days} + reactivation gap {labels.reactivation_gap_days}, upsell "
        f"horizon {labels.upsell_horizon_days}); the data ends {observed_until:%Y-%m-%d}"
    )
    if requested is not None:
        if requested not in scored:
            shown = ", ".join(str(a) for a in scored[-6:])
            raise TrackRecordError(
                f"as-of {requested} was never scored in {where} (latest scored: {shown})"
            )
        if requested not in mature:
            raise TrackRecordError(
                f"as-of {requested} is not mature: its outcomes are known once the data reaches "
                f"{matures_on(requested, labels)}; {rule}"
            )
        return requested
    if not mature:
        latest_possible = observed_until.date() - timedelta(days=horizon)
        span = str(scored[0]) if len(scored) == 1 else f"{scored[0]} .. {scored[-1]}"
        raise TrackRecordError(
            f"no scored as-of is mature yet (scored: {span}); {rule}. "
            f"Score an earlier as-of, e.g. `churnml score --as-of {latest_possible}`, to "
            "evaluate it now"
        )
    return mature[-1]


def outcomes(
    subscriptions: ir.Table | None,
    as_of: date,
    labels: LabelConfig,
    observed_until: datetime,
    churns: ir.Table | None = None,
    expansions: ir.Table | None = None,
    accounts: ir.Table | None = None,
) -> ir.Table:
    """Churn and upsell outcomes of every account active at the as-of, as training labels them
    (``churns``/``expansions`` from labels.outcome_tables when not read off subscriptions;
    ``accounts`` give the population when there are no subscriptions)."""
    tables = {"accounts": accounts} if subscriptions is None else {"subscriptions": subscriptions}
    spine = population(tables, as_of_table([as_of]), churns)
    return build_labels(subscriptions, spine, labels, observed_until, churns, expansions)


def subscriptions_around(
    subscriptions: ir.Table,
    as_of: date,
    horizon_days: int,
    reactivation_gap_days: int = DEFAULT_REACTIVATION_GAP_DAYS,
) -> ir.Table:
    """The subscription rows that can matter for MRR just before the as-of (looking back over a
    renewal gap, see mrr_change) or within the horizon."""
    start = datetime(as_of.year, as_of.month, as_of.day)
    before = ibis.timestamp(start - timedelta(days=reactivation_gap_days))
    end = ibis.timestamp(start + timedelta(days=horizon_days))
    s = subscriptions
    return s.filter((s.start_at < end) & (s.end_at.isnull() | (s.end_at > before))).select(
        "account_id", "start_at", "end_at", "mrr"
    )


def _mrr_at(rows: pd.DataFrame, points: pd.DataFrame) -> pd.DataFrame:
    """Account MRR at each (account_id, at) instant: rows with start_at <= at < end_at."""
    j = points.merge(rows, on="account_id")
    live = (j["start_at"] <= j["at"]) & (j["end_at"].isna() | (j["end_at"] > j["at"]))
    return j[live].groupby(["account_id", "at"], as_index=False)["mrr"].sum()


def _last_live_before(rows: pd.DataFrame, start: pd.Timestamp, gap: pd.Timedelta) -> pd.DataFrame:
    """Per account, the last instant before ``start`` with a live row, at most ``gap`` back
    (churnml.features.live_rows_before): renewals stored with a gap still have a base."""
    seen = rows[
        (rows["start_at"] < start) & (rows["end_at"].isna() | (rows["end_at"] > start - gap))
    ]
    end = seen["end_at"].fillna(start)
    last = end.where(end < start, start) - pd.Timedelta(1, "us")
    return last.groupby(seen["account_id"]).max().rename("at").reset_index()


def mrr_change(
    subscriptions: pd.DataFrame,
    as_of: date,
    horizon_days: int,
    reactivation_gap_days: int = DEFAULT_REACTIVATION_GAP_DAYS,
) -> pd.DataFrame:
    """Per account: MRR just before the as-of (as the upsell label reads it, across a renewal
    gap shorter than the reactivation gap; for an account starting at the as-of, its first
    row's) and the highest MRR at any change within the
    horizon (NaN when nothing changed), the instants the upsell label looks at."""
    start = pd.Timestamp(as_of)
    end = start + pd.Timedelta(days=horizon_days)
    rows = subscriptions[["account_id", "start_at", "end_at", "mrr"]].copy()
    rows["mrr"] = pd.to_numeric(rows["mrr"], errors="coerce").fillna(0.0)
    accounts = pd.Index(rows["account_id"].unique(), name="account_id")
    base_points = _last_live_before(rows, start, pd.Timedelta(days=reactivation_gap_days))
    base = _mrr_at(rows, base_points).set_index("account_id")["mrr"]
    # no row before the as-of: the row starting at it is the base (labels.upsell_labels)
    first = _mrr_at(rows, pd.DataFrame({"account_id": accounts, "at": start}))
    first = first.set_index("account_id")["mrr"]
    base = pd.concat([base, first[~first.index.isin(base.index)]])
    changes = rows.loc[(rows["start_at"] >= start) & (rows["start_at"] < end)]
    change_points = changes[["account_id", "start_at"]].drop_duplicates()
    peak = (
        _mrr_at(rows, change_points.rename(columns={"start_at": "at"}))
        .groupby("account_id")["mrr"]
        .max()
    )
    out = pd.DataFrame(index=accounts)
    out["base_mrr"] = base.reindex(accounts).fillna(0.0)
    out["peak_mrr"] = peak.reindex(accounts)
    return out.reset_index()


def _require(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lacks column(s) {missing}")


def join_outcomes(
    scores: pd.DataFrame, outcome: pd.DataFrame, mrr: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Each scored account with its outcome; ``outcome_known`` is False for accounts the data no
    longer shows as active at the as-of, or whose horizon is not observed."""
    _require(scores, SCORE_COLUMNS, "the scores")
    _require(outcome, OUTCOME_COLUMNS, "the outcomes")
    if scores["as_of"].nunique() != 1:
        raise ValueError("evaluate one scored as-of at a time")
    if scores["account_id"].duplicated().any():
        raise ValueError("the scores hold an account twice for one as-of")
    found = outcome[list(OUTCOME_COLUMNS)].drop_duplicates("account_id")
    derived = ("churn_label", "upsell_label", "outcome_known", "realised_expansion_arr")
    scores = scores.drop(columns=[c for c in derived if c in scores.columns])  # never trusted
    out = scores.merge(found, on="account_id", how="left", validate="one_to_one")
    for col in ("churn_label", "upsell_label"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("Float64")
    # a target no source labels (NULL for every account, labels.unmeasured_targets) does not
    # make the other's outcomes unknown
    measured = [c for c in ("churn_label", "upsell_label") if outcome[c].notna().any()]
    known = pd.Series(bool(measured), index=out.index)
    for col in measured:
        known &= out[col].notna()
    out["outcome_known"] = known.astype(bool)
    for col in ("arr", "arr_at_risk", "expected_expansion_arr", "p_churn", "p_upsell"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64")
    out[["arr", "arr_at_risk", "expected_expansion_arr"]] = out[
        ["arr", "arr_at_risk", "expected_expansion_arr"]
    ].fillna(0.0)
    gain = pd.Series(0.0, index=out.index)
    if mrr is not None:
        _require(mrr, ("account_id", "base_mrr", "peak_mrr"), "the MRR changes")
        m = out[["account_id"]].merge(mrr, on="account_id", how="left")
        gain = (12.0 * (m["peak_mrr"] - m["base_mrr"])).clip(lower=0).fillna(0.0)
        gain.index = out.index
    out["realised_expansion_arr"] = gain.where(out["upsell_label"].fillna(0) == 1, 0.0).round(2)
    return out


@dataclass
class TrackRecord:
    """One evaluation: the summary row, calibration and per-tier tables, the joined frame."""

    summary: dict
    calibration: dict[str, pd.DataFrame] = field(default_factory=dict)
    by_tier: dict[str, pd.DataFrame] = field(default_factory=dict)
    by_segment: dict[str, pd.DataFrame] = field(default_factory=dict)
    evaluated: pd.DataFrame | None = None

    def summary_frame(self) -> pd.DataFrame:
        return pd.DataFrame([self.summary])


def _calibration(y: np.ndarray, p: np.ndarray, bins: int) -> pd.DataFrame:
    """Predicted versus observed per quantile bin, with the accounts in each bin (the bins
    ``calibration_table`` uses)."""
    table = calibration_table(y, p, bins)
    edges = np.percentile(p, np.linspace(0, 100, bins + 1))
    counts = np.bincount(np.searchsorted(edges[1:-1], p), minlength=bins)
    counts = counts[counts > 0]
    if len(counts) == len(table):
        table.insert(0, "accounts", counts.astype("int64"))
    return table


def _tier_table(frame: pd.DataFrame, tier: str, p: str, label: str, money: dict) -> pd.DataFrame:
    rows = []
    for value in TIERS_HIGH_FIRST:
        part = frame[frame[tier] == value]
        row = {
            "tier": value,
            "accounts": len(part),
            "predicted": float(part[p].mean()) if len(part) else float("nan"),
            "observed": float(part[label].astype(float).mean()) if len(part) else float("nan"),
            "events": int(part[label].sum()),
        }
        for name, (column, only_events) in money.items():
            chosen = part[part[label] == 1] if only_events else part
            row[name] = float(chosen[column].sum())
        rows.append(row)
    return pd.DataFrame(rows)


def _versions(scores: pd.DataFrame, column: str) -> str:
    if column not in scores.columns:
        return ""
    values = scores[column].dropna().astype(str)
    return ",".join(sorted(v for v in values.unique() if v))


def track_record(
    scores: pd.DataFrame,
    outcome: pd.DataFrame,
    mrr: pd.DataFrame | None,
    capacity_k: int,
    observed_until: datetime,
    calibration_bins: int = 10,
) -> TrackRecord:
    """Ranking, calibration, per-tier rates and ARR saved versus lost for one scored as-of."""
    joined = join_outcomes(scores, outcome, mrr)
    known = joined[joined["outcome_known"]].copy()
    as_of = _day(joined["as_of"].iloc[0]) if len(joined) else None
    if known.empty:
        raise TrackRecordError(
            f"none of the {len(joined)} accounts scored as of {as_of} has a known outcome: "
            "they are no longer in the data as active at that as-of"
        )
    missing = joined[~joined["outcome_known"]]
    scored_ids = set(joined["account_id"])
    summary: dict = {
        "as_of": pd.Timestamp(as_of),
        "observed_until": pd.Timestamp(observed_until),
        "churn_model_version": _versions(scores, "churn_model_version"),
        "upsell_model_version": _versions(scores, "upsell_model_version"),
        "accounts_scored": len(joined),
        "accounts_evaluated": len(known),
        "accounts_without_outcome": len(missing),
        "arr_without_outcome": float(missing["arr"].sum()),
        "accounts_active_not_scored": int((~outcome["account_id"].isin(scored_ids)).sum()),
    }
    record = TrackRecord(summary=summary, evaluated=joined)
    for target, p, label in (
        ("churn", "p_churn", "churn_label"),
        ("upsell", "p_upsell", "upsell_label"),
    ):
        if known[label].isna().all():  # no source labels this target (unmeasured_targets)
            for name in (*_TARGET_METRICS, "recall_at_capacity", "positive_rate", "predicted_rate"):
                summary[f"{target}_{name}"] = float("nan")
            continue
        _evaluate_target(record, known, target, p, label, capacity_k, calibration_bins)
    summary.update(_money_summary(known))
    record.by_tier["churn"] = _tier_table(
        known,
        "churn_tier",
        "p_churn",
        "churn_label",
        {
            "arr": ("arr", False),
            "arr_at_risk": ("arr_at_risk", False),
            "arr_churned": ("arr", True),
        },
    )
    record.by_tier["upsell"] = _tier_table(
        known,
        "upsell_tier",
        "p_upsell",
        "upsell_label",
        {
            "expansion_arr_expected": ("expected_expansion_arr", False),
            "expansion_arr_realised": ("realised_expansion_arr", False),
        },
    )
    return record


_TARGET_METRICS = ("roc_auc", "pr_auc", "brier", "log_loss", "top_decile_lift")


def _evaluate_target(
    record: TrackRecord,
    known: pd.DataFrame,
    target: str,
    p: str,
    label: str,
    capacity_k: int,
    calibration_bins: int,
) -> None:
    """One target's ranking and calibration into ``record`` (NaN when no champion scored it)."""
    summary = record.summary
    y = known[label].astype(int).to_numpy()
    prob = known[p].to_numpy(dtype=float)
    if np.isnan(prob).all():  # no champion for this target scored that run
        for name in _TARGET_METRICS:
            summary[f"{target}_{name}"] = float("nan")
        summary[f"{target}_recall_at_capacity"] = float("nan")
        summary[f"{target}_positive_rate"] = float(y.mean()) if len(y) else float("nan")
        summary[f"{target}_predicted_rate"] = float("nan")
        return
    metrics = classification_metrics(y, prob, capacity_k)
    for name in (*_TARGET_METRICS, "recall_at_capacity", "positive_rate"):
        summary[f"{target}_{name}"] = metrics[name]
    summary[f"{target}_predicted_rate"] = float(prob.mean())
    record.calibration[target] = _calibration(y, prob, calibration_bins)
    segments = metrics_by_segment(known, label, p, ["segment"], capacity_k)
    if not segments.empty:
        record.by_segment[target] = segments


def _money_summary(known: pd.DataFrame) -> dict[str, float | int]:
    """ARR flagged and kept, lost or missed; expansion ARR expected and realised (module terms)."""
    flagged = known["churn_tier"].isin(FLAGGED_TIERS)
    churned = known["churn_label"] == 1
    arr = known["arr"]
    upsold = known["upsell_label"] == 1
    up_flagged = known["upsell_tier"].isin(FLAGGED_TIERS)
    return {
        "arr_evaluated": float(arr.sum()),
        "churn_flagged_accounts": int(flagged.sum()),
        "arr_flagged": float(arr[flagged].sum()),
        "arr_flagged_retained": float(arr[flagged & ~churned].sum()),
        "arr_flagged_lost": float(arr[flagged & churned].sum()),
        "arr_missed": float(arr[~flagged & churned].sum()),
        "arr_churned": float(arr[churned].sum()),
        "arr_at_risk_expected": float(known["arr_at_risk"].sum()),
        "churned_accounts": int(churned.sum()),
        "churned_accounts_flagged": int((flagged & churned).sum()),
        "upsell_flagged_accounts": int(up_flagged.sum()),
        "upsell_flagged_expanded": int((up_flagged & upsold).sum()),
        "expanded_accounts": int(upsold.sum()),
        "expansion_arr_expected": float(known["expected_expansion_arr"].sum()),
        "expansion_arr_realised": float(known["realised_expansion_arr"].sum()),
        "expansion_arr_realised_flagged": float(
            known.loc[up_flagged, "realised_expansion_arr"].sum()
        ),
    }


def recent_records(history: pd.DataFrame, rows: int) -> pd.DataFrame:
    """The latest evaluated as-ofs of the record table, newest first."""
    return history.sort_values("as_of", ascending=False).head(rows).reset_index(drop=True)
