"""A plain pandas implementation of the feature and label definitions.

The production path compiles ibis expressions to DuckDB or Spark (features.py, labels.py). This
module computes the same columns the straightforward way a data scientist would in a notebook:
one masked groupby per snapshot and family. It is the reference the ibis engine is
parity-tested against on small data, and the baseline the feature benchmark compares speed with.
It is not used by the flows.
"""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd

from churnml.config import LabelConfig
from churnml.contract import (
    BILLING_PERIOD_MONTHS,
    DAYS_PER_MONTH,
    LONG_CONTRACT_DAYS,
    PERIOD_DAYS,
    PERIOD_NUMBER,
)
from churnml.features import HIGH_PRIORITIES, FeatureSpec, _slug

DAY = pd.Timedelta(days=1)


def _seconds(ts: pd.Series) -> np.ndarray:
    """Whole epoch seconds (floored) as floats, NaN for missing: the engines' precision."""
    values = pd.to_datetime(ts).astype("datetime64[us]")
    out = np.floor_divide(values.to_numpy().astype("int64"), 1_000_000).astype("float64")
    out[values.isna().to_numpy()] = np.nan
    return out


def _days_between(later: pd.Series, earlier: pd.Series) -> np.ndarray:
    return (_seconds(later) - _seconds(earlier)) / 86_400.0


def spine(subscriptions: pd.DataFrame, as_of_dates: list[date]) -> pd.DataFrame:
    """Accounts with a live subscription at each as-of: ``start_at <= as_of < end_at``."""
    parts = []
    for d in sorted(set(as_of_dates)):
        as_of = pd.Timestamp(datetime(d.year, d.month, d.day))
        live = subscriptions[
            (subscriptions.start_at <= as_of)
            & (subscriptions.end_at.isna() | (subscriptions.end_at > as_of))
        ]
        parts.append(pd.DataFrame({"account_id": live.account_id.unique(), "as_of": as_of}))
    out = pd.concat(parts, ignore_index=True)
    out["as_of"] = out["as_of"].astype("datetime64[us]")
    return out


def _per_snapshot(base: pd.DataFrame, as_of_spine: pd.DataFrame, compute) -> pd.DataFrame:
    """Run `compute(rows_before_as_of, as_of)` per snapshot and stack the results."""
    parts = []
    for as_of, accounts in as_of_spine.groupby("as_of"):
        result = compute(as_of)
        result = result.reindex(accounts.account_id.to_numpy())
        result.index.name = "account_id"
        parts.append(result.reset_index().assign(as_of=as_of))
    return pd.concat(parts, ignore_index=True)


def usage_features(
    usage: pd.DataFrame, as_of_spine: pd.DataFrame, spec: FeatureSpec
) -> pd.DataFrame:
    usage = usage.assign(day=usage.occurred_at.dt.floor("D"))
    lookback = spec.lookback_days
    out = _per_snapshot(usage, as_of_spine, lambda as_of: _usage_at(usage, as_of, spec))
    slugs = [_slug(et) for et in spec.event_types]
    special = {"usage_trend_ratio": 1.0, "usage_days_since_last_activity": float(lookback + 1)}
    special.update({f"usage_{slug}_trend_ratio": 1.0 for slug in slugs})
    unknown = {f"usage_events_per_active_user_{w}d" for w in spec.windows_days}
    for column in out.columns:
        if column in special:
            out[column] = out[column].fillna(special[column])
        elif column not in ("account_id", "as_of", *unknown):
            out[column] = out[column].fillna(0)
    return out


def _usage_windows_at(recent: pd.DataFrame, as_of: pd.Timestamp, spec) -> dict[str, pd.Series]:
    cols: dict[str, pd.Series] = {}
    for w in spec.windows_days:
        inw = recent[recent.day >= as_of - w * DAY]
        g = inw.groupby("account_id")
        cols[f"usage_events_{w}d"] = g.size()
        cols[f"usage_quantity_{w}d"] = g.quantity.sum().astype("float64")
        cols[f"usage_active_days_{w}d"] = g.day.nunique()
        tracked = inw[inw.event_type.isin(spec.event_types)]
        cols[f"usage_feature_breadth_{w}d"] = tracked.groupby("account_id").event_type.nunique()
        with_user = inw[inw.user_id.notna()]
        cols[f"usage_active_users_{w}d"] = with_user.groupby("account_id").user_id.nunique()
        for et in spec.event_types:
            by_type = inw[inw.event_type == et].groupby("account_id")
            cols[f"usage_{_slug(et)}_{w}d"] = by_type.size()
    return cols


