"""The day ranges behind the usage windows: every window of every as-of is an exact union."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
import pytest

from churnml.features import MASK_BITS, FeatureSpec, usage_buckets
from churnml.snapshots import snapshot_grid

DAY = timedelta(days=1)


def spec(windows=(7, 30, 90), trend=30) -> FeatureSpec:
    return FeatureSpec(windows, trend, ("login",), (), (), (), (), ())


def days_of(buckets, as_of: datetime, back_from: int, back_to: int = 0) -> set:
    """Calendar days the segments say make up [as_of - back_from, as_of - back_to)."""
    segs = set(buckets.segments_within(back_from, back_to))
    rows = buckets.segments[
        (buckets.segments.as_of == pd.Timestamp(as_of)) & buckets.segments.seg.isin(segs)
    ]
    chosen = buckets.days[buckets.days.bucket.isin(rows.bucket)]
    return set(chosen.day.dt.to_pydatetime())


@pytest.mark.parametrize(
    ("grid", "windows", "trend"),
    [
        (snapshot_grid(date(2025, 12, 31), 12, "monthly"), (7, 30, 90), 30),
        (snapshot_grid(date(2025, 12, 31), 40, "weekly"), (7, 30, 90), 30),
        ([date(2023, 1, 1), date(2024, 1, 1), date(2025, 1, 1)], (14, 200), 14),
    ],
)
def test_every_window_is_an_exact_union_of_ranges(grid, windows, trend):
    s = spec(windows, trend)
    b = usage_buckets(grid, s)
    assert b.max_bucket_days <= MASK_BITS
    assert not b.days.day.duplicated().any()  # each day in one range
    assert not b.segments.duplicated(["as_of", "bucket"]).any()  # each range in one segment
    ranges = {f"{w}d": (w, 0) for w in windows} | {"prev": (2 * trend, trend)}
    for d in grid:
        as_of = datetime(d.year, d.month, d.day)
        for back_from, back_to in ranges.values():
            expected = {as_of - i * DAY for i in range(back_to + 1, back_from + 1)}
            assert days_of(b, as_of, back_from, back_to) == expected
        # the user masks cover the same ranges as the windows
        row = b.user_windows.set_index("as_of").loc[pd.Timestamp(as_of)]
        for w in windows:
            bits = [int(row[f"_wm{w}_{j}"]) for j in range(b.words)]
            covered = {
                k
                for k in range(len(b.days.bucket.unique()))
                if bits[k // MASK_BITS] >> (k % MASK_BITS) & 1
            }
            in_window = set(b.days[b.days.day.isin(days_of(b, as_of, w))].bucket)
            assert covered == in_window


def test_day_bits_number_the_days_of_a_range():
    b = usage_buckets([date(2025, 3, 1)], spec())
    for _, days in b.days.groupby("bucket"):
        assert days.day_bit.tolist() == [1 << i for i in range(len(days))]
    assert b.words == 1


def test_many_snapshots_need_several_mask_words():
    b = usage_buckets(snapshot_grid(date(2025, 12, 31), 52, "weekly"), spec())
    assert b.days.bucket.nunique() > MASK_BITS
    assert b.words == -(-b.days.bucket.nunique() // MASK_BITS)


def test_no_as_of_no_ranges():
    b = usage_buckets([], spec())
    assert b.days.empty and b.segments.empty and b.user_windows.empty


def test_history_holds_every_day_before_each_as_of_once():
    """Lifetime counts: since the log's first day, every day before an as-of is in exactly one
    bucket that the as-of sums, also across the gaps between far-apart as-ofs."""
    grid = [date(2023, 1, 1), date(2024, 1, 1), date(2025, 1, 1)]
    first = date(2022, 6, 1)
    b = usage_buckets(grid, spec((14, 200), 14), first)
    assert not b.history.day.duplicated().any()
    assert b.max_bucket_days <= MASK_BITS
    assert b.days.equals(b.history[b.history.bucket.isin(b.days.bucket)].reset_index(drop=True))
    for d in grid:
        as_of = pd.Timestamp(d)
        seen = b.epochs[b.epochs.as_of <= as_of].bucket  # a running sum over the as-ofs
        days = set(b.history[b.history.bucket.isin(seen)].day)
        assert days == set(pd.date_range(pd.Timestamp(first), as_of - pd.Timedelta(days=1)))
    for _, days in b.history.groupby("bucket"):  # day bits number a bucket's days
        assert sorted(days.day_bit) == [1 << i for i in range(len(days))]
