"""Which plays work: recommended plays, whether the team did them, and what happened after.

A scoring run recommends one play per account with a due date. The CS activity log says
whether it was done: an activity of that account between the as-of and the end of the due day
that names the play, or whose kind carries the play out (``activity.play_kinds``). Once the
outcome horizon is over, accounts where the play was done are compared with accounts that got
the same recommendation at the same as-of, in the same churn tier and segment, where it was
not done.

The comparison is standardised to the accounts where the play was done: within each stratum
(as-of, churn tier, segment) holding both kinds of account, the not-done rate is weighted by
the done accounts in it. Strata with only one kind are left out and their accounts counted
apart. The interval is a normal approximation of the stratified difference of proportions,
with each stratum's variance taken at (events + 0.5) / (accounts + 1) so an empty or full
stratum still counts as uncertain. This is an observational comparison, not a controlled
experiment: the team chose where to act, and what made them act may also move the outcome.

Pure: pandas in, pandas out, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from statistics import NormalDist

import numpy as np
import pandas as pd

RECOMMENDATION_COLUMNS = ("account_id", "as_of", "play_name", "play_due")
ACTIVITY_COLUMNS = ("account_id", "occurred_at", "kind", "play")
STRATA = ("as_of", "churn_tier", "segment")
OUTCOMES = {"churn": "churn_label", "expansion": "upsell_label"}


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lacks column(s) {missing}")


def _norm(values: pd.Series) -> pd.Series:
    return values.astype("string").str.strip().str.lower()


def play_completion(
    recommended: pd.DataFrame,
    activities: pd.DataFrame,
    play_kinds: Mapping[str, Sequence[str]],
) -> pd.DataFrame:
    """The recommendations with ``play_done`` (bool) and ``done_at`` (first qualifying activity).

    An activity qualifies when it belongs to the account, happened at or after the as-of and
    before the end of the due day, and names the play or is of one of the play's kinds.
    """
    _require(recommended, RECOMMENDATION_COLUMNS, "the recommendations")
    _require(activities, ACTIVITY_COLUMNS, "the activity log")
    rec = recommended.reset_index(drop=True).copy()
    rec["as_of"] = pd.to_datetime(rec["as_of"]).astype("datetime64[us]")
    rec["play_due"] = pd.to_datetime(rec["play_due"]).astype("datetime64[us]")
    deadline = rec["play_due"].dt.normalize() + pd.Timedelta(days=1)
    acts = activities[list(ACTIVITY_COLUMNS)].copy()
    acts["occurred_at"] = pd.to_datetime(acts["occurred_at"]).astype("datetime64[us]")
    if len(rec):
        acts = acts[
            (acts["occurred_at"] >= rec["as_of"].min()) & (acts["occurred_at"] < deadline.max())
        ]
    acts = acts.assign(kind=_norm(acts["kind"]), play=_norm(acts["play"]))
    kinds = pd.DataFrame(
        [(play, kind) for play, ks in play_kinds.items() for kind in ks],
        columns=["play_name", "kind"],
    ).assign(play_key=lambda f: _norm(f["play_name"]), kind=lambda f: _norm(f["kind"]))
    pairs = rec[["account_id", "as_of", "play_name"]].assign(
        row=np.arange(len(rec)), deadline=deadline, play_key=_norm(rec["play_name"])
    )
    j = pairs.merge(acts, on="account_id")
    j = j[(j["occurred_at"] >= j["as_of"]) & (j["occurred_at"] < j["deadline"])]
    named = (j["play"] == j["play_key"]).fillna(False).astype(bool)
    of_kind = (
        j[["play_key", "kind"]]
        .merge(kinds[["play_key", "kind"]].drop_duplicates(), how="left", indicator=True)["_merge"]
        .eq("both")
        .to_numpy()
    )
    hits = j[named.to_numpy() | of_kind]
    first = hits.groupby("row")["occurred_at"].min()
    rec["done_at"] = first.reindex(range(len(rec))).to_numpy()
    rec["done_at"] = rec["done_at"].astype("datetime64[us]")
    rec["play_done"] = rec["done_at"].notna()
    return rec


def _stratified(part: pd.DataFrame, label: str, z: float) -> dict:
    """Done rate, comparable not-done rate, their difference and interval, on matched strata."""
    keys = [c for c in STRATA if c in part.columns]
    y = part[label].astype("float64")
    g = (
        part.assign(_y=y, _done=part["play_done"].astype(bool))
        .groupby([*keys, "_done"], dropna=False)["_y"]
        .agg(["size", "sum"])
        .unstack("_done", fill_value=0)
    )
    n1 = g["size"].get(True, pd.Series(0, index=g.index)).astype(float)
    x1 = g["sum"].get(True, pd.Series(0, index=g.index)).astype(float)
    n0 = g["size"].get(False, pd.Series(0, index=g.index)).astype(float)
    x0 = g["sum"].get(False, pd.Series(0, index=g.index)).astype(float)
    matched = (n1 > 0) & (n0 > 0)
    n1, x1, n0, x0 = n1[matched], x1[matched], n0[matched], x0[matched]
    total = n1.sum()
    out = {
        "matched_done": int(total),
        "matched_not_done": int(n0.sum()),
        "events_done": int(x1.sum()),
        "events_not_done": int(x0.sum()),
    }
    if total == 0:
        return out | {"rate_done": np.nan, "rate_comparable": np.nan, "difference": np.nan,
                      "low": np.nan, "high": np.nan}  # fmt: skip
    w = n1 / total
    p1, p0 = x1 / n1, x0 / n0
    q1, q0 = (x1 + 0.5) / (n1 + 1), (x0 + 0.5) / (n0 + 1)
    se = float(np.sqrt((w**2 * (q1 * (1 - q1) / n1 + q0 * (1 - q0) / n0)).sum()))
    rate_done, rate_comparable = float((w * p1).sum()), float((w * p0).sum())
    diff = rate_done - rate_comparable
    return out | {
        "rate_done": rate_done,
        "rate_comparable": rate_comparable,
        "difference": diff,
        "low": diff - z * se,
        "high": diff + z * se,
    }


def play_effects(
    evaluated: pd.DataFrame, min_accounts: int = 5, confidence: float = 0.95
) -> pd.DataFrame:
    """One row per play: how often it was done, and later churn and expansion where it was done
    versus comparable accounts where it was not, with the counts behind every figure.

    ``evaluated`` holds one row per recommendation with a known outcome: play_name, play_done,
    churn_tier, segment, as_of, churn_label and upsell_label (0/1). A play with fewer than
    ``min_accounts`` matched accounts on either side gets counts but no estimate.
    """
    _require(
        evaluated, ("play_name", "play_done", "as_of", *OUTCOMES.values()), "the evaluated plays"
    )
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    frame = evaluated.copy()
    for col in ("churn_tier", "segment"):
        frame[col] = frame[col].astype("string").fillna("") if col in frame else ""
    rows = []
    for play, part in frame.groupby("play_name", sort=True):
        done = part["play_done"].astype(bool)
        row = {
            "play_name": play,
            "as_ofs": int(part["as_of"].nunique()),
            "recommended": len(part),
            "done": int(done.sum()),
            "done_share": float(done.mean()),
        }
        for outcome, label in OUTCOMES.items():
            known = part[part[label].notna()]
            stats = _stratified(known, label, z)
            if outcome == "churn":
                row["matched_done"] = stats["matched_done"]
                row["matched_not_done"] = stats["matched_not_done"]
            enough = min(stats["matched_done"], stats["matched_not_done"]) >= min_accounts
            for key in ("rate_done", "rate_comparable", "difference", "low", "high"):
                row[f"{outcome}_{key}"] = stats[key] if enough else np.nan
            row[f"{outcome}_events_done"] = stats["events_done"]
            row[f"{outcome}_events_not_done"] = stats["events_not_done"]
        row["estimated"] = bool(min(row["matched_done"], row["matched_not_done"]) >= min_accounts)
        rows.append(row)
    columns = [
        "play_name",
        "as_ofs",
        "recommended",
        "done",
        "done_share",
        "matched_done",
        "matched_not_done",
        *[
            f"{o}_{k}"
            for o in OUTCOMES
            for k in (
                "rate_done",
                "rate_comparable",
                "difference",
                "low",
                "high",
                "events_done",
                "events_not_done",
            )
        ],
        "estimated",
    ]
    out = pd.DataFrame(rows, columns=columns)
    out.attrs["confidence"] = confidence
    return out


def evaluated_plays(
    evaluated: pd.DataFrame,
    activities: pd.DataFrame,
    play_kinds: Mapping[str, Sequence[str]],
) -> pd.DataFrame:
    """The track record's evaluated accounts (``TrackRecord.evaluated``) with known outcomes,
    and whether their recommended play was done."""
    _require(evaluated, (*RECOMMENDATION_COLUMNS, "outcome_known"), "the evaluated scores")
    known = evaluated[evaluated["outcome_known"].astype(bool)]
    return play_completion(known, activities, play_kinds)