def _usage_lifetime_at(before: pd.DataFrame, spec) -> dict[str, pd.Series]:
    life = before.groupby("account_id")
    cols = {
        "usage_events_lifetime": life.size(),
        "usage_active_days_lifetime": life.day.nunique(),
    }
    for et in spec.event_types:
        by_type = before[before.event_type == et].groupby("account_id")
        cols[f"usage_{_slug(et)}_lifetime"] = by_type.size()
    return cols


def _usage_at(usage: pd.DataFrame, as_of: pd.Timestamp, spec: FeatureSpec) -> pd.DataFrame:
    main_w = spec.trend_window_days
    before = usage[usage.day < as_of]
    recent = before[before.day >= as_of - spec.lookback_days * DAY]
    main = recent[recent.day >= as_of - main_w * DAY]
    prev = recent[(recent.day >= as_of - 2 * main_w * DAY) & (recent.day < as_of - main_w * DAY)]
    cols = _usage_windows_at(recent, as_of, spec) | _usage_lifetime_at(before, spec)
    cols["usage_events_prev_period"] = prev.groupby("account_id").size()
    frame = pd.DataFrame(cols).reindex(before.account_id.unique()).fillna(0)
    frame["usage_trend_ratio"] = (frame[f"usage_events_{main_w}d"] + 1.0) / (
        frame["usage_events_prev_period"] + 1.0
    )
    for et in spec.event_types:
        now, then = (
            part[part.event_type == et].groupby("account_id").size().reindex(frame.index).fillna(0)
            for part in (main, prev)
        )
        frame[f"usage_{_slug(et)}_trend_ratio"] = (now + 1.0) / (then + 1.0)
    last_day = recent.groupby("account_id").day.max()
    gap = _days_between(pd.Series(as_of, index=last_day.index), last_day)
    frame["usage_days_since_last_activity"] = pd.Series(np.floor(gap), index=last_day.index)
    for w in spec.windows_days:
        events = frame[f"usage_events_{w}d"]
        days, users = frame[f"usage_active_days_{w}d"], frame[f"usage_active_users_{w}d"]
        frame[f"usage_events_per_active_day_{w}d"] = (events / days.where(days > 0)).fillna(0.0)
        frame[f"usage_events_per_active_user_{w}d"] = events / users.where(users > 0)
    if spec.onboarding_events:
        early = before[before.event_type.isin(spec.onboarding_events)]
        frame = frame.reindex(frame.index.union(pd.Index(early.account_id.unique())))
        frame["usage_onboarding_milestones"] = early.groupby("account_id").event_type.nunique()
    return frame


