"""Accounts, their hidden drivers and where each contract starts (plan, seats, billing).

Every draw comes from table stream 1 in a fixed order: the helpers below are called in the
order their columns were drawn, so a seed always gives the same accounts.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from churnml.demo.base import (
    DAYS_PER_MONTH,
    HISTORY_YEARS,
    INDUSTRIES,
    INDUSTRY_P,
    MILESTONES,
    NEVER,
    PLANS,
    REGION_P,
    REGIONS,
    SEAT_CAP,
    SEGMENTS,
    US_PER_DAY,
    US_PER_HOUR,
    UTC_OFFSET_HOURS,
    demo_window,
    str_series,
    stream,
    to_datetime,
    to_us,
)
from churnml.demo.names import company_names, csm_pool


def accounts_and_latent(
    n_accounts: int, months: int, seed: int, end: date
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, np.ndarray]]:
    """Accounts, their hidden drivers, and the contract starting point (plan, seats, billing)."""
    if n_accounts < 1:
        raise ValueError("n_accounts must be at least 1")
    rng = stream(seed, 1)
    window_start, until = demo_window(months, end)
    history_start = window_start - pd.DateOffset(years=HISTORY_YEARS)
    created_us, region_idx = _sign_ups(rng, n_accounts, history_start, until)
    firm = _firmographics(rng, n_accounts)
    drivers = _hidden_drivers(rng, firm["segment_idx"], created_us, until)
    milestone_days = _milestone_days(rng, drivers["onboarding_quality"])
    util0, slump_start_us = _seat_use_and_slumps(rng, drivers, window_start, until)
    account_ids = np.array([f"acc_{i + 1:06d}" for i in range(n_accounts)], dtype=object)
    owner = _csm_owners(rng, firm["segment_idx"])
    accounts = pd.DataFrame(
        {
            "account_id": str_series(account_ids),
            "name": str_series(company_names(rng, region_idx)),
            "created_at": to_datetime(created_us),
            "plan": str_series(PLANS[firm["rank0"]]),
            "segment": str_series(SEGMENTS[firm["segment_idx"]]),
            "industry": str_series(INDUSTRIES[firm["industry_idx"]]),
            "region": str_series(REGIONS[region_idx]),
            "csm_owner": str_series(owner),
            "employee_count": firm["employee_count"],
        }
    )
    latent = pd.DataFrame(
        {
            "account_id": str_series(account_ids),
            "created_at": to_datetime(created_us),
            **_driver_columns(rng, drivers),
            **_mechanics_columns(
                rng,
                milestone_days,
                base_users=firm["seats0"] * util0,
                growth_momentum=drivers["growth_momentum"],
                product_fit=drivers["product_fit"],
                summer_dip=INDUSTRIES[firm["industry_idx"]] == "education",
                slump_start_us=slump_start_us,
                utc_offset_hours=UTC_OFFSET_HOURS[region_idx],
            ),
        }
    )
    start = {
        "segment_idx": firm["segment_idx"],
        "seats0": firm["seats0"],
        "rank0": firm["rank0"],
        "annual0": firm["annual0"],
        "discount": firm["discount"],
        "created_us": created_us,
        "champion_left_us": drivers["champion_left_us"],
    }
    return accounts, latent, start


def _sign_ups(
    rng: np.random.Generator, n: int, history_start: pd.Timestamp, until: pd.Timestamp
) -> tuple[np.ndarray, np.ndarray]:
    """Sign-up instants (in id order) and regions: a vendor growing ~2.5% a month.

    Sign-ups run from 4 years before the window until a week before the data ends, at a
    regional office hour.
    """
    span_days = (until - pd.Timedelta(days=7) - history_start).days
    rate = 0.025 / DAYS_PER_MONTH
    u = rng.random(n)
    day = np.sort(np.log1p(u * np.expm1(rate * span_days)) / rate)  # ids follow sign-up order
    region_idx = rng.choice(len(REGIONS), n, p=REGION_P)
    local_hour = np.clip(rng.normal(13.0, 2.5, n), 7.0, 20.0)
    utc_hour = (local_hour - UTC_OFFSET_HOURS[region_idx]) % 24.0
    created_us = (
        to_us(history_start)
        + np.floor(day).astype(np.int64) * US_PER_DAY
        + (utc_hour * US_PER_HOUR).astype(np.int64)
        + rng.integers(0, 60_000_000, n)
    )
    return np.minimum(created_us, to_us(until) - 7 * US_PER_DAY), region_idx


def _firmographics(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Segment, size, industry and the first contract (plan rank, seats, billing, discount)."""
    segment_idx = rng.choice(3, n, p=[0.62, 0.29, 0.09])
    log_emp = rng.normal(
        np.array([3.0, 5.3, 7.9])[segment_idx], np.array([0.8, 0.5, 0.8])[segment_idx]
    )
    lo_emp, hi_emp = np.array([2, 100, 1000]), np.array([99, 999, 200_000])
    employee_count = np.clip(
        np.round(np.exp(log_emp)), lo_emp[segment_idx], hi_emp[segment_idx]
    ).astype(np.int64)
    seats0 = np.clip(
        np.round(employee_count**0.6 * np.exp(rng.normal(0, 0.4, n))), 1, SEAT_CAP[segment_idx]
    ).astype(np.int64)
    plan_p = np.array([[0.55, 0.35, 0.10, 0.0], [0.15, 0.45, 0.35, 0.05], [0.0, 0.15, 0.45, 0.40]])
    cum = plan_p.cumsum(axis=1)[segment_idx]
    rank0 = (rng.random(n)[:, None] > cum).sum(axis=1).clip(0, 3)
    annual0 = rng.random(n) < np.array([0.25, 0.55, 0.85])[segment_idx]
    discount = np.where(
        segment_idx == 2,
        rng.uniform(0.7, 1.0, n),
        np.where(segment_idx == 1, rng.uniform(0.85, 1.0, n), 1.0),
    )
    return {
        "segment_idx": segment_idx,
        "employee_count": employee_count,
        "seats0": seats0,
        "rank0": rank0,
        "annual0": annual0,
        "discount": discount,
        "industry_idx": rng.choice(len(INDUSTRIES), n, p=INDUSTRY_P),
    }


