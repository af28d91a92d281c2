"""Point-in-time features, one ibis expression per family, compiled to DuckDB or Spark.

Every feature of the row (account_id, as_of) is computed from records strictly before
``as_of``: window joins use ``ts < as_of``, ticket states are read off their timestamps at the
as-of (never off a current ``status``), and subscription ends after the as-of are not seen.
The same functions run on any ibis backend, so the definitions are written once.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from churnml.config import ChurnmlConfig

SECONDS_PER_DAY = 86_400.0
HIGH_PRIORITIES = ("high", "urgent")
MAX_EVENT_TYPES = 25
MAX_TICKET_CATEGORIES = 12


@dataclass(frozen=True)
class FeatureSpec:
    """What the feature frame looks like: fixed at training, reused unchanged at scoring."""

    windows_days: tuple[int, ...]
    trend_window_days: int
    event_types: tuple[str, ...]
    ticket_categories: tuple[str, ...]
    onboarding_events: tuple[str, ...]
    plan_order: tuple[str, ...]
    categorical_attributes: tuple[str, ...]
    numeric_attributes: tuple[str, ...]
    has_nps: bool = True

    @property
    def lookback_days(self) -> int:
        return max(max(self.windows_days), 2 * self.trend_window_days)

    def to_dict(self) -> dict:
        return {
            "windows_days": list(self.windows_days),
            "trend_window_days": self.trend_window_days,
            "event_types": list(self.event_types),
            "ticket_categories": list(self.ticket_categories),
            "onboarding_events": list(self.onboarding_events),
            "plan_order": list(self.plan_order),
            "categorical_attributes": list(self.categorical_attributes),
            "numeric_attributes": list(self.numeric_attributes),
            "has_nps": self.has_nps,
        }

    @classmethod
    def from_dict(cls, raw: dict) -> FeatureSpec:
        return cls(
            windows_days=tuple(raw["windows_days"]),
            trend_window_days=raw["trend_window_days"],
            event_types=tuple(raw["event_types"]),
            ticket_categories=tuple(raw["ticket_categories"]),
            onboarding_events=tuple(raw["onboarding_events"]),
            plan_order=tuple(raw["plan_order"]),
            categorical_attributes=tuple(raw["categorical_attributes"]),
            numeric_attributes=tuple(raw["numeric_attributes"]),
            has_nps=raw.get("has_nps", True),
        )


def _slug(value: str) -> str:
    out = "".join(ch if ch.isalnum() else "_" for ch in value.lower()).strip("_")
    return out or "other"


def derive_spec(tables: dict[str, ir.Table], cfg: ChurnmlConfig) -> FeatureSpec:
    """Fix the data-dependent parts of the feature set (which event types, which categories)."""
    usage = tables["usage_events"]
    top_types = (
        usage.group_by("event_type")
        .aggregate(n=usage.count())
        .order_by([ibis.desc("n"), "event_type"])
        .limit(MAX_EVENT_TYPES)
        .to_pandas()
    )
    tickets = tables["support_tickets"]
    top_categories = (
        tickets.group_by("category")
        .aggregate(n=tickets.count())
        .order_by([ibis.desc("n"), "category"])
        .limit(MAX_TICKET_CATEGORIES)
        .to_pandas()
    )
    return FeatureSpec(
        windows_days=tuple(cfg.features.windows_days),
        trend_window_days=cfg.features.trend_window_days,
        event_types=tuple(str(v) for v in top_types["event_type"].dropna()),
        ticket_categories=tuple(str(v) for v in top_categories["category"].dropna()),
        onboarding_events=tuple(cfg.features.onboarding_events),
        plan_order=tuple(cfg.labels.plan_order),
        categorical_attributes=tuple(cfg.features.account_attributes_categorical),
        numeric_attributes=tuple(cfg.features.account_attributes_numeric),
        has_nps="nps_responses" in tables,
    )


def _days_between(later: ir.Value, earlier: ir.Value) -> ir.FloatingValue:
    """Days between two instants at whole-second precision.

    DuckDB's epoch keeps fractions of a second, Spark's drops them; flooring makes both engines
    return the same number (sub-second precision means nothing for day-level features).
    """
    seconds = later.epoch_seconds().floor() - earlier.epoch_seconds().floor()
    return seconds.cast("float64") / SECONDS_PER_DAY


def _in_window(ts: ir.TimestampValue, as_of: ir.TimestampValue, days: int) -> ir.BooleanValue:
    return (ts >= as_of - ibis.interval(days=days)) & (ts < as_of)


def _count_if(cond: ir.BooleanValue) -> ir.IntegerScalar:
    return cond.cast("int64").sum().fill_null(0)


def _sum_if(cond: ir.BooleanValue, value: ir.NumericValue) -> ir.NumericScalar:
    return ibis.ifelse(cond, value, 0).sum().fill_null(0)


def plan_rank(plan: ir.StringValue, plan_order: tuple[str, ...]) -> ir.IntegerValue:
    """Position of a plan in the configured order (0 when unknown or no order is given)."""
    if not plan_order:
        return ibis.literal(0, type="int64")
    return ibis.cases(*[(plan == p, i + 1) for i, p in enumerate(plan_order)], else_=0).cast(
        "int64"
    )


def _snapshot_buckets(days: ir.Table, spine: ir.Table) -> ir.Table:
    """Each activity day -> the first as-of after it (days after the last as-of are dropped)."""
    as_ofs = spine.select("as_of").distinct()
    j = days.inner_join(as_ofs, days.day < as_ofs.as_of)
    return j.group_by("day").aggregate(bucket=j.as_of.min())


def usage_features(usage: ir.Table, spine: ir.Table, spec: FeatureSpec) -> ir.Table:
    """Activity per window: events, active days, users, breadth, per-type counts, trend, recency.

    Built for 50M-event logs on one machine. Events are first rolled up to one row per account
    and day, with a column per tracked event type, so the range join to the snapshots carries
    ~10x fewer rows and active days and breadth become plain sums instead of COUNT DISTINCTs.
    Active users come from each user's last active day per snapshot bucket (two small
    aggregations) instead of a range join of every user-day. As-of dates are midnights, so a
    whole day is either before the as-of or not: the day roll-up is exact.
    """
    lookback = spec.lookback_days
    main_w = spec.trend_window_days
    if main_w not in spec.windows_days:
        raise ValueError("trend_window_days must be one of windows_days")
    types = list(spec.event_types)
    day = usage.occurred_at.truncate("D")
    per_type = {f"_type{k}": _count_if(usage.event_type == et) for k, et in enumerate(types)}
    daily = usage.group_by(account_id=usage.account_id, day=day).aggregate(
        n=usage.count(), quantity=usage.quantity.sum(), **per_type
    )
    j = spine.inner_join(
        daily,
        [
            spine.account_id == daily.account_id,
            daily.day >= spine.as_of - ibis.interval(days=lookback),
            daily.day < spine.as_of,
        ],
    )
    aggs: dict[str, ir.Scalar] = {}
    for w in spec.windows_days:
        inw = _in_window(j.day, j.as_of, w)
        aggs[f"usage_events_{w}d"] = _sum_if(inw, j.n)
        aggs[f"usage_quantity_{w}d"] = _sum_if(inw, j.quantity.fill_null(0)).cast("float64")
        aggs[f"usage_active_days_{w}d"] = _count_if(inw)
        for k in range(len(types)):
            aggs[f"_type{k}_{w}"] = _sum_if(inw, j[f"_type{k}"])
    previous = (j.day >= j.as_of - ibis.interval(days=2 * main_w)) & (
        j.day < j.as_of - ibis.interval(days=main_w)
    )
    aggs["usage_events_prev_period"] = _sum_if(previous, j.n)
    aggs["usage_last_active_day"] = j.day.max()
    agg = j.group_by([j.account_id, j.as_of]).aggregate(**aggs)
    derived: dict[str, ir.Value] = {}
    for w in spec.windows_days:
        used = [(agg[f"_type{k}_{w}"] > 0).cast("int64") for k in range(len(types))]
        derived[f"usage_feature_breadth_{w}d"] = (
            sum(used[1:], used[0]) if used else ibis.literal(0, type="int64")
        )
    for k, et in enumerate(types):
        derived[f"usage_{_slug(et)}_{main_w}d"] = agg[f"_type{k}_{main_w}"]
    recent_events = agg[f"usage_events_{main_w}d"]
    agg = agg.mutate(
        **derived,
        usage_trend_ratio=(recent_events.cast("float64") + 1.0)
        / (agg.usage_events_prev_period.cast("float64") + 1.0),
        usage_days_since_last_activity=_days_between(agg.as_of, agg.usage_last_active_day)
        .floor()
        .cast("float64"),
    )
    agg = agg.drop(
        "usage_last_active_day",
        *[f"_type{k}_{w}" for k in range(len(types)) for w in spec.windows_days],
    )

    users = usage.filter(usage.user_id.notnull())
    user_days = users.select(
        account_id=users.account_id, user_id=users.user_id, day=users.occurred_at.truncate("D")
    )
    buckets = _snapshot_buckets(user_days.select("day").distinct(), spine)
    ub = user_days.inner_join(buckets, "day")
    last = ub.group_by(["account_id", "user_id", "bucket"]).aggregate(last_day=ub.day.max())
    uj = spine.inner_join(
        last,
        [
            spine.account_id == last.account_id,
            last.bucket <= spine.as_of,
            last.bucket > spine.as_of - ibis.interval(days=lookback),
        ],
    )
    per_user = uj.group_by([uj.account_id, uj.as_of, uj.user_id]).aggregate(
        last_day=uj.last_day.max()
    )
    user_agg = per_user.group_by(["account_id", "as_of"]).aggregate(
        **{
            f"usage_active_users_{w}d": _count_if(
                per_user.last_day >= per_user.as_of - ibis.interval(days=w)
            )
            for w in spec.windows_days
        }
    )

    out = spine.left_join(agg, ["account_id", "as_of"]).select(
        spine, *[agg[c] for c in agg.columns if c not in ("account_id", "as_of")]
    )
    out = out.left_join(user_agg, ["account_id", "as_of"]).select(
        out, *[user_agg[c] for c in user_agg.columns if c not in ("account_id", "as_of")]
    )
    fills = {
        c: 0
        for c in out.columns
        if c not in ("account_id", "as_of", "usage_trend_ratio", "usage_days_since_last_activity")
    }
    out = out.mutate(
        usage_trend_ratio=out.usage_trend_ratio.fill_null(1.0),
        usage_days_since_last_activity=out.usage_days_since_last_activity.fill_null(
            float(lookback + 1)
        ),
    ).fill_null(fills)

    if spec.onboarding_events:
        firsts = usage.filter(usage.event_type.isin(list(spec.onboarding_events)))
        firsts = firsts.group_by(["account_id", "event_type"]).aggregate(
            first_at=firsts.occurred_at.min()
        )
        oj = spine.inner_join(
            firsts, [spine.account_id == firsts.account_id, firsts.first_at < spine.as_of]
        )
        onboarding = oj.group_by([oj.account_id, oj.as_of]).aggregate(
            usage_onboarding_milestones=oj.event_type.nunique()
        )
        out = out.left_join(onboarding, ["account_id", "as_of"]).select(
            out, onboarding.usage_onboarding_milestones
        )
        out = out.mutate(usage_onboarding_milestones=out.usage_onboarding_milestones.fill_null(0))
    return out


def support_features(tickets: ir.Table, spine: ir.Table, spec: FeatureSpec) -> ir.Table:
    """Support load and pain: volume by priority/category, open backlog, response, CSAT, escalations."""
    j = spine.inner_join(
        tickets, [spine.account_id == tickets.account_id, tickets.opened_at < spine.as_of]
    )
    long_w = max(spec.windows_days)
    main_w = spec.trend_window_days
    closed_before = j.closed_at.notnull() & (j.closed_at < j.as_of)
    open_at = ~closed_before
    high = j.priority.lower().isin(list(HIGH_PRIORITIES))
    responded = j.first_response_at.notnull() & (j.first_response_at < j.as_of)
    aggs: dict[str, ir.Scalar] = {}
    for w in spec.windows_days:
        inw = _in_window(j.opened_at, j.as_of, w)
        aggs[f"support_tickets_{w}d"] = _count_if(inw)
        aggs[f"support_high_priority_tickets_{w}d"] = _count_if(inw & high)
    for cat in spec.ticket_categories:
        aggs[f"support_{_slug(cat)}_tickets_{long_w}d"] = _count_if(
            _in_window(j.opened_at, j.as_of, long_w) & (j.category == cat)
        )
    aggs["support_open_tickets"] = _count_if(open_at)
    aggs["support_open_high_priority_tickets"] = _count_if(open_at & high)
    aggs["support_oldest_open_ticket_days"] = ibis.ifelse(
        open_at, _days_between(j.as_of, j.opened_at), None
    ).max()
    aggs["support_unanswered_tickets"] = _count_if(open_at & ~responded)
    in_long = _in_window(j.opened_at, j.as_of, long_w)
    aggs[f"support_first_response_hours_{long_w}d"] = ibis.ifelse(
        in_long & responded, _days_between(j.first_response_at, j.opened_at) * 24.0, None
    ).mean()
    closed_in_long = closed_before & (j.closed_at >= j.as_of - ibis.interval(days=long_w))
    aggs[f"support_resolution_hours_{long_w}d"] = ibis.ifelse(
        closed_in_long, _days_between(j.closed_at, j.opened_at) * 24.0, None
    ).mean()
    # The escalation flag and CSAT carry no timestamp: trust them only on tickets closed before the as-of.
    aggs[f"support_escalations_{long_w}d"] = _count_if(
        closed_in_long & j.escalated.fill_null(False)
    )
    aggs[f"support_satisfaction_{long_w}d"] = ibis.ifelse(
        closed_in_long, j.satisfaction, None
    ).mean()
    aggs[f"support_tickets_{main_w}d_prev_period"] = _count_if(
        (j.opened_at >= j.as_of - ibis.interval(days=2 * main_w))
        & (j.opened_at < j.as_of - ibis.interval(days=main_w))
    )
    agg = j.group_by([j.account_id, j.as_of]).aggregate(**aggs)
    out = spine.left_join(agg, ["account_id", "as_of"]).select(
        spine, *[agg[c] for c in agg.columns if c not in ("account_id", "as_of")]
    )
    nullable = {
        "support_oldest_open_ticket_days",
        f"support_first_response_hours_{long_w}d",
        f"support_resolution_hours_{long_w}d",
        f"support_satisfaction_{long_w}d",
    }
    fills = {c: 0 for c in out.columns if c not in ("account_id", "as_of") and c not in nullable}
    out = out.fill_null(fills).mutate(
        support_oldest_open_ticket_days=out.support_oldest_open_ticket_days.fill_null(0.0)
    )
    return out


def contract_features(
    subscriptions: ir.Table, accounts: ir.Table, spine: ir.Table, spec: FeatureSpec
) -> ir.Table:
    """The contract at the as-of: MRR, seats, plan, billing, tenure, renewal, recent changes."""
    s = subscriptions.mutate(plan_rank=plan_rank(subscriptions.plan, spec.plan_order))
    live = spine.inner_join(
        s,
        [
            spine.account_id == s.account_id,
            s.start_at < spine.as_of,
            s.end_at.isnull() | (s.end_at >= spine.as_of),
        ],
    )
    period_days = ibis.ifelse(
        live.billing_period.lower().fill_null("monthly") == "annual", 365.0, 30.4375
    )
    since_start = _days_between(live.as_of, live.start_at)
    live = live.mutate(
        days_to_renewal=period_days
        - (since_start - (since_start / period_days).floor() * period_days)
    )
    now = live.group_by([live.account_id, live.as_of]).aggregate(
        contract_mrr=live.mrr.sum().cast("float64"),
        contract_seats=live.seats.sum().fill_null(0).cast("float64"),
        contract_plan_rank=live.plan_rank.max(),
        contract_plan=live.plan.max(),  # representative label when several rows are live
        contract_is_annual=(live.billing_period.lower() == "annual").cast("int64").max(),
        contract_days_to_renewal=live.days_to_renewal.min(),
        contract_current_period_days=since_start.min(),
    )
    # MRR 90 days before the as-of (0 if not yet a customer), from rows already started then.
    back = spine.mutate(back_at=spine.as_of - ibis.interval(days=90))
    past = back.inner_join(
        s,
        [
            back.account_id == s.account_id,
            s.start_at < back.back_at,
            s.end_at.isnull() | (s.end_at >= back.back_at),
        ],
    )
    past_mrr = past.group_by([past.account_id, past.as_of]).aggregate(
        mrr_90d_ago=past.mrr.sum().cast("float64")
    )
    # Downgrades: rows started in the last 180 days with lower MRR than the row before them.
    w = ibis.window(group_by="account_id", order_by="start_at")
    steps = s.mutate(prev_mrr=s.mrr.lag().over(w), prev_rank=s.plan_rank.lag().over(w))
    sj = spine.inner_join(
        steps,
        [
            spine.account_id == steps.account_id,
            steps.start_at < spine.as_of,
            steps.start_at >= spine.as_of - ibis.interval(days=180),
        ],
    )
    changes = sj.group_by([sj.account_id, sj.as_of]).aggregate(
        contract_downgrades_180d=_count_if(sj.prev_mrr.notnull() & (sj.mrr < sj.prev_mrr)),
        contract_upgrades_180d=_count_if(sj.prev_mrr.notnull() & (sj.mrr > sj.prev_mrr)),
    )
    first = s.group_by("account_id").aggregate(first_start=s.start_at.min())
    out = spine.left_join(now, ["account_id", "as_of"]).select(
        spine, *[now[c] for c in now.columns if c not in ("account_id", "as_of")]
    )
    out = out.left_join(past_mrr, ["account_id", "as_of"]).select(out, past_mrr.mrr_90d_ago)
    out = out.left_join(changes, ["account_id", "as_of"]).select(
        out, changes.contract_downgrades_180d, changes.contract_upgrades_180d
    )
    out = out.left_join(first, "account_id").select(out, first.first_start)
    acc = accounts.select("account_id", "created_at")
    out = out.left_join(acc, "account_id").select(out, acc.created_at)
    tenure_from = ibis.coalesce(
        ibis.ifelse(out.created_at < out.as_of, out.created_at, None), out.first_start
    )
    mrr_before = out.mrr_90d_ago.fill_null(0.0)
    out = out.mutate(
        contract_tenure_days=_days_between(out.as_of, tenure_from),
        contract_mrr_change_90d=out.contract_mrr - mrr_before,
        contract_mrr_change_ratio_90d=ibis.ifelse(
            mrr_before > 0, out.contract_mrr / mrr_before, 1.0
        ),
        contract_arr=out.contract_mrr * 12.0,
        contract_downgrades_180d=out.contract_downgrades_180d.fill_null(0),
        contract_upgrades_180d=out.contract_upgrades_180d.fill_null(0),
    ).drop("mrr_90d_ago", "first_start", "created_at")
    return out


def nps_features(nps: ir.Table, spine: ir.Table) -> ir.Table:
    """Last NPS answer before the as-of, its change from the one before, and answer count."""
    j = spine.inner_join(nps, [spine.account_id == nps.account_id, nps.responded_at < spine.as_of])
    w = ibis.window(group_by=[j.account_id, j.as_of], order_by=ibis.desc(j.responded_at))
    ranked = j.mutate(rn=ibis.row_number().over(w))
    last = ranked.filter(ranked.rn == 0).select(
        "account_id",
        "as_of",
        nps_last_score=ranked.score.cast("float64"),
        last_at=ranked.responded_at,
    )
    prev = ranked.filter(ranked.rn == 1).select(
        "account_id", "as_of", prev_score=ranked.score.cast("float64")
    )
    counts = j.group_by([j.account_id, j.as_of]).aggregate(nps_responses=j.count())
    out = spine.left_join(last, ["account_id", "as_of"]).select(
        spine, last.nps_last_score, last.last_at
    )
    out = out.left_join(prev, ["account_id", "as_of"]).select(out, prev.prev_score)
    out = out.left_join(counts, ["account_id", "as_of"]).select(out, counts.nps_responses)
    return out.mutate(
        nps_score_change=out.nps_last_score - out.prev_score,
        nps_days_since_response=_days_between(out.as_of, out.last_at),
        nps_is_detractor=ibis.ifelse(
            out.nps_last_score.notnull(), (out.nps_last_score <= 6).cast("int64"), None
        ),
        nps_responses=out.nps_responses.fill_null(0),
    ).drop("prev_score", "last_at")


def attribute_features(accounts: ir.Table, spine: ir.Table, spec: FeatureSpec) -> ir.Table:
    """Declared account attributes, categorical as strings and numeric as floats."""
    cols = {f"attr_{c}": accounts[c].cast("string") for c in spec.categorical_attributes}
    cols.update({f"attr_{c}": accounts[c].cast("float64") for c in spec.numeric_attributes})
    acc = accounts.select(account_id_acc=accounts.account_id, **cols)
    out = spine.left_join(acc, spine.account_id == acc.account_id_acc)
    return out.select(spine, *[out[c] for c in cols])


def build_features(tables: dict[str, ir.Table], spine: ir.Table, spec: FeatureSpec) -> ir.Table:
    """All families joined on (account_id, as_of): one row per active account and as-of."""
    parts = [
        usage_features(tables["usage_events"], spine, spec),
        support_features(tables["support_tickets"], spine, spec),
        contract_features(tables["subscriptions"], tables["accounts"], spine, spec),
        attribute_features(tables["accounts"], spine, spec),
    ]
    if spec.has_nps and "nps_responses" in tables:
        parts.append(nps_features(tables["nps_responses"], spine))
    out = parts[0]
    for part in parts[1:]:
        out = out.inner_join(part, ["account_id", "as_of"]).select(
            out, *[part[c] for c in part.columns if c not in ("account_id", "as_of")]
        )
    out = out.mutate(
        usage_active_users_per_seat=ibis.ifelse(
            out.contract_seats > 0,
            out[f"usage_active_users_{spec.trend_window_days}d"].cast("float64")
            / out.contract_seats,
            None,
        )
    )
    return out.order_by(["as_of", "account_id"])
