"""The as-of grid and the accounts active at each as-of date.

Convention: an as-of date is an instant (midnight UTC). Features use only records strictly
before it. Subscription rows are half-open intervals ``[start_at, end_at)`` (docs/data-contract.md):
an account is in the snapshot when one of its rows has ``start_at <= as_of < end_at`` (``end_at``
empty while ongoing). So a row ending exactly at the as-of no longer counts (the customer is
gone at that instant) and one starting exactly at it does. When churn is recorded apart from the
subscriptions (a churn_events table or an account status), an account whose latest recorded
churn at or before the as-of is not followed by a new subscription row (starting at or after
the churn, up to the as-of) is gone too.

Without a subscriptions table (churn from churn_events or an account status), the population
is read off the accounts: an account is in the snapshot from its ``created_at`` on
(``created_at <= as_of``) until its first recorded churn (``churned_at <= as_of``: gone).
Nothing records a return then, so the first churn ends the account for good.
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


def active_accounts(
    subscriptions: ibis.Table, as_of: ibis.Table, churns: ibis.Table | None = None
) -> ibis.Table:
    """(account_id, as_of) for every account with a live subscription at each as-of and, when
    ``churns`` (account_id, churned_at) are given, no churn since its latest subscription start."""
    s = subscriptions
    joined = s.inner_join(
        as_of, [s.start_at <= as_of.as_of, s.end_at.isnull() | (s.end_at > as_of.as_of)]
    )
    live = joined.select("account_id", "as_of").distinct()
    if churns is None:
        return live
    c = churns.inner_join(as_of, churns.churned_at <= as_of.as_of)
    last_churn = c.group_by(["account_id", "as_of"]).aggregate(last_churn=c.churned_at.max())
    started = s.inner_join(as_of, s.start_at <= as_of.as_of)
    last_start = started.group_by(["account_id", "as_of"]).aggregate(
        last_start=started.start_at.max()
    )
    out = live.left_join(last_churn, ["account_id", "as_of"]).select(live, last_churn.last_churn)
    out = out.left_join(last_start, ["account_id", "as_of"]).select(out, last_start.last_start)
    return out.filter(out.last_churn.isnull() | (out.last_start >= out.last_churn)).select(
        "account_id", "as_of"
    )


def accounts_population(accounts: ibis.Table, as_of: ibis.Table, churns: ibis.Table) -> ibis.Table:
    """(account_id, as_of) for every account created at or before each as-of and not churned at
    or before it: the population when no subscriptions are mapped (``churns``: account_id,
    churned_at, from labels.outcome_churns)."""
    a = accounts.filter(accounts.created_at.notnull()).select("account_id", "created_at")
    born = a.inner_join(as_of, a.created_at <= as_of.as_of).select("account_id", "as_of")
    first = churns.group_by("account_id").aggregate(first_churn=churns.churned_at.min())
    out = born.left_join(first, "account_id").select(born, first.first_churn)
    return (
        out.filter(out.first_churn.isnull() | (out.first_churn > out.as_of))
        .select("account_id", "as_of")
        .distinct()
    )


def population(
    tables: dict[str, ibis.Table], as_of: ibis.Table, churns: ibis.Table | None
) -> ibis.Table:
    """The accounts in each snapshot: from the subscriptions when they are mapped, else from the
    accounts' creation dates and the recorded churns."""
    if "subscriptions" in tables:
        return active_accounts(tables["subscriptions"], as_of, churns)
    if churns is None:
        raise ValueError(
            "without sources.subscriptions the accounts in a snapshot are read off the churn "
            "source (labels.churn_source: churn_events or account_status)"
        )
    return accounts_population(tables["accounts"], as_of, churns)