def _hidden_drivers(
    rng: np.random.Generator, segment_idx: np.ndarray, created_us: np.ndarray, until: pd.Timestamp
) -> dict[str, np.ndarray]:
    """The causes of churn and expansion, and when (if ever) the account's champion leaves."""
    n = len(segment_idx)
    drivers = {
        "product_fit": rng.beta(2.4, 1.6, n),
        "onboarding_quality": rng.beta(2.0, 1.5, n),
        "support_pain": rng.beta(1.4, 4.0, n),
        "price_pressure": np.clip(
            rng.beta(1.3, 4.5, n) + np.where(segment_idx == 0, 0.08, 0.0), 0, 1
        ),
        "growth_momentum": rng.beta(1.6, 3.2, n),
    }
    # Champion leaves: one in five accounts at some point after the first 45 days.
    champ_lo = created_us + 45 * US_PER_DAY
    champ_at = champ_lo + (rng.random(n) * np.maximum(to_us(until) - champ_lo, 0)).astype(np.int64)
    champ_at = champ_at - champ_at % US_PER_DAY
    drivers["champion_left_us"] = np.where(
        (rng.random(n) < 0.2) & (champ_at < to_us(until)), champ_at, NEVER
    )
    return drivers


def _milestone_days(
    rng: np.random.Generator, onboarding_quality: np.ndarray
) -> dict[str, np.ndarray]:
    """Days from sign-up to each onboarding milestone: sooner and more often when onboarded well."""
    n = len(onboarding_quality)
    milestone_days = {}
    for name, ease in zip(MILESTONES, (0.0, 0.05, 0.1), strict=True):
        reach60 = rng.random(n) < np.clip(0.1 + 0.75 * onboarding_quality + ease, 0, 0.97)
        later = ~reach60 & (rng.random(n) < 0.4)
        d60 = 1 + np.floor(rng.random(n) * 59 * (1.25 - onboarding_quality) / 1.25)
        dlate = rng.integers(61, 366, n)
        milestone_days[name] = np.where(reach60, d60, np.where(later, dlate, np.nan))
    return milestone_days


