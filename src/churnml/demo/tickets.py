"""Support tickets in the window: painful accounts raise more, wait longer and rate lower.

Volume also rises in the first 90 days (onboarding), after a champion leaves, and in the three
months before a cancellation (billing questions, complaints). Every draw comes from table
stream 3 in a fixed order.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from churnml.demo.base import (
    DAYS_PER_MONTH,
    NEVER,
    PRIORITIES,
    TICKET_CATEGORIES,
    US_PER_DAY,
    US_PER_HOUR,
    demo_window,
    nat_to_never,
    sigmoid,
    str_series,
    stream,
    to_datetime,
    to_us,
)

_SEVERITY = np.array([0.5, 1.4, -0.5, -0.2, -0.9, -0.3])  # by category
_FIRST_RESPONSE_HOURS = np.array([12.0, 5.0, 2.0, 0.5])  # by priority
_RESOLVE_HOURS = np.array([48.0, 4.0, 8.0, 24.0, 120.0, 24.0])  # by category


def support_tickets(
    latent: pd.DataFrame,
    rows: dict[str, np.ndarray],
    months: int,
    seed: int,
    end: date,
    tickets_per_account_month: float,
) -> pd.DataFrame:
    """The ``support_tickets`` table for the accounts' subscription ``rows``."""
    rng = stream(seed, 3)
    window_start, until = demo_window(months, end)
    cells = _account_months(latent, rows, window_start, until, tickets_per_account_month)
    counts = rng.poisson(cells["rate"])
    cell_row, cell_month = np.nonzero(counts)
    reps = counts[cell_row, cell_month]
    t_row = np.repeat(cell_row, reps)
    t_month = np.repeat(cell_month, reps)
    m = len(t_row)
    a = cells["acc"][t_row]
    overlap = cells["overlap"][t_row, t_month]
    opened = cells["lo"][t_row, t_month] + (rng.random(m) * overlap).astype(np.int64)
    category = _categories(
        rng,
        latent,
        a,
        in_onboarding=cells["onboarding"][t_row, t_month],
        is_leaving=cells["leaving"][t_row, t_month],
    )
    handling = _handling(rng, latent["support_pain"].to_numpy()[a], category, opened, until)
    order = np.argsort(opened, kind="stable")
    ids = latent["account_id"].to_numpy()
    closed, responded = handling["closed"], handling["responded"]
    status = np.where(closed, "closed", np.where(responded, "pending", "open"))
    return pd.DataFrame(
        {
            "ticket_id": str_series([f"tkt_{i + 1:08d}" for i in range(m)]),
            "account_id": str_series(ids[a][order]),
            "opened_at": to_datetime(opened[order]),
            "closed_at": to_datetime(np.where(closed, handling["closed_at"], NEVER)[order]),
            "status": str_series(status[order]),
            "category": str_series(TICKET_CATEGORIES[category][order]),
            "priority": str_series(PRIORITIES[handling["priority"]][order]),
            "first_response_at": to_datetime(
                np.where(responded, handling["first_at"], NEVER)[order]
            ),
            "satisfaction": handling["satisfaction"][order].astype(np.float64),
            "escalated": handling["escalated"][order],
        }
    )


def _account_months(
    latent: pd.DataFrame,
    rows: dict[str, np.ndarray],
    window_start: pd.Timestamp,
    until: pd.Timestamp,
    tickets_per_account_month: float,
) -> dict[str, np.ndarray]:
    """Subscription row x calendar month cells of the window, with their expected ticket count."""
    edges = np.array(
        [to_us(m) for m in pd.date_range(window_start, until, freq="MS") if m < until]
        + [to_us(until)]
    )
    if edges[0] > to_us(window_start):
        edges = np.concatenate([[to_us(window_start)], edges])
    keep = (rows["start"] < edges[-1]) & (rows["end"] > edges[0])
    r = {k: v[keep] for k, v in rows.items()}
    lo = np.maximum(r["start"][:, None], edges[None, :-1])
    hi = np.minimum(r["end"][:, None], edges[None, 1:])
    overlap = np.maximum(hi - lo, 0)
    acc = r["acc"]
    pain = latent["support_pain"].to_numpy()
    created = latent["created_at"].to_numpy().astype("datetime64[us]").astype(np.int64)
    champion = nat_to_never(latent["champion_left_at"])
    mid = lo + overlap // 2
    onboarding = (mid - created[acc][:, None]) < 90 * US_PER_DAY
    leaving = (r["period_end"][:, None] != NEVER) & (
        r["period_end"][:, None] - mid < 90 * US_PER_DAY
    )
    champ = champion[acc][:, None]
    champion_recent = (champ <= mid) & (mid - champ < 180 * US_PER_DAY)
    rate = (
        tickets_per_account_month
        * (0.3 + 2.4 * pain[acc])[:, None]
        * ((r["seats"] / 10.0) ** 0.25)[:, None]
        * (1 + 1.5 * onboarding)
        * (1 + 0.6 * leaving)
        * (1 + 0.4 * champion_recent)
        * overlap
        / (US_PER_DAY * DAYS_PER_MONTH)
    )
    return {
        "acc": acc,
        "lo": lo,
        "overlap": overlap,
        "onboarding": onboarding,
        "leaving": leaving,
        "rate": rate,
    }


