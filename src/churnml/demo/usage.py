"""Usage events, chunk by chunk of accounts, so 50M events never sit in memory at once.

Per account-day the expected count is active users x events per user x weekday/season
factors x fades (pre-churn decline, champion loss, slumps), with gamma noise; events are drawn
from it with numpy only. Each chunk has its own random stream (table 5, first account), so
output is deterministic for a given seed and chunk size.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa

from churnml.demo.base import (
    API_CALL,
    DASHBOARD_VIEW,
    DAYS_PER_MONTH,
    DEFAULT_END,
    DEFAULT_EVENTS_PER_USER_DAY,
    EVENT_TYPES,
    EVENT_WEIGHTS,
    EXPORT,
    INTEGRATION_CONNECTED,
    INTEGRATION_SYNC,
    LOGIN,
    MILESTONES,
    NEVER,
    REPORT_CREATED,
    REPORT_SHARED,
    US_PER_DAY,
    US_PER_HOUR,
    USER_INVITED,
    demo_window,
    nat_to_never,
    stream,
    to_us,
)
from churnml.demo.contracts import contract_rows


@dataclass(frozen=True)
class _Days:
    """The window's calendar: day 0 is ``window_start``; flags are one per day."""

    day0: int
    n_days: int
    col: np.ndarray
    weekend: np.ndarray
    holiday: np.ndarray
    summer: np.ndarray

    @classmethod
    def of_window(cls, window_start: pd.Timestamp, until: pd.Timestamp) -> _Days:
        n_days = (until - window_start).days
        days = pd.date_range(window_start, periods=n_days, freq="D")
        return cls(
            day0=to_us(window_start),
            n_days=n_days,
            col=np.arange(n_days),
            weekend=np.asarray(days.dayofweek >= 5),
            holiday=np.asarray(
                ((days.month == 12) & (days.day >= 22)) | ((days.month == 1) & (days.day <= 2))
            ),
            summer=np.asarray(days.month.isin([7, 8])),
        )

    def index_of(self, us: np.ndarray) -> np.ndarray:
        """Day index of each instant (floor), ``10 * n_days`` (far beyond) for ``NEVER``."""
        return np.where(us == NEVER, 10 * self.n_days, (us - self.day0) // US_PER_DAY)


def iter_usage_event_batches(
    latent: pd.DataFrame,
    subscriptions: pd.DataFrame,
    months: int,
    seed: int,
    end: date = DEFAULT_END,
    chunk_accounts: int = 5000,
    events_per_user_day: float = DEFAULT_EVENTS_PER_USER_DAY,
) -> Iterator[pa.Table]:
    """Usage events as Arrow tables, one per chunk of accounts (the fast path for writers)."""
    grid = _Days.of_window(*demo_window(months, end))
    rows = contract_rows(subscriptions, latent["account_id"])
    row_bounds = np.searchsorted(
        rows["acc"], np.arange(0, len(latent) + chunk_accounts, chunk_accounts)
    )
    created = latent["created_at"].to_numpy().astype("datetime64[us]").astype(np.int64)
    champion = nat_to_never(latent["champion_left_at"])
    slump = nat_to_never(latent["slump_start"])
    for chunk, lo in enumerate(range(0, len(latent), chunk_accounts)):
        hi = min(lo + chunk_accounts, len(latent))
        r0, r1 = row_bounds[chunk], row_bounds[chunk + 1]
        chunk_rows = {k: v[r0:r1] for k, v in rows.items()}
        chunk_rows["acc"] = chunk_rows["acc"] - lo
        yield _chunk_events(
            stream(seed, 5, lo),
            latent.iloc[lo:hi],
            chunk_rows,
            grid,
            created=created[lo:hi],
            champion=champion[lo:hi],
            slump=slump[lo:hi],
            events_per_user_day=events_per_user_day,
        )


def _chunk_events(
    rng: np.random.Generator,
    lat: pd.DataFrame,
    rows: dict[str, np.ndarray],
    grid: _Days,
    *,
    created: np.ndarray,
    champion: np.ndarray,
    slump: np.ndarray,
    events_per_user_day: float,
) -> pa.Table:
    """One chunk's events: expected counts per account-day, then event types, times, amounts."""
    days = _account_days(lat, rows, grid, created, champion, slump)
    rate = (
        days["active"]
        * days["users_today"]
        * events_per_user_day
        * lat["usage_intensity"].to_numpy()[:, None]
        * days["season"]
        * np.where(days["gone"], 0.8, 1.0)
        * days["damp"]
        * rng.gamma(3.0, 1 / 3, days["active"].shape)
    )
    counts = rng.poisson(rate)
    cell_acc, cell_day = np.nonzero(counts)
    reps = counts[cell_acc, cell_day]
    ev_acc = np.repeat(cell_acc, reps)
    ev_day = np.repeat(cell_day, reps)
    pool = np.maximum(1, np.rint(days["users_today"][cell_acc, cell_day])).astype(np.int64)
    ev_user = (rng.random(len(ev_acc)) ** 1.4 * np.repeat(pool, reps)).astype(np.int64)
    milestone_day = _milestone_days(lat, created, grid)
    etype = _event_types(rng, lat, milestone_day, grid.n_days, ev_acc, ev_day, days)
    ev_acc, ev_day, etype, ev_user = _with_milestone_events(
        milestone_day, days["active"], grid.n_days, ev_acc, ev_day, etype, ev_user
    )
    ev_user += days["gone"][ev_acc, ev_day]  # the champion (user 1) stops appearing once gone
    occurred = _occurred_at(rng, lat, grid, ev_acc, ev_day, etype)
    quantity = _quantities(rng, etype)
    order = np.argsort(ev_acc.astype(np.int64) * (grid.n_days * US_PER_DAY) + occurred - grid.day0)
    return _arrow_batch(
        lat["account_id"].to_numpy(),
        ev_acc[order],
        occurred[order],
        etype[order],
        ev_user[order],
        quantity[order],
    )


def _account_days(
    lat: pd.DataFrame,
    rows: dict[str, np.ndarray],
    grid: _Days,
    created: np.ndarray,
    champion: np.ndarray,
    slump: np.ndarray,
) -> dict[str, np.ndarray]:
    """Account x day grids: subscribed, users, damping (fade, slump), season, champion gone."""
    active, seats_day = _subscribed_days(rows, len(lat), grid)
    to_end = _days_to_period_end(active, grid)
    fades = lat["fades_before_churn"].to_numpy()[:, None]
    fade_days = lat["fade_days"].to_numpy()[:, None]
    floor = lat["fade_floor"].to_numpy()[:, None]
    fade = np.where(
        fades & (to_end <= fade_days),
        floor + (1 - floor) * (to_end - 1) / fade_days,
        1.0,
    )
    col = grid.col
    tenure_months = (grid.day0 + col[None, :] * US_PER_DAY - created[:, None]) / (
        US_PER_DAY * DAYS_PER_MONTH
    )
    growth = lat["user_growth_per_month"].to_numpy()[:, None]
    users = lat["base_users"].to_numpy()[:, None] * np.exp(growth * np.clip(tenure_months, 0, 36))
    gone = col[None, :] >= grid.index_of(champion)[:, None]
    users = np.minimum(np.where(gone, 0.6 * users, users), 1.15 * seats_day)
    slump_day = grid.index_of(slump)
    in_slump = (col[None, :] >= slump_day[:, None]) & (
        col[None, :] < (slump_day + lat["slump_days"].to_numpy())[:, None]
    )
    damp = np.sqrt(fade * np.where(in_slump, lat["slump_factor"].to_numpy()[:, None], 1.0))
    season = np.where(grid.weekend[None, :], lat["weekend_share"].to_numpy()[:, None], 1.0)
    season = season * np.where(grid.holiday, 0.45, 1.0)[None, :]
    season = season * np.where(
        lat["summer_dip"].to_numpy()[:, None] & grid.summer[None, :], 0.45, 1.0
    )
    return {
        "active": active,
        "to_end": to_end,
        "fades": fades,
        "gone": gone,
        "damp": damp,
        "season": season,
        "users_today": np.maximum(users * damp, 0.0),
    }


def _subscribed_days(
    rows: dict[str, np.ndarray], n: int, grid: _Days
) -> tuple[np.ndarray, np.ndarray]:
    """Whether each account is subscribed on each day, and its seats that day."""
    n_days, day0 = grid.n_days, grid.day0
    first_day = np.clip(-((day0 - rows["start"]) // US_PER_DAY), 0, n_days)
    row_end = rows["end"]
    last_day = np.where(
        row_end == NEVER, n_days, np.clip(-((day0 - row_end) // US_PER_DAY), 0, n_days)
    )
    diff = np.zeros((n, n_days + 1), np.int64)
    np.add.at(diff, (rows["acc"], first_day), 1)
    np.add.at(diff, (rows["acc"], last_day), -1)
    active = np.cumsum(diff[:, :n_days], axis=1) > 0
    diff[:] = 0
    np.add.at(diff, (rows["acc"], first_day), rows["seats"])
    np.add.at(diff, (rows["acc"], last_day), -rows["seats"])
    return active, np.cumsum(diff[:, :n_days], axis=1)


def _days_to_period_end(active: np.ndarray, grid: _Days) -> np.ndarray:
    """Days until the active period ends (a cancellation), for the pre-churn fade."""
    n_days, col = grid.n_days, grid.col
    ends = np.zeros(active.shape, bool)
    ends[:, 1:] = active[:, :-1] & ~active[:, 1:]
    next_end = np.where(ends, col, 10 * n_days)
    next_end = np.minimum.accumulate(next_end[:, ::-1], axis=1)[:, ::-1]
    return next_end - col


def _milestone_days(lat: pd.DataFrame, created: np.ndarray, grid: _Days) -> dict[str, np.ndarray]:
    """Day index each onboarding milestone is reached, ``10 * n_days`` when never."""
    milestone_day = {}
    for name in MILESTONES:
        offset = lat[f"{name}_day"].to_numpy()
        reached = ~np.isnan(offset)
        at = created + np.nan_to_num(offset).astype(np.int64) * US_PER_DAY
        milestone_day[name] = np.where(reached, -((grid.day0 - at) // US_PER_DAY), 10 * grid.n_days)
    return milestone_day


def _event_types(
    rng: np.random.Generator,
    lat: pd.DataFrame,
    milestone_day: dict[str, np.ndarray],
    n_days: int,
    ev_acc: np.ndarray,
    ev_day: np.ndarray,
    days: dict[str, np.ndarray],
) -> np.ndarray:
    """Event type codes: feature adoption differs by account, breadth grows with fit and onboarding.

    No feature before its milestone; fading churners export their data at the end.
    """
    n = len(lat)
    fit = lat["product_fit"].to_numpy()
    onboard = lat["onboarding_quality"].to_numpy()
    adopt = (
        rng.random((n, len(EVENT_TYPES)))
        < np.clip(0.2 + 0.6 * fit + 0.25 * onboard, 0, 0.98)[:, None]
    )
    adopt[:, [LOGIN, DASHBOARD_VIEW, USER_INVITED]] = True
    has_integration = milestone_day["integration_connected"] < 10 * n_days
    adopt[:, INTEGRATION_CONNECTED] = has_integration
    adopt[:, INTEGRATION_SYNC] = has_integration
    adopt[:, REPORT_SHARED] = milestone_day["report_shared"] < 10 * n_days
    weights = adopt * EVENT_WEIGHTS[None, :] * rng.gamma(2.0, 0.5, (n, len(EVENT_TYPES)))
    cum = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    m = len(ev_acc)
    etype = np.minimum(
        (rng.random(m)[:, None] > cum[ev_acc]).sum(axis=1), len(EVENT_TYPES) - 1
    ).astype(np.int8)
    before = ev_day < milestone_day["integration_connected"][ev_acc]
    etype[before & ((etype == INTEGRATION_SYNC) | (etype == INTEGRATION_CONNECTED))] = (
        DASHBOARD_VIEW
    )
    etype[(ev_day < milestone_day["report_shared"][ev_acc]) & (etype == REPORT_SHARED)] = (
        REPORT_CREATED
    )
    etype[(ev_day < milestone_day["user_invited"][ev_acc]) & (etype == USER_INVITED)] = LOGIN
    leaving = days["fades"][ev_acc, 0] & (days["to_end"][ev_acc, ev_day] <= 30)
    etype[leaving & (rng.random(m) < 0.12)] = EXPORT
    return etype


def _with_milestone_events(
    milestone_day: dict[str, np.ndarray],
    active: np.ndarray,
    n_days: int,
    ev_acc: np.ndarray,
    ev_day: np.ndarray,
    etype: np.ndarray,
    ev_user: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The milestone itself: one event on the day it is reached, by the first user."""
    extra_acc, extra_day, extra_type = [ev_acc], [ev_day], [etype]
    for code, name in zip(
        (INTEGRATION_CONNECTED, REPORT_SHARED, USER_INVITED), MILESTONES, strict=True
    ):
        d = milestone_day[name]
        hit = np.flatnonzero((d >= 0) & (d < n_days))
        hit = hit[active[hit, d[hit]]]
        extra_acc.append(hit)
        extra_day.append(d[hit])
        extra_type.append(np.full(len(hit), code, np.int8))
    n_extra = sum(len(x) for x in extra_acc[1:])
    return (
        np.concatenate(extra_acc),
        np.concatenate(extra_day),
        np.concatenate(extra_type),
        np.concatenate([ev_user, np.zeros(n_extra, np.int64)]),
    )


def _occurred_at(
    rng: np.random.Generator,
    lat: pd.DataFrame,
    grid: _Days,
    ev_acc: np.ndarray,
    ev_day: np.ndarray,
    etype: np.ndarray,
) -> np.ndarray:
    """Event instants: people work mornings and afternoons local time, machines round the clock."""
    m = len(ev_acc)
    machine = (etype == API_CALL) | (etype == INTEGRATION_SYNC)
    local_hour = np.where(rng.random(m) < 0.5, rng.normal(10.5, 1.6, m), rng.normal(15.0, 1.9, m))
    local_hour = np.where(machine, rng.random(m) * 24.0, local_hour)
    utc_hour = (local_hour - lat["utc_offset_hours"].to_numpy()[ev_acc]) % 24.0
    return (
        grid.day0
        + ev_day.astype(np.int64) * US_PER_DAY
        + np.minimum((utc_hour * US_PER_HOUR).astype(np.int64), US_PER_DAY - 1)
    )


def _quantities(rng: np.random.Generator, etype: np.ndarray) -> np.ndarray:
    """Session minutes for logins, rows for exports, calls or records per batch; else 1."""
    quantity = np.ones(len(etype))
    for code, mean_log, spread in (
        (EXPORT, 6.0, 1.2),
        (API_CALL, 3.0, 1.0),
        (INTEGRATION_SYNC, 5.0, 1.3),
    ):
        mask = etype == code
        quantity[mask] = np.round(rng.lognormal(mean_log, spread, int(mask.sum())))
    mask = etype == LOGIN
    quantity[mask] = np.maximum(np.round(rng.gamma(2.0, 9.0, int(mask.sum())), 1), 0.1)
    return quantity


_EVENT_NAMES = pa.array(EVENT_TYPES.tolist())


def _arrow_batch(
    ids: np.ndarray,
    ev_acc: np.ndarray,
    occurred: np.ndarray,
    etype: np.ndarray,
    ev_user: np.ndarray,
    quantity: np.ndarray,
) -> pa.Table:
    """Events in ``usage_events`` columns; user ids are ``u_<account number>_<nn>``."""
    user_key = ev_acc.astype(np.int64) * 1_000_000 + ev_user
    unique_users, user_pos = np.unique(user_key, return_inverse=True)
    stems = [str(x).removeprefix("acc_") for x in ids]
    user_names = pa.array(
        [f"u_{stems[k // 1_000_000]}_{k % 1_000_000 + 1:02d}" for k in unique_users.tolist()]
    )
    return pa.table(
        {
            "account_id": pa.array(ids.tolist()).take(pa.array(ev_acc)),
            "occurred_at": pa.array(occurred.view("datetime64[us]")),
            "event_type": _EVENT_NAMES.take(pa.array(etype)),
            "user_id": user_names.take(pa.array(user_pos)),
            "quantity": pa.array(quantity),
        }
    )


def iter_usage_events(
    latent: pd.DataFrame,
    subscriptions: pd.DataFrame,
    months: int,
    seed: int,
    end: date = DEFAULT_END,
    chunk_accounts: int = 5000,
    events_per_user_day: float = DEFAULT_EVENTS_PER_USER_DAY,
) -> Iterator[pd.DataFrame]:
    """Usage events in chunks of accounts, so 50M events never sit in memory at once."""
    for batch in iter_usage_event_batches(
        latent, subscriptions, months, seed, end, chunk_accounts, events_per_user_day
    ):
        yield batch.to_pandas()
