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
import numpy as np
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
    # Each tracked value's spellings in the data (`Login`, `login`): one feature counts them all.
    # Empty (specs stored before): each value is its only spelling.
    event_type_spellings: tuple[tuple[str, ...], ...] = ()
    ticket_category_spellings: tuple[tuple[str, ...], ...] = ()

    def spellings(self, kind: str) -> list[tuple[str, ...]]:
        """Per tracked event type (kind `event_type`) or ticket category (`category`), the
        source values it counts."""
        values = self.event_types if kind == "event_type" else self.ticket_categories
        stored = (
            self.event_type_spellings if kind == "event_type" else self.ticket_category_spellings
        )
        return list(stored) if stored else [(v,) for v in values]

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
            "event_type_spellings": [list(v) for v in self.event_type_spellings],
            "ticket_category_spellings": [list(v) for v in self.ticket_category_spellings],
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
            event_type_spellings=tuple(tuple(v) for v in raw.get("event_type_spellings", ())),
            ticket_category_spellings=tuple(
                tuple(v) for v in raw.get("ticket_category_spellings", ())
            ),
        )


# Names the usage and support families use for their own features: an event type or ticket
# category with the same name gets a suffix (`usage_events_7d` stays the count of all events).
_RESERVED_SLUGS = {
    "event_type": {
        "events",
        "quantity",
        "active_days",
        "active_users",
        "feature_breadth",
        "events_per_active_day",
        "events_per_active_user",
    },
    "category": {"high_priority"},
}
# Distinct source values read to group the spellings of the tracked ones.
_SPELLINGS_SCANNED = 1000


def _slug(value: str) -> str:
    out = "".join(ch if ch.isalnum() else "_" for ch in value.lower()).strip("_")
    return out or "other"


def spelling_key(value: str) -> str:
    """What the spellings of one event type or ticket category share: case, spaces and
    punctuation aside (`Report Created` and `report_created`)."""
    return _slug(value)


def feature_slug(value: str, kind: str) -> str:
    """The name part of a tracked event type (`event_type`) or ticket category (`category`)."""
    slug = _slug(value)
    return f"{slug}_{kind.split('_')[-1]}" if slug in _RESERVED_SLUGS[kind] else slug


def _most_frequent(
    table: ir.Table | None, column: str, limit: int
) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """The table's most frequent values of a column, most frequent first (none without the
    table), with their spellings: values that differ only in case or punctuation (`Login`,
    `login`, `Report Created`, `report_created`) would get the same feature name, so they are
    one tracked value, shown as its most frequent spelling."""
    if table is None:
        return (), ()
    top = (
        table.group_by(column)
        .aggregate(n=table.count())
        .order_by([ibis.desc("n"), column])
        .limit(_SPELLINGS_SCANNED)
        .to_pandas()
        .dropna(subset=[column])
    )
    groups: dict[str, list[str]] = {}
    totals: dict[str, int] = {}
    for value, n in zip(top[column].astype(str), top["n"], strict=True):
        slug = _slug(value)
        groups.setdefault(slug, []).append(value)
        totals[slug] = totals.get(slug, 0) + int(n)
    kept = sorted(groups, key=lambda slug: (-totals[slug], groups[slug][0]))[:limit]
    return tuple(groups[g][0] for g in kept), tuple(tuple(groups[g]) for g in kept)


