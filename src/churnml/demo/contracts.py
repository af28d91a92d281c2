"""Contracts: a month-by-month simulation over all accounts at once.

Each calendar month every live account may cancel (logistic hazard of its drivers), expand
(seats or plan) or contract. Changes and cancellations take effect at midnight; annual
contracts cancel or shrink only at their anniversary. A few cancelled customers come back after
a gap. The loop runs over calendar months, never over accounts; every draw comes from table
stream 2 in a fixed order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from churnml.demo.base import (
    ANNUAL_DISCOUNT,
    DAYS_PER_MONTH,
    MILESTONES,
    MIN_MRR,
    NEVER,
    PLANS,
    SEAT_CAP,
    SEAT_PRICE,
    US_PER_DAY,
    demo_window,
    sigmoid,
    str_series,
    stream,
    to_datetime,
    to_us,
)

_SEGMENT_HAZARD = np.array([0.45, 0.0, -0.55])  # SMB churn more, Enterprise less
_CHURN_BASE = -5.6


def _month_index(us: np.ndarray) -> np.ndarray:
    return (
        np.asarray(us, dtype=np.int64)
        .view("datetime64[us]")
        .astype("datetime64[M]")
        .astype(np.int64)
    )


def _day_of_month(us: np.ndarray) -> np.ndarray:
    stamp = np.asarray(us, dtype=np.int64).view("datetime64[us]")
    return (stamp.astype("datetime64[D]") - stamp.astype("datetime64[M]")).astype(np.int64)


@dataclass
class _Book:
    """Each account's current subscription row, and every row closed so far."""

    rank: np.ndarray
    seats: np.ndarray
    annual: np.ndarray
    started: np.ndarray = field(init=False)
    active: np.ndarray = field(init=False)
    row_start: np.ndarray = field(init=False)
    term_month: np.ndarray = field(init=False)
    term_day: np.ndarray = field(init=False)
    return_at: np.ndarray = field(init=False)
    closed: list[tuple[np.ndarray, ...]] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.rank)
        self.started = np.zeros(n, bool)
        self.active = np.zeros(n, bool)
        self.row_start = np.full(n, NEVER, np.int64)
        self.term_month = np.zeros(n, np.int64)
        self.term_day = np.zeros(n, np.int64)
        self.return_at = np.full(n, NEVER, np.int64)

    def open_rows(self, idx: np.ndarray, at: np.ndarray) -> None:
        """A new contract term starts (sign-up or comeback)."""
        self.row_start[idx] = at
        self.term_month[idx] = _month_index(at)
        self.term_day[idx] = _day_of_month(at)
        self.active[idx] = True

    def close_rows(self, idx: np.ndarray, at: np.ndarray) -> None:
        self.closed.append(
            (idx, self.row_start[idx], at, self.rank[idx], self.seats[idx], self.annual[idx])
        )


def simulate_contracts(
    latent: pd.DataFrame, start: dict[str, np.ndarray], months: int, seed: int, end: date
) -> pd.DataFrame:
    """Subscription history from each account's sign-up until the data ends."""
    rng = stream(seed, 2)
    _, until = demo_window(months, end)
    created = start["created_us"]
    traits = _account_traits(latent, start)
    first_month = pd.Timestamp(to_datetime(created[:1])[0]).to_period("M").to_timestamp()
    month_starts = pd.date_range(first_month, until, freq="MS")
    bounds = [to_us(m) for m in month_starts if m < until] + [to_us(until)]
    book = _Book(
        rank=start["rank0"].astype(np.int64),
        seats=start["seats0"].astype(np.int64),
        annual=start["annual0"].copy(),
    )
    for m0, m1 in zip(bounds[:-1], bounds[1:], strict=True):
        _sign_ups_and_comebacks(rng, book, created, m1)
        live = np.flatnonzero(book.active & (book.row_start < m0))
        if not len(live):
            continue
        odds = _monthly_odds(rng, book, traits, live, m0, m1)
        draw = rng.random(len(live))
        churn = draw < odds["p_churn"]
        draw2 = rng.random(len(live))
        expand = ~churn & (draw2 < odds["p_expand"])
        contract = ~churn & ~expand & (draw2 < odds["p_expand"] + odds["p_contract"])
        _cancel(rng, book, live[churn], odds, churn)
        _expand(rng, book, live, odds, expand, SEAT_CAP[traits["segment_idx"][live]])
        _contract(rng, book, live, odds, contract)
    ongoing = np.flatnonzero(book.active)
    book.close_rows(ongoing, np.full(len(ongoing), NEVER, np.int64))
    return _subscriptions_frame(book.closed, latent["account_id"].to_numpy(), start["discount"])