def support_features(
    tickets: pd.DataFrame, as_of_spine: pd.DataFrame, spec: FeatureSpec
) -> pd.DataFrame:
    long_w = max(spec.windows_days)
    main_w = spec.trend_window_days
    high_all = tickets.priority.str.lower().isin(HIGH_PRIORITIES)

    def compute(as_of: pd.Timestamp) -> pd.DataFrame:
        seen = tickets[tickets.opened_at < as_of]
        high = high_all.loc[seen.index]
        closed_before = seen.closed_at.notna() & (seen.closed_at < as_of)
        open_at = ~closed_before
        responded = seen.first_response_at.notna() & (seen.first_response_at < as_of)
        cols: dict[str, pd.Series] = {}
        for w in spec.windows_days:
            inw = seen.opened_at >= as_of - w * DAY
            cols[f"support_tickets_{w}d"] = seen[inw].groupby("account_id").size()
            cols[f"support_high_priority_tickets_{w}d"] = (
                seen[inw & high].groupby("account_id").size()
            )
        in_long = seen.opened_at >= as_of - long_w * DAY
        for cat in spec.ticket_categories:
            cols[f"support_{_slug(cat)}_tickets_{long_w}d"] = (
                seen[in_long & (seen.category == cat)].groupby("account_id").size()
            )
        opened = seen[open_at]
        cols["support_open_tickets"] = opened.groupby("account_id").size()
        cols["support_open_high_priority_tickets"] = (
            seen[open_at & high].groupby("account_id").size()
        )
        age = pd.Series(
            _days_between(pd.Series(as_of, index=opened.index), opened.opened_at),
            index=opened.index,
        )
        cols["support_oldest_open_ticket_days"] = age.groupby(opened.account_id).max()
        cols["support_unanswered_tickets"] = seen[open_at & ~responded].groupby("account_id").size()
        answered = seen[in_long & responded]
        hours = _days_between(answered.first_response_at, answered.opened_at) * 24.0
        cols[f"support_first_response_hours_{long_w}d"] = (
            pd.Series(hours, index=answered.index).groupby(answered.account_id).mean()
        )
        resolved = seen[closed_before & (seen.closed_at >= as_of - long_w * DAY)]
        hours = _days_between(resolved.closed_at, resolved.opened_at) * 24.0
        cols[f"support_resolution_hours_{long_w}d"] = (
            pd.Series(hours, index=resolved.index).groupby(resolved.account_id).mean()
        )
        escalated = resolved.escalated.astype("boolean").fillna(False).astype(bool)
        cols[f"support_escalations_{long_w}d"] = resolved[escalated].groupby("account_id").size()
        cols[f"support_satisfaction_{long_w}d"] = resolved.groupby("account_id").satisfaction.mean()
        prev = seen[
            (seen.opened_at >= as_of - 2 * main_w * DAY) & (seen.opened_at < as_of - main_w * DAY)
        ]
        cols[f"support_tickets_{main_w}d_prev_period"] = prev.groupby("account_id").size()
        return pd.DataFrame(cols)

    out = _per_snapshot(tickets, as_of_spine, compute)
    nullable = {
        f"support_first_response_hours_{long_w}d",
        f"support_resolution_hours_{long_w}d",
        f"support_satisfaction_{long_w}d",
    }
    for column in out.columns:
        if column not in nullable and column not in ("account_id", "as_of"):
            out[column] = out[column].fillna(0)
    return out


def _plan_rank(plan: pd.Series, plan_order: tuple[str, ...]) -> pd.Series:
    ranks = {p: i + 1 for i, p in enumerate(plan_order)}
    return plan.map(ranks).fillna(0).astype("int64")


def _period_days(period: pd.Series) -> pd.Series:
    """Billing period length in days: names, months, or "N days" (NaN when unreadable)."""
    text = period.astype("string").str.strip().str.lower()
    named = text.map(BILLING_PERIOD_MONTHS).astype("float64") * DAYS_PER_MONTH
    months = text.where(text.str.fullmatch(PERIOD_NUMBER[1:-1]).fillna(False))
    days = text.where(text.str.fullmatch(PERIOD_DAYS[1:-1]).fillna(False))
    length = named.fillna(pd.to_numeric(months, errors="coerce") * DAYS_PER_MONTH).fillna(
        pd.to_numeric(days.str.extract(r"^([0-9.]+)", expand=False), errors="coerce")
    )
    return length.where(length > 0).astype("float64")


