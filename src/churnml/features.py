"""Point-in-time features, one ibis expression per family, compiled to DuckDB or Spark.

Every feature of the row (account_id, as_of) is computed from records strictly before
``as_of``: window joins use ``ts < as_of``, ticket states are read off their timestamps at the
as-of (never off a current ``status``), and subscription ends after the as-of are not seen.
The same functions run on any ibis backend, so the definitions are written once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import ibis
import ibis.expr.types as ir
import pandas as pd

from churnml.config import ChurnmlConfig, LabelConfig
from churnml.contract import DAYS_PER_MONTH, LONG_CONTRACT_DAYS, billing_period_days

SECONDS_PER_DAY = 86_400.0
HIGH_PRIORITIES = ("high", "urgent")
MAX_EVENT_TYPES = 25
MAX_TICKET_CATEGORIES = 12
# Specs stored before the contract state looked back over renewal gaps load with the label default.
DEFAULT_REACTIVATION_GAP_DAYS: int = LabelConfig.model_fields["reactivation_gap_days"].default


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
    has_usage: bool = True
    has_support: bool = True
    reactivation_gap_days: int = DEFAULT_REACTIVATION_GAP_DAYS
    has_activity: bool = False
    human_kinds: tuple[str, ...] = ()
    has_contract: bool = True

    @property
    def families(self) -> tuple[str, ...]:
        """The feature families this spec computes (a family needs its source table)."""
        optional = (
            ("usage", self.has_usage),
            ("support", self.has_support),
            ("nps", self.has_nps),
            ("activity", self.has_activity),
        )
        contract = ("contract",) if self.has_contract else ()
        return (*contract, "account", *[name for name, present in optional if present])

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
            "has_usage": self.has_usage,
            "has_support": self.has_support,
            "reactivation_gap_days": self.reactivation_gap_days,
            "has_activity": self.has_activity,
            "human_kinds": list(self.human_kinds),
            "has_contract": self.has_contract,
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
            has_usage=raw.get("has_usage", True),
            has_support=raw.get("has_support", True),
            reactivation_gap_days=raw.get("reactivation_gap_days", DEFAULT_REACTIVATION_GAP_DAYS),
            has_activity=raw.get("has_activity", False),
            human_kinds=tuple(raw.get("human_kinds", ())),
            has_contract=raw.get("has_contract", True),
        )


def _slug(value: str) -> str:
    out = "".join(ch if ch.isalnum() else "_" for ch in value.lower()).strip("_")
    return out or "other"


def _most_frequent(table: ir.Table | None, column: str, limit: int) -> tuple[str, ...]:
    """The table's most frequent values of a column, most frequent first (none without the table)."""
    if table is None:
        return ()
    top = (
        table.group_by(column)
        .aggregate(n=table.count())
        .order_by([ibis.desc("n"), column])
        .limit(limit)
        .to_pandas()
    )
    return tuple(str(v) for v in top[column].dropna())