def _categories(
    rng: np.random.Generator,
    latent: pd.DataFrame,
    a: np.ndarray,
    *,
    in_onboarding: np.ndarray,
    is_leaving: np.ndarray,
) -> np.ndarray:
    """Each ticket's category: defects follow pain, how-tos poor fit, billing price pressure."""
    p = latent["support_pain"].to_numpy()[a]
    fit = latent["product_fit"].to_numpy()[a]
    pressure = latent["price_pressure"].to_numpy()[a]
    momentum = latent["growth_momentum"].to_numpy()[a]
    weights = np.stack(
        [
            0.18 * (0.5 + 3.0 * p),  # defect
            0.05 * (0.3 + 3.0 * p),  # outage
            0.32 * (1.5 - fit),  # how_to
            0.10 * (1 + 3.0 * pressure) * (1 + 0.6 * is_leaving),  # billing
            0.20 * (0.5 + 2.0 * momentum),  # feature_request
            0.15 * np.where(in_onboarding, 4.0, 0.1),  # onboarding
        ],
        axis=1,
    )
    cum = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    return np.minimum((rng.random(len(a))[:, None] > cum).sum(axis=1), len(TICKET_CATEGORIES) - 1)


def _handling(
    rng: np.random.Generator,
    p: np.ndarray,
    category: np.ndarray,
    opened: np.ndarray,
    until: pd.Timestamp,
) -> dict[str, np.ndarray]:
    """Priority, response and resolution times, escalation and satisfaction of each ticket."""
    m = len(p)
    z = 1.6 * p + _SEVERITY[category] + rng.normal(0, 0.6, m)
    priority = np.searchsorted(np.array([-0.2, 1.0, 1.8]), z)
    first_hours = rng.lognormal(np.log(_FIRST_RESPONSE_HOURS[priority] * (0.6 + 3.0 * p)), 0.8)
    resolve_hours = rng.lognormal(np.log(_RESOLVE_HOURS[category] * (0.7 + 2.0 * p)), 1.0)
    escalated = rng.random(m) < sigmoid(
        -4.6 + 3.2 * p + 1.6 * (priority >= 2) + 0.8 * (priority == 3) + 0.8 * (category <= 1)
    )
    first_at = opened + (first_hours * US_PER_HOUR).astype(np.int64)
    closed_at = first_at + (resolve_hours * US_PER_HOUR).astype(np.int64)
    until_us = to_us(until)
    closed = closed_at < until_us
    responded = (first_at < until_us) & ~(closed & (rng.random(m) < 0.04))  # a few never logged
    total_days = (closed_at - opened) / US_PER_DAY
    csat = np.clip(
        np.round(
            4.7
            - 2.0 * p
            - 0.35 * np.log1p(total_days)
            - 0.7 * escalated
            - 0.3 * (first_hours > 24)
            + rng.normal(0, 0.75, m)
        ),
        1,
        5,
    )
    answered = closed & (rng.random(m) < 0.62)
    return {
        "priority": priority,
        "escalated": escalated,
        "first_at": first_at,
        "closed_at": closed_at,
        "closed": closed,
        "responded": responded,
        "satisfaction": np.where(answered, csat, np.nan),
    }