def contract_features(
    subscriptions: pd.DataFrame,
    accounts: pd.DataFrame,
    as_of_spine: pd.DataFrame,
    spec: FeatureSpec,
) -> pd.DataFrame:
    subs = subscriptions.assign(plan_rank=_plan_rank(subscriptions.plan, spec.plan_order))
    subs = subs.sort_values(["account_id", "start_at"], kind="stable")
    subs["prev_mrr"] = subs.groupby("account_id").mrr.shift()
    first_start = subs.groupby("account_id").start_at.min()
    created = accounts.set_index("account_id").created_at

    def live_at(at: pd.Timestamp) -> pd.DataFrame:
        rows = subs.assign(_at=at)
        return _live_before(rows, ["account_id"], spec.reactivation_gap_days).drop(columns="_at")

    def compute(as_of: pd.Timestamp) -> pd.DataFrame:
        live = live_at(as_of).copy()
        given = _period_days(live.billing_period)
        period = given.fillna(DAYS_PER_MONTH)
        since = _days_between(pd.Series(as_of, index=live.index), live.start_at)
        live["since_start"] = since
        live["period_days"] = period
        live["days_to_renewal"] = period - (since - np.floor(since / period) * period)
        live["is_annual"] = (
            (given >= LONG_CONTRACT_DAYS).astype("Int64").where(live.billing_period.notna())
        )
        g = live.groupby("account_id")
        frame = pd.DataFrame(
            {
                "contract_mrr": g.mrr.sum().astype("float64"),
                "contract_seats": g.seats.sum().astype("float64"),
                "contract_plan_rank": g.plan_rank.max(),
                "contract_plan": g.plan.max(),
                "contract_is_annual": g.is_annual.max(),
                "contract_billing_months": g.period_days.max() / DAYS_PER_MONTH,
                "contract_days_to_renewal": g.days_to_renewal.min(),
                "contract_current_period_days": g.since_start.min(),
            }
        )
        before = live_at(as_of - 90 * DAY).groupby("account_id").mrr.sum().astype("float64")
        mrr_before = before.reindex(frame.index).fillna(0.0)
        recent = subs[(subs.start_at < as_of) & (subs.start_at >= as_of - 180 * DAY)]
        has_prev = recent.prev_mrr.notna()
        frame["contract_downgrades_180d"] = (
            recent[has_prev & (recent.mrr < recent.prev_mrr)].groupby("account_id").size()
        )
        frame["contract_upgrades_180d"] = (
            recent[has_prev & (recent.mrr > recent.prev_mrr)].groupby("account_id").size()
        )
        frame[["contract_downgrades_180d", "contract_upgrades_180d"]] = frame[
            ["contract_downgrades_180d", "contract_upgrades_180d"]
        ].fillna(0)
        acc_created = created.reindex(frame.index)
        tenure_from = acc_created.where(acc_created < as_of).fillna(
            first_start.reindex(frame.index)
        )
        frame["contract_tenure_days"] = _days_between(
            pd.Series(as_of, index=frame.index), tenure_from
        )
        frame["contract_mrr_change_90d"] = frame.contract_mrr - mrr_before
        frame["contract_mrr_change_ratio_90d"] = np.where(
            mrr_before > 0, frame.contract_mrr / mrr_before.where(mrr_before > 0, 1.0), 1.0
        )
        frame["contract_arr"] = frame.contract_mrr * 12.0
        frame["contract_mrr_per_seat"] = frame.contract_mrr / frame.contract_seats.where(
            frame.contract_seats > 0
        )
        return frame

    return _per_snapshot(subs, as_of_spine, compute)


def nps_features(nps: pd.DataFrame, as_of_spine: pd.DataFrame) -> pd.DataFrame:
    ordered = nps.sort_values(
        ["account_id", "responded_at"], ascending=[True, False], kind="stable"
    )

    def compute(as_of: pd.Timestamp) -> pd.DataFrame:
        seen = ordered[ordered.responded_at < as_of]
        g = seen.groupby("account_id")
        last = g.nth(0).set_index("account_id")
        prev = g.nth(1).set_index("account_id")
        frame = pd.DataFrame({"nps_last_score": last.score.astype("float64")})
        frame["nps_responses"] = g.size()
        frame["nps_score_change"] = frame.nps_last_score - prev.score.astype("float64")
        frame["nps_days_since_response"] = _days_between(
            pd.Series(as_of, index=last.index), last.responded_at
        )
        frame["nps_is_detractor"] = (
            (frame.nps_last_score <= 6).astype("Int64").where(frame.nps_last_score.notna())
        )
        return frame

    out = _per_snapshot(ordered, as_of_spine, compute)
    out["nps_responses"] = out["nps_responses"].fillna(0)
    return out


def attribute_features(
    accounts: pd.DataFrame, as_of_spine: pd.DataFrame, spec: FeatureSpec
) -> pd.DataFrame:
    acc = accounts.set_index("account_id")
    out = as_of_spine[["account_id", "as_of"]].copy()
    for c in spec.categorical_attributes:
        out[f"attr_{c}"] = out.account_id.map(acc[c]).astype("string")
    for c in spec.numeric_attributes:
        out[f"attr_{c}"] = out.account_id.map(acc[c]).astype("float64")
    return out


