"""Churn and expansion labels: tested functions of (as-of, horizon, definition).

Labels look only at the outcome data inside the horizon after the as-of (plus the reactivation
gap for churn). A snapshot whose horizon is not over at ``observed_until`` gets no label: it is
kept for scoring, never for training.

Where outcomes come from (``labels.churn_source`` / ``upsell_source``, docs/training.md):
churn is the end of an active period of subscriptions, a row of ``churn_events``, or an account
whose ``status`` is a churned status with its ``churned_at``; upsell is a rise of subscription
MRR, seats or plan, or a row of ``expansion_events``. Time follows the contract's half-open
intervals: an account is active at t when ``start_at <= t < end_at``, so a churn dated exactly
``as_of + horizon`` is inside the horizon (the account is gone at its last instant) and one
dated exactly at the as-of is not (the account is not active then).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

import ibis
import ibis.expr.types as ir

from churnml.config import LabelConfig
from churnml.features import live_rows_before, plan_rank

FAR_FUTURE = datetime(9999, 1, 1)


def active_periods(subscriptions: ir.Table, reactivation_gap_days: int) -> ir.Table:
    """Merge an account's subscription rows into active periods.

    Rows that overlap, touch, or are separated by less than the gap belong to one period: a
    customer who cancels and comes back within the gap has not churned.
    """
    s = subscriptions.select(
        "account_id",
        "start_at",
        end_filled=subscriptions.end_at.fill_null(ibis.timestamp(FAR_FUTURE)),
    )
    ordered = ibis.window(group_by="account_id", order_by=["start_at", "end_filled"])
    running = ibis.window(
        group_by="account_id", order_by=["start_at", "end_filled"], preceding=None, following=0
    )
    s = s.mutate(reach=s.end_filled.max().over(running))
    s = s.mutate(prev_reach=s.reach.lag().over(ordered))
    gap = ibis.interval(days=reactivation_gap_days)
    s = s.mutate(
        is_new=ibis.ifelse(s.prev_reach.isnull() | (s.start_at >= s.prev_reach + gap), 1, 0)
    )
    s = s.mutate(period=s.is_new.sum().over(running))
    periods = s.group_by(["account_id", "period"]).aggregate(
        period_start=s.start_at.min(), period_end=s.end_filled.max()
    )
    return periods.mutate(
        period_end=ibis.ifelse(
            periods.period_end >= ibis.timestamp(FAR_FUTURE),
            ibis.null("timestamp"),
            periods.period_end,
        )
    )


def outcome_churns(tables: dict[str, ir.Table], labels: LabelConfig) -> ir.Table | None:
    """(account_id, churned_at) when churn is recorded apart from the subscriptions; None when
    churn is read off subscription ends."""
    if labels.churn_source == "churn_events":
        events = tables["churn_events"]
        return events.filter(events.churned_at.notnull()).select("account_id", "churned_at")
    if labels.churn_source == "account_status":
        accounts = tables["accounts"]
        statuses = [s.strip().lower() for s in labels.churned_statuses]
        gone = accounts.status.strip().lower().isin(statuses) & accounts.churned_at.notnull()
        return accounts.filter(gone).select("account_id", "churned_at")
    return None


def lasting_churns(
    churns: ir.Table, subscriptions: ir.Table | None, reactivation_gap_days: int
) -> ir.Table:
    """The recorded churns the account does not come back from within the reactivation gap
    (no subscription row starting in ``[churned_at, churned_at + gap)``)."""
    churns = churns.select("account_id", "churned_at").distinct()
    if subscriptions is None:
        return churns
    starts = subscriptions.select(back_account="account_id", back_at="start_at")
    gap = ibis.interval(days=reactivation_gap_days)
    j = churns.inner_join(starts, churns.account_id == starts.back_account)
    back = (
        j.filter((j.back_at >= j.churned_at) & (j.back_at < j.churned_at + gap))
        .select("account_id", "churned_at")
        .distinct()
    )
    return churns.anti_join(back, ["account_id", "churned_at"])


def _churn_found(
    subscriptions: ir.Table | None, spine: ir.Table, labels: LabelConfig, churns: ir.Table | None
) -> ir.Table:
    """Per (account_id, as_of) in the horizon: churned (0/1) and when, from the outcome source."""
    horizon = ibis.interval(days=labels.churn_horizon_days)
    if churns is not None:
        lasting = lasting_churns(churns, subscriptions, labels.reactivation_gap_days)
        j = spine.inner_join(lasting, "account_id")
        j = j.filter((j.churned_at > j.as_of) & (j.churned_at <= j.as_of + horizon))
        return j.group_by([j.account_id, j.as_of]).aggregate(
            churned=j.count().cast("int64").clip(upper=1), churn_at=j.churned_at.min()
        )
    periods = active_periods(subscriptions, labels.reactivation_gap_days)
    # Join on the account only, then filter: an OR inside a join condition made DuckDB fall back
    # from a hash join (53 s instead of under a second on 630k account-snapshots).
    j = spine.inner_join(periods, "account_id")
    j = j.filter((j.period_start <= j.as_of) & (j.period_end.isnull() | (j.period_end > j.as_of)))
    churned = j.period_end.notnull() & (j.period_end <= j.as_of + horizon)
    return j.group_by([j.account_id, j.as_of]).aggregate(
        churned=churned.cast("int64").max(), churn_at=j.period_end.max()
    )


def churn_labels(
    subscriptions: ir.Table | None,
    spine: ir.Table,
    labels: LabelConfig,
    observed_until: datetime,
    churns: ir.Table | None = None,
) -> ir.Table:
    """1 when the account's active period ends (or, with ``churns`` from outcome_churns, a
    recorded churn falls) in ``(as_of, as_of + horizon]`` and it does not come back within the
    reactivation gap; NULL when the horizon (plus gap) is not yet observed. Without
    subscriptions, ``churns`` are the only outcome and nothing records a return."""
    if subscriptions is None and churns is None:
        raise ValueError("churn labels need the subscriptions or a churn source")
    found = _churn_found(subscriptions, spine, labels, churns)
    out = spine.left_join(found, ["account_id", "as_of"]).select(
        spine.account_id, spine.as_of, found.churned, found.churn_at
    )
    out = out.mutate(churned=out.churned.fill_null(0))
    mature = out.as_of + ibis.interval(
        days=labels.churn_horizon_days + labels.reactivation_gap_days
    ) <= ibis.timestamp(observed_until)
    out = out.mutate(mature=mature.cast("int64"))
    return out.select(
        "account_id",
        "as_of",
        churn_label=ibis.ifelse(out.mature == 1, out.churned, ibis.null("int64")),
        churn_at=ibis.ifelse(
            (out.mature == 1) & (out.churned == 1), out.churn_at, ibis.null("timestamp")
        ),
    )


def _state_at(subs: ir.Table, points: ir.Table, at: str) -> ir.Table:
    """Account-level MRR, seats and best plan at each (account_id, point) instant."""
    j = points.inner_join(
        subs,
        [
            points.account_id == subs.account_id,
            subs.start_at <= points[at],
            subs.end_at.isnull() | (subs.end_at > points[at]),
        ],
    )
    return j.group_by([j.account_id, j.as_of, j[at]]).aggregate(
        mrr=j.mrr.sum(), seats=j.seats.fill_null(0).sum(), rank=j.plan_rank.max()
    )


def _base_state(subs: ir.Table, spine: ir.Table, reactivation_gap_days: int) -> ir.Table:
    """MRR, seats and plan rank just before each as-of, across a renewal gap shorter than the
    reactivation gap (the state the features see, live_rows_before)."""
    points = spine.select("account_id", "as_of")
    live = live_rows_before(subs, points, "as_of", reactivation_gap_days)
    return live.group_by(["account_id", "as_of"]).aggregate(
        base_mrr=live.mrr.sum(),
        base_seats=live.seats.fill_null(0).sum(),
        base_rank=live.plan_rank.max(),
    )


def upsell_labels(
    subscriptions: ir.Table, spine: ir.Table, labels: LabelConfig, observed_until: datetime
) -> ir.Table:
    """1 when, within ``[as_of, as_of + horizon)``, account MRR rises by the configured share and
    amount, or the seat count or plan rank goes up; NULL when the horizon is not yet observed."""
    subs = subscriptions.mutate(plan_rank=plan_rank(subscriptions.plan, tuple(labels.plan_order)))
    base = _base_state(subs, spine, labels.reactivation_gap_days)
    horizon = ibis.interval(days=labels.upsell_horizon_days)
    changes = (
        spine.inner_join(
            subs,
            [
                spine.account_id == subs.account_id,
                subs.start_at >= spine.as_of,
                subs.start_at < spine.as_of + horizon,
            ],
        )
        .select("account_id", "as_of", change_at="start_at")
        .distinct()
    )
    future = _state_at(subs, changes, "change_at")
    best = future.group_by(["account_id", "as_of"]).aggregate(
        max_mrr=future.mrr.max(), max_seats=future.seats.max(), max_rank=future.rank.max()
    )
    # an account whose first row starts at the as-of grows from that row (a new customer's
    # expansion within the horizon is one); no row before it means no base
    first = _state_at(subs, spine.select("account_id", "as_of", first_at=spine.as_of), "first_at")
    out = spine.left_join(base, ["account_id", "as_of"]).select(
        spine, base.base_mrr, base.base_seats, base.base_rank
    )
    out = out.left_join(first, ["account_id", "as_of"])
    new = out.base_mrr.isnull()
    out = out.select(
        *spine.columns,
        base_mrr=ibis.ifelse(new, out.mrr, out.base_mrr),
        base_seats=ibis.ifelse(new, out.seats, out.base_seats),
        base_rank=ibis.ifelse(new, out.rank, out.base_rank),
    )
    out = out.left_join(best, ["account_id", "as_of"]).select(
        out, best.max_mrr, best.max_seats, best.max_rank
    )
    grew_mrr = (
        (out.max_mrr >= out.base_mrr * (1.0 + labels.upsell_min_mrr_share))
        & (out.max_mrr - out.base_mrr >= labels.upsell_min_mrr_amount)
        & (out.max_mrr > out.base_mrr)
    )
    upsold = out.max_mrr.notnull() & (
        grew_mrr | (out.max_seats > out.base_seats) | (out.max_rank > out.base_rank)
    )
    mature = out.as_of + horizon <= ibis.timestamp(observed_until)
    return out.select(
        "account_id",
        "as_of",
        upsell_label=ibis.ifelse(mature, upsold.fill_null(False).cast("int64"), ibis.null("int64")),
    )


def upsell_labels_from_events(
    expansions: ir.Table,
    subscriptions: ir.Table | None,
    spine: ir.Table,
    labels: LabelConfig,
    observed_until: datetime,
) -> ir.Table:
    """1 when an expansion event falls in ``[as_of, as_of + horizon)``. An event without an
    amount always counts; one with an amount counts when it is positive, at least
    ``upsell_min_mrr_amount`` and at least ``upsell_min_mrr_share`` of the MRR just before the
    as-of (when the subscriptions give one). NULL when the horizon is not yet observed."""
    if subscriptions is None:
        base = spine.select("account_id", "as_of", base_mrr=ibis.null("float64"))
    else:
        subs = subscriptions.mutate(
            plan_rank=plan_rank(subscriptions.plan, tuple(labels.plan_order))
        )
        base = _base_state(subs, spine, labels.reactivation_gap_days).select(
            "account_id", "as_of", "base_mrr"
        )
    horizon = ibis.interval(days=labels.upsell_horizon_days)
    e = expansions.select("account_id", "occurred_at", amount=expansions.amount.cast("float64"))
    j = spine.left_join(base, ["account_id", "as_of"]).select(spine, base.base_mrr)
    j = j.inner_join(e, "account_id")
    j = j.filter((j.occurred_at >= j.as_of) & (j.occurred_at < j.as_of + horizon))
    share_ok = j.base_mrr.isnull() | (j.amount >= j.base_mrr * labels.upsell_min_mrr_share)
    counts = j.amount.isnull() | (
        (j.amount > 0) & (j.amount >= labels.upsell_min_mrr_amount) & share_ok
    )
    found = j.group_by([j.account_id, j.as_of]).aggregate(upsold=counts.cast("int64").max())
    out = spine.left_join(found, ["account_id", "as_of"]).select(spine, found.upsold)
    mature = out.as_of + horizon <= ibis.timestamp(observed_until)
    return out.select(
        "account_id",
        "as_of",
        upsell_label=ibis.ifelse(mature, out.upsold.fill_null(0), ibis.null("int64")),
    )


def build_labels(
    subscriptions: ir.Table | None,
    spine: ir.Table,
    labels: LabelConfig,
    observed_until: datetime,
    churns: ir.Table | None = None,
    expansions: ir.Table | None = None,
) -> ir.Table:
    """Both labels on the spine; NULL where the horizon is not observed yet.

    ``churns`` (from outcome_churns) and ``expansions`` (the expansion_events table) replace
    subscription ends and subscription changes as the outcome when given. With neither
    subscriptions nor expansions nothing shows an upsell: its label is NULL everywhere
    (unmeasured_targets says why).
    """
    churn = churn_labels(subscriptions, spine, labels, observed_until, churns)
    if expansions is None and subscriptions is None:
        upsell = spine.select("account_id", "as_of", upsell_label=ibis.null("int64"))
    elif expansions is None:
        upsell = upsell_labels(subscriptions, spine, labels, observed_until)
    else:
        upsell = upsell_labels_from_events(expansions, subscriptions, spine, labels, observed_until)
    return churn.inner_join(upsell, ["account_id", "as_of"]).select(churn, upsell.upsell_label)


def unmeasured_targets(sources: Collection[str], labels: LabelConfig) -> dict[str, str]:
    """Targets no configured table can label, each with the one line saying what to map."""
    if labels.upsell_source == "subscriptions" and "subscriptions" not in sources:
        return {
            "upsell": "upsell_label: nothing records an upsell (sources.subscriptions is not "
            "configured); map an expansion_events table (labels.upsell_source: "
            "expansion_events) to train it"
        }
    return {}


def outcome_tables(
    tables: dict[str, ir.Table], labels: LabelConfig
) -> tuple[ir.Table | None, ir.Table | None]:
    """(churns, expansions) for build_labels, as the label config says."""
    expansions = tables["expansion_events"] if labels.upsell_source == "expansion_events" else None
    return outcome_churns(tables, labels), expansions
