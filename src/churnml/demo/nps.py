"""NPS answers: quarterly surveys a week into Jan/Apr/Jul/Oct; 1-3 contacts per account.

About 40% answer. Scores follow fit, pain and momentum, and drop after a champion leaves or in
the months before a cancellation, when the decision to leave has formed. Every draw comes from
table stream 4 in a fixed order.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from churnml.demo.base import (
    NEVER,
    US_PER_DAY,
    demo_window,
    nat_to_never,
    str_series,
    stream,
    to_datetime,
    to_us,
)


def nps_responses(
    latent: pd.DataFrame,
    segment_idx: np.ndarray,
    rows: dict[str, np.ndarray],
    months: int,
    seed: int,
    end: date,
) -> pd.DataFrame:
    """The ``nps_responses`` table for the accounts' subscription ``rows``."""
    rng = stream(seed, 4)
    window_start, until = demo_window(months, end)
    waves = _survey_waves(window_start, until)
    if not len(waves):
        return _frame(np.array([], object), np.array([], np.int64), np.array([], np.int64))
    created = latent["created_at"].to_numpy().astype("datetime64[us]").astype(np.int64)
    covers = (rows["start"][:, None] <= waves[None, :]) & (rows["end"][:, None] > waves[None, :])
    row_i, wave_i = np.nonzero(covers)
    a = rows["acc"][row_i]
    at = waves[wave_i]
    tenured = at - created[a] >= 30 * US_PER_DAY
    row_i, a, at = row_i[tenured], a[tenured], at[tenured]
    fit = latent["product_fit"].to_numpy()[a]
    pain = latent["support_pain"].to_numpy()[a]
    onboard = latent["onboarding_quality"].to_numpy()[a]
    contacts = np.array([1, 2, 3])[segment_idx[a]]
    p_answer = np.clip(0.22 + 0.25 * fit + 0.1 * onboard - 0.1 * pain, 0.05, 0.9)
    answers = rng.binomial(contacts, p_answer)
    pick = np.repeat(np.arange(len(a)), answers)
    m = len(pick)
    a, at, row_i = a[pick], at[pick], row_i[pick]
    delay = np.minimum(rng.lognormal(np.log(3.0), 0.9, m), 25.0)
    responded = at + (delay * US_PER_DAY).astype(np.int64)
    period_end = rows["period_end"][row_i]
    keep = (responded < to_us(until)) & (responded < period_end)
    score = _scores(rng, latent, a, at, period_end)
    order = np.argsort(responded[keep], kind="stable")
    ids = latent["account_id"].to_numpy()
    return _frame(ids[a[keep]][order], responded[keep][order], score[keep][order])


def _survey_waves(window_start: pd.Timestamp, until: pd.Timestamp) -> np.ndarray:
    """Survey instants in the window: a week into each calendar quarter."""
    return np.array(
        [
            to_us(q + pd.Timedelta(days=7))
            for q in pd.date_range(window_start - pd.DateOffset(months=3), until, freq="QS-JAN")
            if window_start <= q + pd.Timedelta(days=7) < until
        ],
        dtype=np.int64,
    )


def _scores(
    rng: np.random.Generator,
    latent: pd.DataFrame,
    a: np.ndarray,
    at: np.ndarray,
    period_end: np.ndarray,
) -> np.ndarray:
    """0-10 answers of the accounts at positions ``a`` surveyed at ``at``."""
    champion = nat_to_never(latent["champion_left_at"])[a]
    champion_recent = (champion <= at) & (at - champion < 180 * US_PER_DAY)
    leaving = (period_end != NEVER) & (period_end - at < 120 * US_PER_DAY)
    integrated = ~np.isnan(latent["integration_connected_day"].to_numpy()[a])
    return np.clip(
        np.round(
            3.0
            + 6.2 * latent["product_fit"].to_numpy()[a]
            - 3.5 * latent["support_pain"].to_numpy()[a]
            + 1.2 * latent["growth_momentum"].to_numpy()[a]
            - 1.8 * champion_recent
            - 1.2 * leaving
            + 0.6 * integrated
            + rng.normal(0, 1.6, len(a))
        ),
        0,
        10,
    ).astype(np.int64)


def _frame(account_ids: np.ndarray, responded_us: np.ndarray, score: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account_id": str_series(account_ids),
            "responded_at": to_datetime(responded_us),
            "score": score,
        }
    )