def derive_spec(tables: dict[str, ir.Table], cfg: ChurnmlConfig) -> FeatureSpec:
    """Fix the data-dependent parts of the feature set: which families (a usage, ticket or NPS
    table may be absent), which event types, which ticket categories."""
    return FeatureSpec(
        windows_days=tuple(cfg.features.windows_days),
        trend_window_days=cfg.features.trend_window_days,
        event_types=_most_frequent(tables.get("usage_events"), "event_type", MAX_EVENT_TYPES),
        ticket_categories=_most_frequent(
            tables.get("support_tickets"), "category", MAX_TICKET_CATEGORIES
        ),
        onboarding_events=tuple(cfg.features.onboarding_events),
        plan_order=tuple(cfg.labels.plan_order),
        categorical_attributes=tuple(cfg.features.account_attributes_categorical),
        numeric_attributes=tuple(cfg.features.account_attributes_numeric),
        has_nps="nps_responses" in tables,
        has_usage="usage_events" in tables,
        has_support="support_tickets" in tables,
        reactivation_gap_days=cfg.labels.reactivation_gap_days,
        has_activity="cs_activities" in tables,
        human_kinds=tuple(cfg.activity.human_kinds),
        has_contract="subscriptions" in tables,
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


def plan_rank(plan: ir.StringValue, plan_order: tuple[str, ...]) -> ir.IntegerValue:
    """Position of a plan in the configured order (0 when unknown or no order is given)."""
    if not plan_order:
        return ibis.literal(0, type="int64")
    return ibis.cases(*[(plan == p, i + 1) for i, p in enumerate(plan_order)], else_=0).cast(
        "int64"
    )


def live_rows_before(
    subscriptions: ir.Table, points: ir.Table, at: str, reactivation_gap_days: int
) -> ir.Table:
    """Each point joined with the subscription rows live "just before" ``points[at]``.

    That is the last instant before ``at`` at which the account had a live row, looking back at
    most the reactivation gap: renewals stored with a gap (a row ending on the 31st, the next
    starting on the 1st) still show the contract at a month-start as-of, while an account gone
    for longer than the gap (churned) shows none. Only rows started before ``at`` are read,
    and an end after ``at`` only counts as "still live at ``at``".
    """
    keys = list(points.columns)
    # Join on the account only, then filter: an OR in the join condition makes DuckDB loop.
    j = points.inner_join(subscriptions, "account_id")
    t = j[at]
    gap = ibis.interval(days=reactivation_gap_days)
    j = j.filter((j.start_at < t) & (j.end_at.isnull() | (j.end_at > t - gap)))
    t = j[at]
    last_live = ibis.least(j.end_at.fill_null(t), t) - ibis.interval(microseconds=1)
    j = j.mutate(_base_at=last_live.max().over(ibis.window(group_by=keys)))
    j = j.filter((j.start_at <= j._base_at) & (j.end_at.isnull() | (j.end_at > j._base_at)))
    return j.drop("_base_at")


MASK_BITS = 62  # bits per integer mask: stays a positive signed 64-bit integer on every engine


@dataclass(frozen=True)
class UsageBuckets:
    """Day ranges of which every usage window of every as-of is an exact union.

    Per as-of, the window offsets cut the lookback into disjoint segments (with windows of 7,
    30 and 90 days and a 30-day trend: days 0-7, 7-30, 30-60 and 60-90 before the as-of);
    each window is a union of segments. Across as-ofs, the segment edges cut the calendar into
    ranges (``bucket``) at most ``MASK_BITS`` days long, so a range's days fit one integer mask.
    ``days`` maps each day to its range and bit; ``segments`` says which segment of which
    as-of each range falls in; ``user_windows`` holds, per as-of and window, the mask of range
    numbers the window covers (``words`` integers of ``MASK_BITS`` ranges each).
    """

    days: pd.DataFrame
    segments: pd.DataFrame
    user_windows: pd.DataFrame
    offsets: tuple[int, ...]
    max_bucket_days: int
    words: int

    def segments_within(self, back_from: int, back_to: int) -> list[int]:
        """The segments that make up the days in [as_of - back_from, as_of - back_to)."""
        o = self.offsets
        return [i for i in range(len(o) - 1) if o[i] >= back_to and o[i + 1] <= back_from]


def usage_buckets(as_of_dates: Iterable[date | datetime], spec: FeatureSpec) -> UsageBuckets:
    """Cut the days the usage windows look at into ranges (see UsageBuckets); pure Python."""
    day = timedelta(days=1)
    as_ofs = sorted({datetime(d.year, d.month, d.day) for d in as_of_dates})
    main_w = spec.trend_window_days
    offsets = tuple(sorted({0, *spec.windows_days, main_w, 2 * main_w, spec.lookback_days}))
    lookback = offsets[-1]
    edges = sorted({a - o * day for a in as_ofs for o in offsets})
    bounded = edges[:1]
    for edge in edges[1:]:
        while (edge - bounded[-1]).days > MASK_BITS:
            bounded.append(bounded[-1] + MASK_BITS * day)
        bounded.append(edge)
    # a range is inside an as-of's lookback or outside it (both ends are edges); keep the inside
    spans = [
        (lo, hi)
        for lo, hi in zip(bounded[:-1], bounded[1:], strict=False)
        if any(a - lookback * day <= lo and hi <= a for a in as_ofs)
    ]
    words = max(1, -(-len(spans) // MASK_BITS))
    day_rows = [
        (lo + i * day, k, 1 << i, k // MASK_BITS, 1 << (k % MASK_BITS))
        for k, (lo, hi) in enumerate(spans)
        for i in range((hi - lo).days)
    ]
    days = pd.DataFrame(day_rows, columns=["day", "bucket", "day_bit", "user_word", "bucket_bit"])
    segment_rows, user_rows = [], []
    for a in as_ofs:
        for k, (lo, hi) in enumerate(spans):
            for seg in range(len(offsets) - 1):
                if a - offsets[seg + 1] * day <= lo and hi <= a - offsets[seg] * day:
                    segment_rows.append((a, k, seg))
        masks = []
        for w in spec.windows_days:
            word_masks = [0] * words
            for k, (lo, hi) in enumerate(spans):
                if a - w * day <= lo and hi <= a:
                    word_masks[k // MASK_BITS] |= 1 << (k % MASK_BITS)
            masks.extend(word_masks)
        user_rows.append((a, *masks))
    segments = pd.DataFrame(segment_rows, columns=["as_of", "bucket", "seg"])
    user_windows = pd.DataFrame(
        user_rows,
        columns=["as_of", *[f"_wm{w}_{j}" for w in spec.windows_days for j in range(words)]],
    )
    for frame, column in ((days, "day"), (segments, "as_of"), (user_windows, "as_of")):
        frame[column] = pd.to_datetime(frame[column]).astype("datetime64[us]")
        for other in frame.columns.drop(column):
            frame[other] = frame[other].astype("int64")
    max_days = max([(hi - lo).days for lo, hi in spans], default=1)
    return UsageBuckets(days, segments, user_windows, offsets, max_days, words)


def _frame_table(frame: pd.DataFrame) -> ir.Table:
    schema = {c: ("timestamp" if c in ("day", "as_of") else "int64") for c in frame.columns}
    return ibis.memtable(frame, schema=schema)


def _spine_as_ofs(spine: ir.Table) -> list[datetime]:
    values = spine.select("as_of").distinct().to_pyarrow().column("as_of").to_pylist()
    return [v for v in values if v is not None]


def _popcount(mask: ir.IntegerValue, bits: int) -> ir.IntegerValue:
    return sum(
        (((mask & (1 << i)) != 0).cast("int64") for i in range(bits)),
        ibis.literal(0, type="int64"),
    )


def _any(conditions: list[ir.BooleanValue]) -> ir.BooleanValue:
    out = conditions[0]
    for cond in conditions[1:]:
        out = out | cond
    return out


def usage_features(
    usage: ir.Table,
    spine: ir.Table,
    spec: FeatureSpec,
    as_of_dates: Iterable[date | datetime] | None = None,
) -> ir.Table:
    """Activity per window: events, active days, users, breadth, per-type counts, trend, recency.

    Built for 50M-event logs on one machine: the events are read twice, each time grouped on
    a low-cardinality key, and never range-joined. The days the windows look at are cut into
    ranges that every window is an exact union of (usage_buckets). One pass sums events,
    quantity and per-type counts per account and range, with the range's active days as a bit
    mask; a second keeps per account and user a bit mask of the ranges the user was active in.
    Windows are then sums over ranges, and active users a mask intersection. As-of dates are
    midnights, so a whole day is either before the as-of or not: the day ranges are exact.
    """
    lookback = spec.lookback_days
    main_w = spec.trend_window_days
    if main_w not in spec.windows_days:
        raise ValueError("trend_window_days must be one of windows_days")
    if as_of_dates is None:
        as_of_dates = _spine_as_ofs(spine)
    buckets = usage_buckets(as_of_dates, spec)
    types = list(spec.event_types)
    days = _frame_table(buckets.days)
    # Each pass joins its own projection: one shared join would be materialised in full by
    # DuckDB (every event with every column) and push the aggregations into spilling.
    events = usage.select(
        "account_id", "event_type", "quantity", day=usage.occurred_at.truncate("D")
    )
    events = events.inner_join(days.select("day", "bucket", "day_bit"), "day")
    per_range = events.group_by(["account_id", "bucket"]).aggregate(
        n=events.count(),
        quantity=events.quantity.sum(),
        day_mask=events.day_bit.bit_or(),
        last_day=events.day.max(),
        **{f"_type{k}": _count_if(events.event_type == et) for k, et in enumerate(types)},
    )
    per_range = per_range.mutate(active_days=_popcount(per_range.day_mask, buckets.max_bucket_days))
    metrics = ["n", "quantity", "active_days", *[f"_type{k}" for k in range(len(types))]]
    # Sum ranges into the disjoint segments of each as-of (plain sums, few columns), then put
    # the segments side by side: every window is a sum of segment columns.
    j = per_range.inner_join(_frame_table(buckets.segments), "bucket")
    by_segment = j.group_by(["account_id", "as_of", "seg"]).aggregate(
        n=j.n.sum(),
        quantity=j.quantity.fill_null(0).sum().cast("float64"),
        active_days=j.active_days.sum(),
        last_day=j.last_day.max(),
        **{f"_type{k}": j[f"_type{k}"].sum() for k in range(len(types))},
    )
    agg = spine
    n_segments = len(buckets.offsets) - 1
    for seg in range(n_segments):
        part = by_segment.filter(by_segment.seg == seg)
        part = part.select(
            "account_id", "as_of", **{f"{c}_s{seg}": part[c] for c in [*metrics, "last_day"]}
        )
        agg = agg.left_join(part, ["account_id", "as_of"]).select(
            agg, *[part[c] for c in part.columns if c not in ("account_id", "as_of")]
        )

    def over(metric: str, back_from: int, back_to: int = 0) -> ir.NumericValue:
        cols = [
            agg[f"{metric}_s{i}"].fill_null(0) for i in buckets.segments_within(back_from, back_to)
        ]
        return sum(cols[1:], cols[0])

    window_sums: dict[str, ir.Value] = {}
    for w in spec.windows_days:
        window_sums[f"usage_events_{w}d"] = over("n", w)
        window_sums[f"usage_quantity_{w}d"] = over("quantity", w).cast("float64")
        window_sums[f"usage_active_days_{w}d"] = over("active_days", w)
        for k in range(len(types)):
            window_sums[f"_type{k}_{w}"] = over(f"_type{k}", w)
    window_sums["usage_events_prev_period"] = over("n", 2 * main_w, main_w)
    window_sums["usage_last_active_day"] = ibis.greatest(
        *[agg[f"last_day_s{i}"] for i in range(n_segments)]
    )
    agg = agg.select("account_id", "as_of", **window_sums)
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
    users = users.select("account_id", "user_id", day=users.occurred_at.truncate("D"))
    users = users.inner_join(days.select("day", "user_word", "bucket_bit"), "day")
    words = range(buckets.words)
    user_masks = users.group_by(["account_id", "user_id"]).aggregate(
        **{f"_m{i}": ibis.ifelse(users.user_word == i, users.bucket_bit, 0).bit_or() for i in words}
    )
    # Per account (not per account and as-of): one count per as-of and window, then each
    # spine row picks its as-of's count.
    masks = buckets.user_windows.set_index("as_of")
    as_of_list = list(masks.index)
    counts: dict[str, ir.Scalar] = {}
    for i, a in enumerate(as_of_list):
        for w in spec.windows_days:
            hits = [
                (user_masks[f"_m{j}"] & int(masks.loc[a, f"_wm{w}_{j}"])) != 0
                for j in words
                if masks.loc[a, f"_wm{w}_{j}"]
            ]
            counts[f"_u{i}_{w}"] = _count_if(_any(hits)) if hits else ibis.literal(0, "int64")
    per_account = user_masks.group_by("account_id").aggregate(**counts)
    out = agg.left_join(per_account, "account_id")
    picked = {
        f"usage_active_users_{w}d": ibis.cases(
            *[
                (out.as_of == ibis.timestamp(a), out[f"_u{i}_{w}"])
                for i, a in enumerate(as_of_list)
            ],
            else_=0,
        )
        if as_of_list
        else ibis.literal(0, "int64")
        for w in spec.windows_days
    }
    out = out.select(agg, **picked)
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
    """Support load and pain: volume by priority/category, open backlog, response, CSAT, escalations.

    What does not depend on the as-of (priority class, category, response and resolution
    times) is worked out once per ticket, before the join that repeats each ticket for every
    later as-of of its account.
    """
    categories = list(spec.ticket_categories)
    per_ticket = tickets.select(
        "account_id",
        "opened_at",
        "closed_at",
        "first_response_at",
        "satisfaction",
        high=tickets.priority.lower().isin(list(HIGH_PRIORITIES)).fill_null(False),
        category_k=(
            ibis.cases(*[(tickets.category == c, k) for k, c in enumerate(categories)], else_=-1)
            if categories
            else ibis.literal(-1)
        ).cast("int64"),
        escalated=tickets.escalated.fill_null(False),
        response_hours=_days_between(tickets.first_response_at, tickets.opened_at) * 24.0,
        resolution_hours=_days_between(tickets.closed_at, tickets.opened_at) * 24.0,
    )
    j = spine.inner_join(
        per_ticket,
        [spine.account_id == per_ticket.account_id, per_ticket.opened_at < spine.as_of],
    )
    long_w = max(spec.windows_days)
    main_w = spec.trend_window_days
    # Keep the ticket/as-of pairs some feature can use: opened within the longest window,
    # still open at the as-of, or closed within the longest window. The rest (old, closed
    # tickets) would only add zeros and NULLs to the aggregation.
    reach = ibis.interval(days=max(long_w, 2 * main_w))
    j = j.filter(
        (j.opened_at >= j.as_of - reach)
        | j.closed_at.isnull()
        | (j.closed_at >= j.as_of - ibis.interval(days=long_w))
    )
    closed_before = j.closed_at.notnull() & (j.closed_at < j.as_of)
    open_at = ~closed_before
    high = j.high
    responded = j.first_response_at.notnull() & (j.first_response_at < j.as_of)
    aggs: dict[str, ir.Scalar] = {}
    for w in spec.windows_days:
        inw = _in_window(j.opened_at, j.as_of, w)
        aggs[f"support_tickets_{w}d"] = _count_if(inw)
        aggs[f"support_high_priority_tickets_{w}d"] = _count_if(inw & high)
    in_long = _in_window(j.opened_at, j.as_of, long_w)
    for k, cat in enumerate(categories):
        aggs[f"support_{_slug(cat)}_tickets_{long_w}d"] = _count_if(in_long & (j.category_k == k))
    aggs["support_open_tickets"] = _count_if(open_at)
    aggs["support_open_high_priority_tickets"] = _count_if(open_at & high)
    aggs["support_oldest_open_ticket_days"] = ibis.ifelse(
        open_at, _days_between(j.as_of, j.opened_at), None
    ).max()
    aggs["support_unanswered_tickets"] = _count_if(open_at & ~responded)
    aggs[f"support_first_response_hours_{long_w}d"] = ibis.ifelse(
        in_long & responded, j.response_hours, None
    ).mean()
    closed_in_long = closed_before & (j.closed_at >= j.as_of - ibis.interval(days=long_w))
    aggs[f"support_resolution_hours_{long_w}d"] = ibis.ifelse(
        closed_in_long, j.resolution_hours, None
    ).mean()
    # The escalation flag and CSAT carry no timestamp: trust them only on tickets closed before the as-of.
    aggs[f"support_escalations_{long_w}d"] = _count_if(closed_in_long & j.escalated)
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
    """The contract just before the as-of (live_rows_before): MRR, seats, plan, billing, tenure,
    renewal, recent changes."""
    s = subscriptions.mutate(plan_rank=plan_rank(subscriptions.plan, spec.plan_order))
    live = live_rows_before(s, spine, "as_of", spec.reactivation_gap_days)
    # Any period length (names, months, days); unreadable values were refused by the checks.
    given = billing_period_days(live.billing_period)
    period_days = given.fill_null(DAYS_PER_MONTH)
    since_start = _days_between(live.as_of, live.start_at)
    live = live.mutate(
        period_days=period_days,
        is_long=ibis.ifelse(
            live.billing_period.isnull(),
            ibis.null("int64"),
            (given >= LONG_CONTRACT_DAYS).cast("int64").fill_null(0),
        ),
        days_to_renewal=period_days
        - (since_start - (since_start / period_days).floor() * period_days),
    )
    now = live.group_by([live.account_id, live.as_of]).aggregate(
        contract_mrr=live.mrr.sum().cast("float64"),
        contract_seats=live.seats.sum().fill_null(0).cast("float64"),
        contract_plan_rank=live.plan_rank.max(),
        contract_plan=live.plan.max(),  # representative label when several rows are live
        contract_is_annual=live.is_long.max(),
        contract_billing_months=live.period_days.max() / DAYS_PER_MONTH,
        contract_days_to_renewal=live.days_to_renewal.min(),
        contract_current_period_days=since_start.min(),
    )
    # MRR just before 90 days before the as-of (0 if not a customer then), by the same rule.
    back = spine.mutate(back_at=spine.as_of - ibis.interval(days=90))
    past = live_rows_before(s, back, "back_at", spec.reactivation_gap_days)
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


def build_features(
    tables: dict[str, ir.Table],
    spine: ir.Table,
    spec: FeatureSpec,
    as_of_dates: Iterable[date | datetime] | None = None,
    ordered: bool = True,
) -> ir.Table:
    """All families joined on (account_id, as_of): one row per active account and as-of.

    ``as_of_dates`` are the spine's as-of dates; read off the spine when not given. A caller
    that joins more columns and sorts itself passes ``ordered=False`` (one sort, not two).
    """
    parts = [attribute_features(tables["accounts"], spine, spec)]
    if spec.has_contract:
        parts.insert(
            0, contract_features(_table(tables, "subscriptions"), tables["accounts"], spine, spec)
        )
    if spec.has_usage:
        parts.insert(0, usage_features(_table(tables, "usage_events"), spine, spec, as_of_dates))
    if spec.has_support:
        parts.insert(
            -1 - spec.has_contract, support_features(_table(tables, "support_tickets"), spine, spec)
        )
    if spec.has_nps and "nps_responses" in tables:
        parts.append(nps_features(tables["nps_responses"], spine))
    if spec.has_activity:
        from churnml.activity_features import activity_features

        parts.append(activity_features(_table(tables, "cs_activities"), spine, spec))
    out = parts[0]
    for part in parts[1:]:
        out = out.inner_join(part, ["account_id", "as_of"]).select(
            out, *[part[c] for c in part.columns if c not in ("account_id", "as_of")]
        )
    # A first contract starting exactly at the as-of puts the account in the snapshot (periods
    # are [start_at, end_at)) while the contract features read the state just before it: no MRR.
    if spec.has_contract:
        out = out.mutate(
            contract_mrr=out.contract_mrr.fill_null(0.0),
            contract_arr=out.contract_arr.fill_null(0.0),
        )
    if spec.has_usage and spec.has_contract:
        out = out.mutate(
            usage_active_users_per_seat=ibis.ifelse(
                out.contract_seats > 0,
                out[f"usage_active_users_{spec.trend_window_days}d"].cast("float64")
                / out.contract_seats,
                None,
            )
        )
    return out.order_by(["as_of", "account_id"]) if ordered else out


def _table(tables: dict[str, ir.Table], name: str) -> ir.Table:
    """A table the spec was built with; scoring data without it cannot use that spec."""
    if name not in tables:
        raise ValueError(
            f"the model was trained with features from {name}, but sources.{name} is not "
            "configured now; map it again or retrain"
        )
    return tables[name]
