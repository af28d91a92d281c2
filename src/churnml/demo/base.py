"""What every demo table shares: the product's catalogue, the time grid and random streams.

Times are int64 microseconds since the epoch while generating (``NEVER`` for none) and become
datetime64[us] with NaT only in the finished frames.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

DEFAULT_END = date(2026, 10, 31)
# About 50M events for 100k accounts x 13 months (~500 per account, ~40 per account-month).
DEFAULT_EVENTS_PER_USER_DAY = 0.12
# About 0.8 tickets per account-month (100k accounts x 13 months ~ 1M tickets).
DEFAULT_TICKETS_PER_ACCOUNT_MONTH = 1.1
HISTORY_YEARS = 4

PLANS = np.array(["starter", "growth", "business", "enterprise"])
SEAT_PRICE = np.array([12.0, 25.0, 45.0, 75.0])
MIN_MRR = np.array([29.0, 99.0, 399.0, 1500.0])
ANNUAL_DISCOUNT = 0.85
SEGMENTS = np.array(["SMB", "Mid-Market", "Enterprise"])
SEAT_CAP = np.array([80, 600, 5000])
INDUSTRIES = np.array(
    [
        "software",
        "fintech",
        "retail",
        "healthcare",
        "manufacturing",
        "logistics",
        "media",
        "education",
        "professional_services",
        "public_sector",
    ]
)
INDUSTRY_P = np.array([0.2, 0.08, 0.12, 0.1, 0.1, 0.08, 0.08, 0.08, 0.12, 0.04])
REGIONS = np.array(["NA", "EMEA", "APAC", "LATAM"])
REGION_P = np.array([0.45, 0.30, 0.18, 0.07])
UTC_OFFSET_HOURS = np.array([-6.0, 1.0, 8.0, -4.0])
EVENT_TYPES = np.array(
    [
        "login",
        "dashboard_view",
        "report_created",
        "report_shared",
        "integration_connected",
        "integration_sync",
        "user_invited",
        "export",
        "api_call",
        "alert_configured",
    ]
)
(
    LOGIN,
    DASHBOARD_VIEW,
    REPORT_CREATED,
    REPORT_SHARED,
    INTEGRATION_CONNECTED,
    INTEGRATION_SYNC,
    USER_INVITED,
    EXPORT,
    API_CALL,
    ALERT_CONFIGURED,
) = range(len(EVENT_TYPES))
# Base share of each event type among an adopting account's events.
EVENT_WEIGHTS = np.array([0.26, 0.26, 0.08, 0.04, 0.004, 0.12, 0.01, 0.05, 0.14, 0.03])
# Onboarding milestones (first occurrence within 60 days of sign-up is what CS tracks).
MILESTONES = ("integration_connected", "report_shared", "user_invited")
TICKET_CATEGORIES = np.array(
    ["defect", "outage", "how_to", "billing", "feature_request", "onboarding"]
)
PRIORITIES = np.array(["low", "normal", "high", "urgent"])

US_PER_DAY = 86_400_000_000
US_PER_HOUR = 3_600_000_000
DAYS_PER_MONTH = 30.4375
NEVER = np.iinfo(np.int64).max


def demo_window(months: int, end: date = DEFAULT_END) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``[window_start, observed_until)``: the span holding usage, tickets and NPS.

    The data covers the whole ``end`` day, so ``observed_until`` is the midnight after it.
    """
    if months < 1:
        raise ValueError("months must be at least 1")
    observed_until = pd.Timestamp(end).normalize() + pd.Timedelta(days=1)
    return observed_until - pd.DateOffset(months=months), observed_until


def stream(seed: int, table: int, *more: int) -> np.random.Generator:
    """One independent random stream per table (and chunk), so tables do not shift each other."""
    return np.random.default_rng([seed, table, *more])


def to_us(ts: pd.Timestamp | np.datetime64) -> int:
    return int(np.datetime64(ts, "us").astype(np.int64))


def to_datetime(us: np.ndarray) -> np.ndarray:
    """int64 microseconds (``NEVER`` for none) to datetime64[us] with NaT."""
    out = np.asarray(us, dtype=np.int64).copy()
    out[out == NEVER] = np.iinfo(np.int64).min  # NaT
    return out.view("datetime64[us]")


def nat_to_never(column: pd.Series) -> np.ndarray:
    """A datetime column as int64 microseconds, ``NEVER`` where it is NaT."""
    out = column.to_numpy().astype("datetime64[us]").astype(np.int64)
    out[column.isna().to_numpy()] = NEVER
    return out


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def str_series(values: np.ndarray | list) -> pd.Series:
    return pd.Series(values, dtype="str")
