"""The as-of grid and the accounts active at each as-of date.

Convention: an as-of date is an instant (midnight UTC). Features use only records strictly
before it; an account is in the snapshot when a subscription row started before the as-of and
had not ended before it (``start_at < as_of <= end_at``, ``end_at`` empty while ongoing).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import ibis
import pandas as pd


def snapshot_grid(last_as_of: date, count: int, frequency: str = "monthly") -> list[date]:
    """`count` as-of dates ending at `last_as_of`: month starts, or every 7 days."""
    if count < 1:
        raise ValueError("snapshot count must be at least 1")
    if frequency == "monthly":
        last = date(last_as_of.year, last_as_of.month, 1)
        months = pd.date_range(end=pd.Timestamp(last), periods=count, freq="MS")
        return [d.date() for d in months]
    if frequency == "weekly":
        return [last_as_of - timedelta(days=7 * i) for i in reversed(range(count))]
    raise ValueError(f"unknown snapshot frequency {frequency!r}")


def as_of_table(as_of_dates: list[date]) -> ibis.Table:
    """The grid as a one-column ibis table, usable on any backend."""
    stamps = [datetime(d.year, d.month, d.day) for d in sorted(set(as_of_dates))]
    frame = pd.DataFrame({"as_of": pd.to_datetime(stamps).astype("datetime64[us]")})
    return ibis.memtable(frame, schema={"as_of": "timestamp"})


def active_accounts(subscriptions: ibis.Table, as_of: ibis.Table) -> ibis.Table:
    """(account_id, as_of) for every account with a live subscription at each as-of."""
    s = subscriptions
    joined = s.inner_join(
        as_of, [s.start_at < as_of.as_of, s.end_at.isnull() | (s.end_at >= as_of.as_of)]
    )
    return joined.select("account_id", "as_of").distinct()