def build_features(
    frames: dict[str, pd.DataFrame], as_of_dates: list[date], spec: FeatureSpec
) -> pd.DataFrame:
    """Every feature family for every active account at every as-of, in plain pandas."""
    base = spine(frames["subscriptions"], as_of_dates)
    parts = [
        contract_features(frames["subscriptions"], frames["accounts"], base, spec),
        attribute_features(frames["accounts"], base, spec),
    ]
    if spec.has_usage:
        parts.insert(0, usage_features(frames["usage_events"], base, spec))
    if spec.has_support:
        parts.insert(-2, support_features(frames["support_tickets"], base, spec))
    if spec.has_nps and "nps_responses" in frames:
        parts.append(nps_features(frames["nps_responses"], base))
    out = base
    for part in parts:
        out = out.merge(part, on=["account_id", "as_of"], how="left")
    # a first contract starting exactly at the as-of: in the snapshot, no MRR before it
    out["contract_mrr"] = out.contract_mrr.fillna(0.0)
    out["contract_arr"] = out.contract_arr.fillna(0.0)
    if spec.has_usage:
        seats = out.contract_seats
        users = out[f"usage_active_users_{spec.trend_window_days}d"].astype("float64")
        months = out.contract_tenure_days / DAYS_PER_MONTH
        months = months.where(months > 1.0, 1.0)
        per_contract = {
            "usage_active_users_per_seat": (users / seats).where(seats > 0),
            "usage_events_per_month": out.usage_events_lifetime.astype("float64") / months,
            "usage_active_days_per_month": out.usage_active_days_lifetime.astype("float64")
            / months,
        }
        out = pd.concat([out, pd.DataFrame(per_contract, index=out.index)], axis=1)
    return out.sort_values(["as_of", "account_id"]).reset_index(drop=True)


def active_periods(subscriptions: pd.DataFrame, reactivation_gap_days: int) -> pd.DataFrame:
    """Subscription rows merged into periods separated by at least the reactivation gap."""
    far = pd.Timestamp("9999-01-01")
    s = subscriptions[["account_id", "start_at", "end_at"]].copy()
    s["end_filled"] = s.end_at.fillna(far)
    s = s.sort_values(["account_id", "start_at", "end_filled"], kind="stable")
    rows = []
    gap = pd.Timedelta(days=reactivation_gap_days)
    for account, group in s.groupby("account_id", sort=False):
        start, end = None, None
        for r in group.itertuples(index=False):
            if start is None or r.start_at >= end + gap:
                if start is not None:
                    rows.append((account, start, end))
                start, end = r.start_at, r.end_filled
            else:
                end = max(end, r.end_filled)
        rows.append((account, start, end))
    periods = pd.DataFrame(rows, columns=["account_id", "period_start", "period_end"])
    periods["period_end"] = periods.period_end.where(periods.period_end < far)
    return periods


def _live_before(rows: pd.DataFrame, keys: list[str], reactivation_gap_days: int) -> pd.DataFrame:
    """The subscription rows live at the last instant before ``_at`` at which the key had a live
    row, looking back at most the reactivation gap (churnml.features.live_rows_before)."""
    at = rows["_at"]
    gap = pd.Timedelta(days=reactivation_gap_days)
    rows = rows[(rows.start_at < at) & (rows.end_at.isna() | (rows.end_at > at - gap))]
    end = rows.end_at.fillna(rows["_at"])
    last = end.where(end < rows["_at"], rows["_at"]) - pd.Timedelta(microseconds=1)
    base_at = last.groupby([rows[k] for k in keys]).transform("max")
    return rows[(rows.start_at <= base_at) & (rows.end_at.isna() | (rows.end_at > base_at))]


def _state_at(subs: pd.DataFrame, points: pd.DataFrame, at: str) -> pd.DataFrame:
    """Account MRR, seats and best plan at each (account_id, as_of, at) instant."""
    j = points.merge(subs, on="account_id")
    j = j[(j.start_at <= j[at]) & (j.end_at.isna() | (j.end_at > j[at]))]
    g = j.assign(seats=j.seats.fillna(0)).groupby(["account_id", "as_of", at])
    return g.agg(
        mrr=("mrr", "sum"), seats=("seats", "sum"), rank=("plan_rank", "max")
    ).reset_index()