def _account_traits(latent: pd.DataFrame, start: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-account arrays the monthly odds read (drivers, onboarding, champion departure)."""
    created = start["created_us"]
    milestone_days = np.stack([latent[f"{m}_day"].to_numpy() for m in MILESTONES])
    return {
        "created": created,
        "segment_idx": start["segment_idx"],
        "fit": latent["product_fit"].to_numpy(),
        "pain": latent["support_pain"].to_numpy(),
        "pressure": latent["price_pressure"].to_numpy(),
        "momentum": latent["growth_momentum"].to_numpy(),
        "noise": latent["account_noise"].to_numpy(),
        "champion": start["champion_left_us"],
        "base_users": latent["base_users"].to_numpy(),
        "growth": latent["user_growth_per_month"].to_numpy(),
        "milestones_60": (milestone_days <= 60).sum(axis=0),
        "integration_us": np.where(
            np.isnan(milestone_days[0]),
            NEVER,
            created + np.nan_to_num(milestone_days[0]).astype(np.int64) * US_PER_DAY,
        ),
    }


def _sign_ups_and_comebacks(
    rng: np.random.Generator, book: _Book, created: np.ndarray, m1: int
) -> None:
    """Accounts signing up this month start; returning customers come back a little smaller."""
    new = np.flatnonzero(~book.started & (created < m1))
    book.started[new] = True
    book.open_rows(new, created[new])
    back = np.flatnonzero(~book.active & (book.return_at < m1))
    if len(back):
        book.rank[back] = np.maximum(book.rank[back] - (rng.random(len(back)) < 0.3), 0)
        book.seats[back] = np.maximum(
            1, np.round(book.seats[back] * rng.uniform(0.6, 1.0, len(back)))
        )
        book.annual[back] = rng.random(len(back)) < 0.2
        book.open_rows(back, book.return_at[back])
        book.return_at[back] = NEVER


def _monthly_odds(
    rng: np.random.Generator,
    book: _Book,
    traits: dict[str, np.ndarray],
    live: np.ndarray,
    m0: int,
    m1: int,
) -> dict[str, np.ndarray]:
    """This month's churn, expansion and contraction chances of the live accounts, and when."""
    k = len(live)
    n_days = (m1 - m0) // US_PER_DAY
    t = {name: values[live] for name, values in traits.items()}
    tenure_months = (m0 - t["created"]) / (US_PER_DAY * DAYS_PER_MONTH)
    champion_gone = t["champion"] <= m0
    champion_recent = champion_gone & (m0 - t["champion"] < 180 * US_PER_DAY)
    demand = (
        t["base_users"]
        * np.exp(t["growth"] * np.minimum(tenure_months, 36))
        * np.where(champion_gone, 0.6, 1.0)
    )
    utilisation = demand / book.seats[live]
    logit = (
        _CHURN_BASE
        + 2.3 * (1 - t["fit"])
        + 2.2 * t["pain"]
        + 0.9 * t["pressure"]
        + 0.3 * (3 - t["milestones_60"]) * (tenure_months < 9)
        + 1.4 * champion_recent
        - 0.35 * (t["integration_us"] <= m0)
        + _SEGMENT_HAZARD[t["segment_idx"]]
        + 1.5 * np.maximum(0.45 - utilisation, 0)
        + t["noise"]
        + rng.normal(0, 0.5, k)
    )
    hazard = sigmoid(logit)
    is_annual = book.annual[live]
    months_into_term = _month_index(np.full(1, m0))[0] - book.term_month[live]
    renewal = is_annual & (months_into_term > 0) & (months_into_term % 12 == 0)
    anniversary = m0 + np.minimum(book.term_day[live], n_days - 1) * US_PER_DAY
    any_day = m0 + rng.integers(0, n_days, k) * US_PER_DAY
    p_expand = sigmoid(
        -4.45
        + 1.2 * t["momentum"]
        + 0.9 * t["fit"]
        + 8.0 * np.maximum(utilisation - 0.75, 0)
        - 1.2 * t["pain"]
        - 0.8 * t["pressure"]
        + rng.normal(0, 0.3, k)
    )
    p_contract = sigmoid(
        -6.2
        + 3.0 * t["pressure"]
        + 3.0 * np.maximum(0.55 - utilisation, 0)
        + 0.8 * (1 - t["fit"])
        + 0.8 * champion_recent
    )
    return {
        "p_churn": np.where(
            is_annual, np.where(renewal, 0.6 * (1 - (1 - hazard) ** 12), 0.0), 1.15 * hazard
        ),
        "p_expand": p_expand,
        "p_contract": np.where(
            is_annual, np.where(renewal, 1 - (1 - p_contract) ** 12, 0.0), p_contract
        ),
        "is_annual": is_annual,
        "anniversary": anniversary,
        "any_day": any_day,
        "demand": demand,
        "utilisation": utilisation,
    }


def _cancel(
    rng: np.random.Generator,
    book: _Book,
    idx: np.ndarray,
    odds: dict[str, np.ndarray],
    churn: np.ndarray,
) -> None:
    """Cancellations close the last row; a few customers come back after a gap."""
    at = np.where(odds["is_annual"][churn], odds["anniversary"][churn], odds["any_day"][churn])
    book.close_rows(idx, at)
    book.active[idx] = False
    comeback = rng.random(len(idx)) < 0.055
    gap_days = np.where(
        rng.random(len(idx)) < 0.45,
        rng.integers(3, 31, len(idx)),
        rng.integers(31, 301, len(idx)),
    )
    book.return_at[idx] = np.where(comeback, at + gap_days * US_PER_DAY, NEVER)


def _expand(
    rng: np.random.Generator,
    book: _Book,
    live: np.ndarray,
    odds: dict[str, np.ndarray],
    expand: np.ndarray,
    seat_cap: np.ndarray,
) -> None:
    """Expansion: seats follow demand when users press on them, otherwise a plan upgrade."""
    k = len(live)
    seats, rank = book.seats[live], book.rank[live]
    by_seats = ((odds["utilisation"] > 0.85) | (rank == 3) | (rng.random(k) < 0.55)) & (
        seats < seat_cap
    )
    expand &= by_seats | (rank < 3)
    wanted = np.ceil(np.maximum(odds["demand"], seats * 0.9) * rng.uniform(1.08, 1.35, k))
    new_seats = np.minimum(np.maximum(seats + 1, wanted), seat_cap).astype(np.int64)
    idx = live[expand]
    at = odds["any_day"][expand]
    book.close_rows(idx, at)
    book.row_start[idx] = at
    book.seats[idx] = np.where(by_seats[expand], new_seats[expand], book.seats[idx])
    book.rank[idx] = np.where(by_seats[expand], book.rank[idx], book.rank[idx] + 1)


def _contract(
    rng: np.random.Generator,
    book: _Book,
    live: np.ndarray,
    odds: dict[str, np.ndarray],
    contract: np.ndarray,
) -> None:
    """Contraction: seats drop to what is used, or the plan steps down."""
    seats, rank = book.seats[live], book.rank[live]
    by_cut = ((odds["utilisation"] < 0.7) & (seats > 1)) | (rank == 0)
    contract &= np.where(by_cut, seats > 1, rank > 0)
    kept = np.ceil(odds["demand"] * rng.uniform(1.0, 1.2, len(live)))
    cut_seats = np.maximum(1, np.minimum(seats - 1, kept)).astype(np.int64)
    idx = live[contract]
    at = np.where(
        odds["is_annual"][contract], odds["anniversary"][contract], odds["any_day"][contract]
    )
    book.close_rows(idx, at)
    book.row_start[idx] = at
    book.seats[idx] = np.where(by_cut[contract], cut_seats[contract], book.seats[idx])
    book.rank[idx] = np.where(by_cut[contract], book.rank[idx], book.rank[idx] - 1)


def _subscriptions_frame(
    closed: list[tuple[np.ndarray, ...]], account_ids: np.ndarray, discount: np.ndarray
) -> pd.DataFrame:
    """The closed rows as the ``subscriptions`` table, priced from plan, seats and billing."""
    acc, start_us, end_us, plan_rank, seat_count, is_annual = (
        np.concatenate(part) for part in zip(*closed, strict=True)
    )
    order = np.lexsort((start_us, acc))
    acc, start_us, end_us = acc[order], start_us[order], end_us[order]
    plan_rank, seat_count, is_annual = plan_rank[order], seat_count[order], is_annual[order]
    price = seat_count * SEAT_PRICE[plan_rank] * discount[acc]
    price = np.where(is_annual, price * ANNUAL_DISCOUNT, price)
    mrr = np.round(np.maximum(price, MIN_MRR[plan_rank]), 2)
    return pd.DataFrame(
        {
            "subscription_id": str_series([f"sub_{i + 1:07d}" for i in range(len(acc))]),
            "account_id": str_series(account_ids[acc]),
            "start_at": to_datetime(start_us),
            "end_at": to_datetime(end_us),
            "mrr": mrr.astype(np.float64),
            "plan": str_series(PLANS[plan_rank]),
            "seats": seat_count.astype(np.int64),
            "billing_period": str_series(np.where(is_annual, "annual", "monthly")),
        }
    )


def contract_rows(subscriptions: pd.DataFrame, account_ids: pd.Series) -> dict[str, np.ndarray]:
    """Subscription rows as int arrays sorted by account position, with each row's period end.

    ``period_end`` is the instant the account's active period ends (the cancellation closing a
    chain of contiguous rows), ``NEVER`` while ongoing.
    """
    acc = pd.Index(account_ids).get_indexer(subscriptions["account_id"])
    if (acc < 0).any():
        raise ValueError("subscriptions reference accounts missing from latent")
    start_us = subscriptions["start_at"].to_numpy().astype("datetime64[us]").astype(np.int64)
    end = subscriptions["end_at"]
    end_us = end.to_numpy().astype("datetime64[us]").astype(np.int64)
    end_us[end.isna().to_numpy()] = NEVER
    order = np.lexsort((start_us, acc))
    acc, start_us, end_us = acc[order], start_us[order], end_us[order]
    seats = subscriptions["seats"].to_numpy()[order].astype(np.int64)
    continued = np.zeros(len(acc), bool)
    continued[:-1] = (acc[1:] == acc[:-1]) & (start_us[1:] == end_us[:-1])
    last_of_chain = np.flatnonzero(~continued)
    chain = np.searchsorted(last_of_chain, np.arange(len(acc)))
    return {
        "acc": acc,
        "start": start_us,
        "end": end_us,
        "seats": seats,
        "period_end": end_us[last_of_chain][chain],
    }