def derive_spec(tables: dict[str, ir.Table], cfg: ChurnmlConfig) -> FeatureSpec:
    """Fix the data-dependent parts of the feature set: which families (a usage, ticket or NPS
    table may be absent), which event types, which ticket categories."""
    event_types, event_spellings = _most_frequent(
        tables.get("usage_events"), "event_type", MAX_EVENT_TYPES
    )
    categories, category_spellings = _most_frequent(
        tables.get("support_tickets"), "category", MAX_TICKET_CATEGORIES
    )
    return FeatureSpec(
        windows_days=tuple(cfg.features.windows_days),
        trend_window_days=cfg.features.trend_window_days,
        event_types=event_types,
        ticket_categories=categories,
        event_type_spellings=event_spellings,
        ticket_category_spellings=category_spellings,
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

    Lifetime counts need every day before an as-of, not only the windows: ``history`` adds
    the other days since ``first_day`` in further buckets (at most ``MASK_BITS`` days each,
    never across an as-of), and ``epochs`` gives each bucket the first as-of after its days:
    a lifetime count is a running sum, over as-ofs, of bucket sums.
    """

    days: pd.DataFrame
    segments: pd.DataFrame
    user_windows: pd.DataFrame
    offsets: tuple[int, ...]
    max_bucket_days: int
    words: int
    history: pd.DataFrame
    epochs: pd.DataFrame

    def segments_within(self, back_from: int, back_to: int) -> list[int]:
        """The segments that make up the days in [as_of - back_from, as_of - back_to)."""
        o = self.offsets
        return [i for i in range(len(o) - 1) if o[i] >= back_to and o[i + 1] <= back_from]


def _window_spans(as_ofs: list[datetime], offsets: tuple[int, ...]) -> list[tuple]:
    """The ranges (lo, hi) the as-ofs' segment edges cut their lookbacks into."""
    day = timedelta(days=1)
    lookback = offsets[-1]
    edges = sorted({a - o * day for a in as_ofs for o in offsets})
    bounded = edges[:1]
    for edge in edges[1:]:
        while (edge - bounded[-1]).days > MASK_BITS:
            bounded.append(bounded[-1] + MASK_BITS * day)
        bounded.append(edge)
    # a range is inside an as-of's lookback or outside it (both ends are edges); keep the inside
    return [
        (lo, hi)
        for lo, hi in zip(bounded[:-1], bounded[1:], strict=False)
        if any(a - lookback * day <= lo and hi <= a for a in as_ofs)
    ]


def _window_masks(as_ofs: list[datetime], spans: list[tuple], offsets, spec, words: int):
    """Per as-of: (as_of, range, segment) rows and the range masks of each usage window."""
    day = timedelta(days=1)
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
    return segments, user_windows


def _history_days(days: pd.DataFrame, as_ofs: list[datetime], first_day: date | None):
    """Days since ``first_day`` before the last as-of that no range holds, in buckets numbered
    after the ranges: per epoch (the days between two as-ofs), chunks of ``MASK_BITS`` days."""
    columns = list(days.columns)
    if first_day is None or not as_ofs:
        return days.iloc[0:0]
    calendar = pd.date_range(pd.Timestamp(first_day), as_ofs[-1] - timedelta(days=1), freq="D")
    rest = calendar[~calendar.isin(pd.to_datetime(days.day))]
    if rest.empty:
        return days.iloc[0:0]
    epoch = np.searchsorted(np.array(as_ofs, dtype="datetime64[us]"), rest.values, side="right")
    rank = pd.Series(epoch).groupby(epoch).cumcount().to_numpy()
    chunk = pd.MultiIndex.from_arrays([epoch, rank // MASK_BITS]).factorize()[0]
    first_bucket = int(days.bucket.max()) + 1 if len(days) else 0
    return pd.DataFrame(
        {
            "day": rest,
            "bucket": first_bucket + chunk,
            "day_bit": [1 << int(i) for i in rank % MASK_BITS],
            "user_word": -1,
            "bucket_bit": 0,
        }
    )[columns]


def _epochs(history: pd.DataFrame, as_ofs: list[datetime]) -> pd.DataFrame:
    """(bucket, as_of): the first as-of after the bucket's days. A lifetime at an as-of is the
    sum of the buckets whose first as-of is that one or an earlier one."""
    first = history.groupby("bucket").day.min()
    epoch = np.searchsorted(
        np.array(as_ofs, dtype="datetime64[us]"), first.to_numpy("datetime64[us]"), side="right"
    )
    return pd.DataFrame({"bucket": first.index, "as_of": [as_ofs[e] for e in epoch]})


def usage_buckets(
    as_of_dates: Iterable[date | datetime], spec: FeatureSpec, first_day: date | None = None
) -> UsageBuckets:
    """Cut the days the usage windows look at into ranges (see UsageBuckets); pure Python.

    ``first_day`` (the log's first day) adds the earlier days lifetime counts need.
    """
    day = timedelta(days=1)
    as_ofs = sorted({datetime(d.year, d.month, d.day) for d in as_of_dates})
    main_w = spec.trend_window_days
    offsets = tuple(sorted({0, *spec.windows_days, main_w, 2 * main_w, spec.lookback_days}))
    spans = _window_spans(as_ofs, offsets)
    words = max(1, -(-len(spans) // MASK_BITS))
    day_rows = [
        (lo + i * day, k, 1 << i, k // MASK_BITS, 1 << (k % MASK_BITS))
        for k, (lo, hi) in enumerate(spans)
        for i in range((hi - lo).days)
    ]
    days = pd.DataFrame(day_rows, columns=["day", "bucket", "day_bit", "user_word", "bucket_bit"])
    segments, user_windows = _window_masks(as_ofs, spans, offsets, spec, words)
    days["day"] = pd.to_datetime(days["day"])
    history = pd.concat([days, _history_days(days, as_ofs, first_day)], ignore_index=True)
    epochs = _epochs(history, as_ofs)
    frames = ((days, "day"), (history, "day"), (segments, "as_of"), (user_windows, "as_of"))
    for frame, column in (*frames, (epochs, "as_of")):
        frame[column] = pd.to_datetime(frame[column]).astype("datetime64[us]")
        for other in frame.columns.drop(column):
            frame[other] = frame[other].astype("int64")
    max_days = int(history.groupby("bucket").size().max()) if len(history) else 1
    return UsageBuckets(days, segments, user_windows, offsets, max_days, words, history, epochs)


def _frame_table(frame: pd.DataFrame) -> ir.Table:
    schema = {c: ("timestamp" if c in ("day", "as_of") else "int64") for c in frame.columns}
    return ibis.memtable(frame, schema=schema)


def _spine_as_ofs(spine: ir.Table) -> list[datetime]:
    values = spine.select("as_of").distinct().to_pyarrow().column("as_of").to_pylist()
    return [v for v in values if v is not None]


def _first_day(usage: ir.Table) -> date | None:
    """The usage log's first day (None when empty): where lifetime counts start."""
    first = usage.occurred_at.min().to_pyarrow().as_py()
    return None if first is None else date(first.year, first.month, first.day)


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


def _total(columns: list[ir.NumericValue]) -> ir.NumericValue:
    return sum(columns[1:], columns[0]) if columns else ibis.literal(0, type="int64")


def _ratio(num: ir.NumericValue, den: ir.NumericValue, empty: float | None) -> ir.FloatingValue:
    """num / den, or ``empty`` where den is 0 (None: unknown)."""
    value = num.cast("float64") / den.cast("float64")
    return ibis.ifelse(den > 0, value, ibis.literal(empty, type="float64"))


def _trend(recent: ir.NumericValue, before: ir.NumericValue) -> ir.FloatingValue:
    """Recent window against the one before, smoothed so that 0 -> 0 reads flat (1.0)."""
    return (recent.cast("float64") + 1.0) / (before.cast("float64") + 1.0)


def usage_features(
    usage: ir.Table,
    spine: ir.Table,
    spec: FeatureSpec,
    as_of_dates: Iterable[date | datetime] | None = None,
) -> ir.Table:
    """Activity per window and over the account's life: events, quantity, active days and
    users, per-type counts, breadth, per-type trends, ratios, recency, onboarding.

    Built for 50M-event logs on one machine: the events are read twice, each time grouped on
    a low-cardinality key, and never range-joined. The days are cut into buckets that every
    window and every lifetime is an exact union of (usage_buckets). One pass sums events,
    quantity and per-type counts per account and bucket, with the bucket's active days as a
    bit mask; a second keeps per account and user a bit mask of the ranges the user was active
    in. Windows and lifetimes are then sums over buckets, and active users a mask intersection.
    As-of dates are midnights, so a whole day is either before the as-of or not: exact buckets.
    """
    if spec.trend_window_days not in spec.windows_days:
        raise ValueError("trend_window_days must be one of windows_days")
    if as_of_dates is None:
        as_of_dates = _spine_as_ofs(spine)
    buckets = usage_buckets(as_of_dates, spec, _first_day(usage))
    by_segment = _usage_by_segment(_usage_per_bucket(usage, buckets, spec), buckets, spec)
    out = _usage_windows(by_segment, spine, buckets, spec)
    out = _with_lifetime(out, by_segment, buckets, spec)
    out = _with_active_users(out, usage, buckets, spec)
    out = out.mutate(**_usage_ratios(out, spec))
    if spec.onboarding_events:
        out = _with_onboarding(out, usage, spine, spec)
    return out


def _type_columns(spec: FeatureSpec) -> list[str]:
    return [f"_type{k}" for k in range(len(spec.event_types))]


def _usage_per_bucket(usage: ir.Table, buckets: UsageBuckets, spec: FeatureSpec) -> ir.Table:
    """First pass: events, quantity, per-type counts, last day and active days per account and
    bucket (the bucket's active days as a bit mask, counted by popcount)."""
    # Each pass joins its own projection: one shared join would be materialised in full by
    # DuckDB (every event with every column) and push the aggregations into spilling.
    events = usage.select(
        "account_id", "event_type", "quantity", day=usage.occurred_at.truncate("D")
    )
    events = events.inner_join(
        _frame_table(buckets.history).select("day", "bucket", "day_bit"), "day"
    )
    per_bucket = events.group_by(["account_id", "bucket"]).aggregate(
        n=events.count(),
        quantity=events.quantity.sum(),
        day_mask=events.day_bit.bit_or(),
        last_day=events.day.max(),
        **{
            column: _count_if(events.event_type.isin(list(spelt)))
            for column, spelt in zip(_type_columns(spec), spec.spellings("event_type"), strict=True)
        },
    )
    return per_bucket.mutate(
        active_days=_popcount(per_bucket.day_mask, buckets.max_bucket_days)
    ).drop("day_mask")


def _lifetime_segment(buckets: UsageBuckets) -> int:
    return len(buckets.offsets) - 1


def _usage_segments(by_segment: ir.Table, spine: ir.Table, buckets, spec) -> ir.Table:
    """The spine with, per segment of its as-of's lookback, every metric as one column
    (`n_s0`, `n_s1`, ...)."""
    metrics = ["n", "quantity", "active_days", *_type_columns(spec)]
    agg = spine
    for seg in range(len(buckets.offsets) - 1):
        part = by_segment.filter(by_segment.seg == seg)
        part = part.select(
            "account_id", "as_of", **{f"{c}_s{seg}": part[c] for c in [*metrics, "last_day"]}
        )
        agg = agg.left_join(part, ["account_id", "as_of"]).select(
            agg, *[part[c] for c in part.columns if c not in ("account_id", "as_of")]
        )
    return agg


def _usage_by_segment(per_bucket: ir.Table, buckets, spec) -> ir.Table:
    """Bucket sums per account, as-of and segment of its lookback (plain sums, few columns),
    plus per account the sums of the buckets between each as-of and the one before."""
    metrics = ["n", "quantity", "active_days", *_type_columns(spec)]
    # The lifetime rows ride along as one more segment (each bucket under its first as-of
    # after it): the events are then aggregated once, for windows and lifetimes alike.
    lifetime_rows = buckets.epochs.assign(seg=_lifetime_segment(buckets))
    mapping = pd.concat([buckets.segments, lifetime_rows[["as_of", "bucket", "seg"]]])
    j = per_bucket.inner_join(_frame_table(mapping), "bucket")
    return j.group_by(["account_id", "as_of", "seg"]).aggregate(
        quantity=j.quantity.fill_null(0).sum().cast("float64"),
        last_day=j.last_day.max(),
        **{m: j[m].sum() for m in metrics if m != "quantity"},
    )


def _usage_windows(by_segment: ir.Table, spine: ir.Table, buckets, spec) -> ir.Table:
    """Window sums (each a sum of segment columns), per-type counts in every window, breadth,
    trends and recency."""
    agg = _usage_segments(by_segment, spine, buckets, spec)
    main_w = spec.trend_window_days

    def over(metric: str, back_from: int, back_to: int = 0) -> ir.NumericValue:
        within = buckets.segments_within(back_from, back_to)
        return _total([agg[f"{metric}_s{i}"].fill_null(0) for i in within])

    slugs = [feature_slug(et, "event_type") for et in spec.event_types]
    cols: dict[str, ir.Value] = {}
    for w in spec.windows_days:
        cols[f"usage_events_{w}d"] = over("n", w)
        cols[f"usage_quantity_{w}d"] = over("quantity", w).cast("float64")
        cols[f"usage_active_days_{w}d"] = over("active_days", w)
        counts = [over(t, w) for t in _type_columns(spec)]
        cols[f"usage_feature_breadth_{w}d"] = _total([(c > 0).cast("int64") for c in counts])
        cols.update({f"usage_{s}_{w}d": c for s, c in zip(slugs, counts, strict=True)})
    cols["usage_events_prev_period"] = over("n", 2 * main_w, main_w)
    cols["usage_trend_ratio"] = _trend(over("n", main_w), over("n", 2 * main_w, main_w))
    for slug, t in zip(slugs, _type_columns(spec), strict=True):
        cols[f"usage_{slug}_trend_ratio"] = _trend(over(t, main_w), over(t, 2 * main_w, main_w))
    last_day = ibis.greatest(*[agg[f"last_day_s{i}"] for i in range(len(buckets.offsets) - 1)])
    no_activity = float(spec.lookback_days + 1)
    cols["usage_days_since_last_activity"] = (
        _days_between(agg.as_of, last_day).floor().cast("float64").fill_null(no_activity)
    )
    return agg.select("account_id", "as_of", **cols)


def _with_lifetime(out: ir.Table, by_segment: ir.Table, buckets, spec) -> ir.Table:
    """Events, active days and per-type counts over every logged day before the as-of: a
    running sum, per account and over the as-ofs, of what happened between one and the next.
    Between-as-of sums of an as-of the account is not in (before its first subscription,
    between two contracts) still count towards its later lifetimes."""
    metrics = {"n": "usage_events_lifetime", "active_days": "usage_active_days_lifetime"}
    metrics.update(
        {
            t: f"usage_{feature_slug(et, 'event_type')}_lifetime"
            for t, et in zip(_type_columns(spec), spec.event_types, strict=True)
        }
    )
    step = by_segment.filter(by_segment.seg == _lifetime_segment(buckets))
    keys = out.select("account_id", "as_of")
    both = keys.outer_join(step, ["account_id", "as_of"])
    both = both.select(
        account_id=ibis.coalesce(both.account_id, both.account_id_right),
        as_of=ibis.coalesce(both.as_of, both.as_of_right),
        **{name: both[m].fill_null(0) for m, name in metrics.items()},
    )
    running = ibis.cumulative_window(group_by="account_id", order_by="as_of")
    lifetime = both.select(
        "account_id", "as_of", **{name: both[name].sum().over(running) for name in metrics.values()}
    )
    out = out.left_join(lifetime, ["account_id", "as_of"]).select(
        out, *[lifetime[name] for name in metrics.values()]
    )
    return out.fill_null({name: 0 for name in metrics.values()})


def _with_active_users(out: ir.Table, usage: ir.Table, buckets, spec) -> ir.Table:
    """Distinct users per window, from one bit mask per account and user of the ranges the
    user was active in: counted per account (not per account and as-of), one count per as-of
    and window, then each row picks its as-of's count."""
    users = usage.filter(usage.user_id.notnull())
    users = users.select("account_id", "user_id", day=users.occurred_at.truncate("D"))
    users = users.inner_join(
        _frame_table(buckets.days).select("day", "user_word", "bucket_bit"), "day"
    )
    words = range(buckets.words)
    user_masks = users.group_by(["account_id", "user_id"]).aggregate(
        **{f"_m{i}": ibis.ifelse(users.user_word == i, users.bucket_bit, 0).bit_or() for i in words}
    )
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
    joined = out.left_join(per_account, "account_id")
    picked = {
        f"usage_active_users_{w}d": ibis.cases(
            *[
                (joined.as_of == ibis.timestamp(a), joined[f"_u{i}_{w}"])
                for i, a in enumerate(as_of_list)
            ],
            else_=0,
        ).fill_null(0)
        if as_of_list
        else ibis.literal(0, "int64")
        for w in spec.windows_days
    }
    return joined.select(out, **picked)


def _usage_ratios(out: ir.Table, spec: FeatureSpec) -> dict[str, ir.Value]:
    """Events per active day and per active user in each window (intensity, not reach)."""
    cols: dict[str, ir.Value] = {}
    for w in spec.windows_days:
        events = out[f"usage_events_{w}d"]
        cols[f"usage_events_per_active_day_{w}d"] = _ratio(
            events, out[f"usage_active_days_{w}d"], 0.0
        )
        cols[f"usage_events_per_active_user_{w}d"] = _ratio(
            events, out[f"usage_active_users_{w}d"], None
        )
    return cols


def _onboarding_milestones(spec: FeatureSpec) -> list[list[str]]:
    """Per configured onboarding event, the values that count for it: itself and the tracked
    spellings written alike (`integration_connected` also counts `Integration Connected`)."""
    tracked = [v for spelt in spec.spellings("event_type") for v in spelt]
    return [
        sorted({event, *[v for v in tracked if _slug(v) == _slug(event)]})
        for event in spec.onboarding_events
    ]


def _with_onboarding(out: ir.Table, usage: ir.Table, spine: ir.Table, spec) -> ir.Table:
    """Distinct onboarding milestones (configured event types) reached before the as-of."""
    milestones = _onboarding_milestones(spec)
    reached = usage.mutate(
        milestone=ibis.cases(
            *[(usage.event_type.isin(values), k) for k, values in enumerate(milestones)],
            else_=-1,
        )
    )
    firsts = reached.filter(reached.milestone >= 0)
    firsts = firsts.group_by(["account_id", "milestone"]).aggregate(
        first_at=firsts.occurred_at.min()
    )
    oj = spine.inner_join(
        firsts, [spine.account_id == firsts.account_id, firsts.first_at < spine.as_of]
    )
    onboarding = oj.group_by([oj.account_id, oj.as_of]).aggregate(
        usage_onboarding_milestones=oj.milestone.nunique()
    )
    out = out.left_join(onboarding, ["account_id", "as_of"]).select(
        out, onboarding.usage_onboarding_milestones
    )
    return out.mutate(usage_onboarding_milestones=out.usage_onboarding_milestones.fill_null(0))


def support_features(tickets: ir.Table, spine: ir.Table, spec: FeatureSpec) -> ir.Table:
    """Support load and pain: volume by priority/category, open backlog, response, CSAT, escalations.

    What does not depend on the as-of (priority class, category, response and resolution
    times) is worked out once per ticket, before the join that repeats each ticket for every
    later as-of of its account.
    """
    per_ticket = _per_ticket(tickets, spec)
    j = spine.inner_join(
        per_ticket,
        [spine.account_id == per_ticket.account_id, per_ticket.opened_at < spine.as_of],
    )
    long_w = max(spec.windows_days)
    # Keep the ticket/as-of pairs some feature can use: opened within the longest window,
    # still open at the as-of, or closed within the longest window. The rest (old, closed
    # tickets) would only add zeros and NULLs to the aggregation.
    reach = ibis.interval(days=max(long_w, 2 * spec.trend_window_days))
    j = j.filter(
        (j.opened_at >= j.as_of - reach)
        | j.closed_at.isnull()
        | (j.closed_at >= j.as_of - ibis.interval(days=long_w))
    )
    aggs = {**_ticket_volumes(j, spec), **_ticket_backlog(j), **_ticket_service(j, long_w)}
    agg = j.group_by([j.account_id, j.as_of]).aggregate(**aggs)
    out = spine.left_join(agg, ["account_id", "as_of"]).select(
        spine, *[agg[c] for c in agg.columns if c not in ("account_id", "as_of")]
    )
    nullable = {
        f"support_first_response_hours_{long_w}d",
        f"support_resolution_hours_{long_w}d",
        f"support_satisfaction_{long_w}d",
    }
    fills = {c: 0 for c in agg.columns if c not in ("account_id", "as_of") and c not in nullable}
    return out.fill_null(fills)


def _per_ticket(tickets: ir.Table, spec: FeatureSpec) -> ir.Table:
    """Each ticket's priority class, category number and response and resolution times."""
    categories = spec.spellings("category")
    return tickets.select(
        "account_id",
        "opened_at",
        "closed_at",
        "first_response_at",
        "satisfaction",
        high=tickets.priority.lower().isin(list(HIGH_PRIORITIES)).fill_null(False),
        category_k=(
            ibis.cases(
                *[(tickets.category.isin(list(c)), k) for k, c in enumerate(categories)],
                else_=-1,
            )
            if categories
            else ibis.literal(-1)
        ).cast("int64"),
        escalated=tickets.escalated.fill_null(False),
        response_hours=_days_between(tickets.first_response_at, tickets.opened_at) * 24.0,
        resolution_hours=_days_between(tickets.closed_at, tickets.opened_at) * 24.0,
    )


def _ticket_volumes(j: ir.Table, spec: FeatureSpec) -> dict[str, ir.Scalar]:
    """Tickets opened per window, high-priority ones, per category, and the period before."""
    long_w, main_w = max(spec.windows_days), spec.trend_window_days
    aggs: dict[str, ir.Scalar] = {}
    for w in spec.windows_days:
        inw = _in_window(j.opened_at, j.as_of, w)
        aggs[f"support_tickets_{w}d"] = _count_if(inw)
        aggs[f"support_high_priority_tickets_{w}d"] = _count_if(inw & j.high)
    in_long = _in_window(j.opened_at, j.as_of, long_w)
    for k, cat in enumerate(spec.ticket_categories):
        aggs[f"support_{feature_slug(cat, 'category')}_tickets_{long_w}d"] = _count_if(
            in_long & (j.category_k == k)
        )
    aggs[f"support_tickets_{main_w}d_prev_period"] = _count_if(
        (j.opened_at >= j.as_of - ibis.interval(days=2 * main_w))
        & (j.opened_at < j.as_of - ibis.interval(days=main_w))
    )
    return aggs


def _open_at(j: ir.Table) -> ir.BooleanValue:
    """Open at the as-of: not closed before it, whatever the ticket's current status."""
    return ~(j.closed_at.notnull() & (j.closed_at < j.as_of))


def _ticket_backlog(j: ir.Table) -> dict[str, ir.Scalar]:
    """Tickets open at the as-of: how many, how urgent, how old, how many unanswered."""
    open_at = _open_at(j)
    responded = j.first_response_at.notnull() & (j.first_response_at < j.as_of)
    return {
        "support_open_tickets": _count_if(open_at),
        "support_open_high_priority_tickets": _count_if(open_at & j.high),
        "support_oldest_open_ticket_days": ibis.ifelse(
            open_at, _days_between(j.as_of, j.opened_at), None
        )
        .max()
        .fill_null(0.0),
        "support_unanswered_tickets": _count_if(open_at & ~responded),
    }


def _ticket_service(j: ir.Table, long_w: int) -> dict[str, ir.Scalar]:
    """Service over the longest window: response and resolution times, escalations, CSAT."""
    in_long = _in_window(j.opened_at, j.as_of, long_w)
    responded = j.first_response_at.notnull() & (j.first_response_at < j.as_of)
    closed_in_long = ~_open_at(j) & (j.closed_at >= j.as_of - ibis.interval(days=long_w))
    return {
        f"support_first_response_hours_{long_w}d": ibis.ifelse(
            in_long & responded, j.response_hours, None
        ).mean(),
        f"support_resolution_hours_{long_w}d": ibis.ifelse(
            closed_in_long, j.resolution_hours, None
        ).mean(),
        # The escalation flag and CSAT carry no timestamp: trust them only on tickets closed
        # before the as-of.
        f"support_escalations_{long_w}d": _count_if(closed_in_long & j.escalated),
        f"support_satisfaction_{long_w}d": ibis.ifelse(closed_in_long, j.satisfaction, None).mean(),
    }


def contract_features(
    subscriptions: ir.Table, accounts: ir.Table, spine: ir.Table, spec: FeatureSpec
) -> ir.Table:
    """The contract just before the as-of (live_rows_before): MRR, seats, plan, billing, tenure,
    renewal, recent changes."""
    s = subscriptions.mutate(plan_rank=plan_rank(subscriptions.plan, spec.plan_order))
    now = _contract_now(s, spine, spec)
    # MRR just before 90 days before the as-of (0 if not a customer then), by the same rule.
    back = spine.mutate(back_at=spine.as_of - ibis.interval(days=90))
    past = live_rows_before(s, back, "back_at", spec.reactivation_gap_days)
    past_mrr = past.group_by([past.account_id, past.as_of]).aggregate(
        mrr_90d_ago=past.mrr.sum().cast("float64")
    )
    changes = _contract_changes(s, spine)
    first = s.group_by("account_id").aggregate(first_start=s.start_at.min())
    acc = accounts.select("account_id", "created_at")
    out = spine.left_join(now, ["account_id", "as_of"]).select(
        spine, *[now[c] for c in now.columns if c not in ("account_id", "as_of")]
    )
    out = out.left_join(past_mrr, ["account_id", "as_of"]).select(out, past_mrr.mrr_90d_ago)
    out = out.left_join(changes, ["account_id", "as_of"]).select(
        out, changes.contract_downgrades_180d, changes.contract_upgrades_180d
    )
    out = out.left_join(first, "account_id").select(out, first.first_start)
    out = out.left_join(acc, "account_id").select(out, acc.created_at)
    # Tenure from the account's creation when mapped (and before the as-of), else from its
    # first subscription.
    tenure_from = ibis.coalesce(
        ibis.ifelse(out.created_at < out.as_of, out.created_at, None), out.first_start
    )
    mrr_before = out.mrr_90d_ago.fill_null(0.0)
    return out.mutate(
        contract_tenure_days=_days_between(out.as_of, tenure_from),
        contract_mrr_change_90d=out.contract_mrr - mrr_before,
        contract_mrr_change_ratio_90d=ibis.ifelse(
            mrr_before > 0, out.contract_mrr / mrr_before, 1.0
        ),
        contract_arr=out.contract_mrr * 12.0,
        contract_mrr_per_seat=_ratio(out.contract_mrr, out.contract_seats, None),
        contract_downgrades_180d=out.contract_downgrades_180d.fill_null(0),
        contract_upgrades_180d=out.contract_upgrades_180d.fill_null(0),
    ).drop("mrr_90d_ago", "first_start", "created_at")


def _contract_now(s: ir.Table, spine: ir.Table, spec: FeatureSpec) -> ir.Table:
    """MRR, seats, plan, billing period and renewal of the rows live just before the as-of."""
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
    return live.group_by([live.account_id, live.as_of]).aggregate(
        contract_mrr=live.mrr.sum().cast("float64"),
        contract_seats=live.seats.sum().fill_null(0).cast("float64"),
        contract_plan_rank=live.plan_rank.max(),
        contract_plan=live.plan.max(),  # representative label when several rows are live
        contract_is_annual=live.is_long.max(),
        contract_billing_months=live.period_days.max() / DAYS_PER_MONTH,
        contract_days_to_renewal=live.days_to_renewal.min(),
        contract_current_period_days=since_start.min(),
    )


def _contract_changes(s: ir.Table, spine: ir.Table) -> ir.Table:
    """Downgrades and upgrades: rows started in the last 180 days with lower (higher) MRR than
    the row before them."""
    w = ibis.window(group_by="account_id", order_by="start_at")
    steps = s.mutate(prev_mrr=s.mrr.lag().over(w))
    sj = spine.inner_join(
        steps,
        [
            spine.account_id == steps.account_id,
            steps.start_at < spine.as_of,
            steps.start_at >= spine.as_of - ibis.interval(days=180),
        ],
    )
    return sj.group_by([sj.account_id, sj.as_of]).aggregate(
        contract_downgrades_180d=_count_if(sj.prev_mrr.notnull() & (sj.mrr < sj.prev_mrr)),
        contract_upgrades_180d=_count_if(sj.prev_mrr.notnull() & (sj.mrr > sj.prev_mrr)),
    )


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
    if spec.has_usage and spec.has_contract:  # usage per seat and per month as a customer
        out = out.mutate(**usage_per_contract(out, spec))
    return out.order_by(["as_of", "account_id"]) if ordered else out


def usage_per_contract(out: ir.Table, spec: FeatureSpec) -> dict[str, ir.Value]:
    """Usage read against the contract: active users per paid seat, and lifetime events and
    active days per month as a customer (tenure under a month counts as one month)."""
    months = out.contract_tenure_days / DAYS_PER_MONTH
    months = ibis.ifelse(months > 1.0, months, 1.0)
    users = out[f"usage_active_users_{spec.trend_window_days}d"]
    return {
        "usage_active_users_per_seat": _ratio(users, out.contract_seats, None),
        "usage_events_per_month": out.usage_events_lifetime.cast("float64") / months,
        "usage_active_days_per_month": out.usage_active_days_lifetime.cast("float64") / months,
    }


def _table(tables: dict[str, ir.Table], name: str) -> ir.Table:
    """A table the spec was built with; scoring data without it cannot use that spec."""
    if name not in tables:
        raise ValueError(
            f"the model was trained with features from {name}, but sources.{name} is not "
            "configured now; map it again or retrain"
        )
    return tables[name]