def _seat_use_and_slumps(
    rng: np.random.Generator,
    drivers: dict[str, np.ndarray],
    window_start: pd.Timestamp,
    until: pd.Timestamp,
) -> tuple[np.ndarray, np.ndarray]:
    """Share of seats in use at sign-up, and the start of a usage slump (a quarter have one)."""
    n = len(drivers["product_fit"])
    util0 = np.clip(
        0.35
        + 0.45 * drivers["product_fit"]
        + 0.15 * drivers["onboarding_quality"]
        + rng.normal(0, 0.1, n),
        0.1,
        1.0,
    )
    slump = rng.random(n) < 0.25
    span = to_us(until) - to_us(window_start)
    slump_start_us = to_us(window_start) + (rng.random(n) * span).astype(np.int64)
    slump_start_us -= slump_start_us % US_PER_DAY
    return util0, np.where(slump, slump_start_us, NEVER)


def _csm_owners(rng: np.random.Generator, segment_idx: np.ndarray) -> np.ndarray:
    """A CSM per account; about half of SMB accounts are tech-touch (no owner)."""
    n = len(segment_idx)
    pool = csm_pool(n)
    owner = pool[rng.integers(0, len(pool), n)]
    tech_touch = (segment_idx == 0) & (rng.random(n) < 0.55)
    return np.where(tech_touch, None, owner)


def _driver_columns(
    rng: np.random.Generator, drivers: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """The causes of churn and expansion, as ``demo_latent_truth`` columns."""
    return {
        "product_fit": drivers["product_fit"],
        "onboarding_quality": drivers["onboarding_quality"],
        "support_pain": drivers["support_pain"],
        "price_pressure": drivers["price_pressure"],
        "growth_momentum": drivers["growth_momentum"],
        "champion_left_at": to_datetime(drivers["champion_left_us"]),
        "account_noise": rng.normal(0, 0.6, len(drivers["product_fit"])),
    }


def _mechanics_columns(
    rng: np.random.Generator,
    milestone_days: dict[str, np.ndarray],
    *,
    base_users: np.ndarray,
    growth_momentum: np.ndarray,
    product_fit: np.ndarray,
    summer_dip: np.ndarray,
    slump_start_us: np.ndarray,
    utc_offset_hours: np.ndarray,
) -> dict[str, np.ndarray]:
    """How the drivers show up in the observable tables (milestones, users, fades, slumps)."""
    n = len(base_users)
    return {
        "integration_connected_day": milestone_days["integration_connected"],
        "report_shared_day": milestone_days["report_shared"],
        "user_invited_day": milestone_days["user_invited"],
        "base_users": base_users,
        "user_growth_per_month": -0.012 + 0.05 * growth_momentum + rng.normal(0, 0.005, n),
        "usage_intensity": np.exp(rng.normal(0, 0.35, n)) * (0.6 + 0.8 * product_fit),
        "fades_before_churn": rng.random(n) < 0.7,
        "fade_days": rng.integers(55, 96, n),
        "fade_floor": rng.uniform(0.08, 0.35, n),
        "weekend_share": rng.uniform(0.1, 0.35, n),
        "summer_dip": summer_dip,
        "slump_start": to_datetime(slump_start_us),
        "slump_days": rng.integers(20, 61, n),
        "slump_factor": rng.uniform(0.3, 0.6, n),
        "utc_offset_hours": utc_offset_hours,
    }