def build_labels(
    subscriptions: pd.DataFrame,
    as_of_spine: pd.DataFrame,
    labels: LabelConfig,
    observed_until: datetime,
) -> pd.DataFrame:
    """Churn and upsell labels per (account_id, as_of); missing where the horizon is open."""
    end = pd.Timestamp(observed_until)
    churn_h = pd.Timedelta(days=labels.churn_horizon_days)
    up_h = pd.Timedelta(days=labels.upsell_horizon_days)
    gap = pd.Timedelta(days=labels.reactivation_gap_days)
    base = as_of_spine[["account_id", "as_of"]].copy()
    base["as_of"] = pd.to_datetime(base.as_of)

    periods = active_periods(subscriptions, labels.reactivation_gap_days)
    j = base.merge(periods, on="account_id")
    j = j[(j.period_start <= j.as_of) & (j.period_end.isna() | (j.period_end > j.as_of))]
    j = j.assign(churned=j.period_end.notna() & (j.period_end <= j.as_of + churn_h))
    churn = j.groupby(["account_id", "as_of"]).agg(
        churned=("churned", "max"), churn_at=("period_end", "max")
    )
    out = base.merge(churn.reset_index(), on=["account_id", "as_of"], how="left")
    mature = out.as_of + churn_h + gap <= end
    out["churn_label"] = out.churned.astype("Int64").where(mature)
    out["churn_at"] = out.churn_at.where(mature & (out.churn_label == 1))

    subs = subscriptions.assign(plan_rank=_plan_rank(subscriptions.plan, tuple(labels.plan_order)))
    rows = base.merge(subs, on="account_id").assign(_at=lambda f: f.as_of)
    live = _live_before(rows, ["account_id", "as_of"], labels.reactivation_gap_days)
    now = (
        live.assign(seats=live.seats.fillna(0))
        .groupby(["account_id", "as_of"])
        .agg(mrr=("mrr", "sum"), seats=("seats", "sum"), rank=("plan_rank", "max"))
        .reset_index()
    )
    # no row before the as-of: the account grows from the row starting at it
    first = _state_at(subs, base.assign(first_at=base.as_of), "first_at").drop(columns="first_at")
    known = now.set_index(["account_id", "as_of"]).index
    first = first[~first.set_index(["account_id", "as_of"]).index.isin(known)]
    now = pd.concat([now, first], ignore_index=True)
    starts = base.merge(subs[["account_id", "start_at"]], on="account_id")
    starts = starts[(starts.start_at >= starts.as_of) & (starts.start_at < starts.as_of + up_h)]
    changes = starts.rename(columns={"start_at": "change_at"}).drop_duplicates()
    future = _state_at(subs, changes, "change_at")
    best = future.groupby(["account_id", "as_of"]).agg(
        max_mrr=("mrr", "max"), max_seats=("seats", "max"), max_rank=("rank", "max")
    )
    up = base.merge(now, on=["account_id", "as_of"], how="left").merge(
        best.reset_index(), on=["account_id", "as_of"], how="left"
    )
    grew = (
        (up.max_mrr >= up.mrr * (1.0 + labels.upsell_min_mrr_share))
        & (up.max_mrr - up.mrr >= labels.upsell_min_mrr_amount)
        & (up.max_mrr > up.mrr)
    )
    upsold = up.max_mrr.notna() & (
        grew | (up["max_seats"] > up["seats"]) | (up["max_rank"] > up["rank"])
    )
    out = out.merge(
        up[["account_id", "as_of"]].assign(upsold=upsold.astype("int64")),
        on=["account_id", "as_of"],
    )
    out["upsell_label"] = out.upsold.astype("Int64").where(out.as_of + up_h <= end)
    out["as_of"] = out.as_of.astype(as_of_spine.as_of.dtype)
    out["churn_at"] = pd.to_datetime(out.churn_at).astype("datetime64[us]")
    return out[["account_id", "as_of", "churn_label", "churn_at", "upsell_label"]]


def feature_matrix(
    frames: dict[str, pd.DataFrame],
    as_of_dates: list[date],
    spec: FeatureSpec,
    labels: LabelConfig | None = None,
    observed_until: datetime | None = None,
) -> pd.DataFrame:
    """The reference counterpart of churnml.matrix.feature_matrix."""
    features = build_features(frames, as_of_dates, spec)
    if labels is None:
        return features
    base = features[["account_id", "as_of"]]
    y = build_labels(frames["subscriptions"], base, labels, observed_until)
    return features.merge(y, on=["account_id", "as_of"], how="inner")
