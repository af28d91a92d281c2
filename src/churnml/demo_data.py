"""A realistic B2B SaaS demo dataset whose churn and expansion have documented causes.

Every account gets hidden drivers (product fit, onboarding quality, support pain, price
pressure, growth momentum, a champion who may leave). They set the monthly churn hazard and the
expansion and contraction chances of a month-by-month contract simulation, and they leave
noisy traces in the observable tables: usage fades before most cancellations, painful support
comes before churn, seat pressure comes before seat expansions. docs/demo-data.md tells the
whole causal story; the drivers are kept in ``latent`` (table ``demo_latent_truth``) so that
model explanations can be checked against the true causes. They are never features.

Pure generation: numpy and pandas only, no file or database I/O. Everything is vectorised over
accounts (the contract simulation loops over calendar months, never over accounts or events),
and usage comes in chunks of accounts so 50M events never sit in memory at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa

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

_US_PER_DAY = 86_400_000_000
_US_PER_HOUR = 3_600_000_000
_DAYS_PER_MONTH = 30.4375
_NEVER = np.iinfo(np.int64).max

_PREFIXES = (
    "Blue", "North", "Bright", "Rapid", "Summit", "Cedar", "Atlas", "Nova", "Pioneer", "Harbor",
    "Quartz", "Maple", "Silver", "Granite", "Evergreen", "Falcon", "Orbit", "Vertex", "Lumen",
    "Iron", "Clear", "Golden", "Pacific", "Prairie", "Sierra", "Coastal", "Urban", "Alpine",
    "Crescent", "Sterling", "Beacon", "Keystone", "Riverbend", "Oak", "Willow", "Horizon",
    "Polar", "Copper", "Union", "Red Rock", "Blue Ridge", "Lake Shore", "True North",
    "Open Field", "High Desert", "Twin Peaks",
)  # fmt: skip
_CORES = (
    "Analytics", "Logistics", "Foods", "Health", "Systems", "Labs", "Media", "Works", "Partners",
    "Software", "Robotics", "Energy", "Capital", "Retail", "Studios", "Dynamics", "Networks",
    "Solutions", "Brewing", "Apparel", "Freight", "Clinics", "Learning", "Insurance", "Devices",
    "Realty", "Farms", "Outfitters", "Data", "Cloud", "Bio", "Pharma", "Mobility", "Security",
    "Payments", "Marine", "Textiles", "Tools", "Travel", "Hospitality",
)  # fmt: skip
_SURNAMES = (
    "Baker", "Lowe", "Patel", "Nguyen", "Garcia", "Müller", "Rossi", "Smith", "Khan", "Silva",
    "Cohen", "Dubois", "Novak", "Jensen", "Okafor", "Kowalski", "Murphy", "Fischer", "Moreau",
    "Haddad",
)  # fmt: skip
_APOSTROPHES = (
    "O'Brien", "O'Connor", "D'Angelo", "Maggie's", "Joe's", "Dunn's", "L'Atelier", "Ke'ola",
)  # fmt: skip
_LEGAL = {
    "NA": ("Inc.", "LLC", "Corp.", "Co.", ""),
    "EMEA": ("Ltd", "GmbH", "S.A.", "B.V.", "AB", "plc", ""),
    "APAC": ("Pty Ltd", "Pte. Ltd.", "Ltd", ""),
    "LATAM": ("S.A.", "S.A. de C.V.", "Ltda.", "S.R.L."),
}
_JA_CORES = (
    "さくらテック", "ひかり物流", "山田商事", "東和システム", "みらい製作所", "青空データ",
    "日本橋ソリューションズ", "北斗エナジー", "大和ロジスティクス", "富士クラウド",
    "朝日メディカル", "港北フーズ", "光陽電機", "はるかネット",
)  # fmt: skip
_CITIES = {
    "NA": ("Austin", "Denver", "Toronto", "Chicago", "Seattle", "Boston", "Atlanta", "Phoenix"),
    "EMEA": ("Berlin", "Lyon", "Leeds", "Milan", "Madrid", "Utrecht", "Dublin", "Oslo"),
    "APAC": ("Osaka", "Sydney", "Singapore", "Seoul", "Auckland", "Fukuoka", "Taipei", "Perth"),
    "LATAM": ("Bogotá", "Lima", "Santiago", "Monterrey", "Córdoba", "Quito", "Curitiba", "Recife"),
    "JA": ("大阪", "名古屋", "福岡", "札幌", "横浜", "神戸", "仙台", "京都"),
}
_CSM_FIRST = (
    "Aiko", "Maria", "James", "Priya", "Lucas", "Sofia", "Daniel", "Emma", "Kenji", "Olivia",
    "Mateo", "Hannah", "Omar", "Chloe", "Ravi", "Grace", "Liam", "Yuki", "Noah", "Amara", "Ethan",
    "Zoe", "Diego", "Mei", "Samuel", "Ines", "Victor", "Lena", "Hiro", "Nora",
)  # fmt: skip
_CSM_LAST = (
    "Tanaka", "Lopez", "Carter", "Sharma", "Meyer", "Rossi", "Kim", "Walsh", "Sato", "Bennett",
    "Torres", "Novak", "Haddad", "Laurent", "Iyer", "Brooks", "Keane", "Suzuki", "Reyes", "Okoro",
    "Fischer", "Park", "Moreno", "Chen", "Adams", "Dubois", "Brandt", "Ito", "Costa",
)  # fmt: skip


def demo_window(months: int, end: date = DEFAULT_END) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``[window_start, observed_until)``: the span holding usage, tickets and NPS.

    The data covers the whole ``end`` day, so ``observed_until`` is the midnight after it.
    """
    if months < 1:
        raise ValueError("months must be at least 1")
    observed_until = pd.Timestamp(end).normalize() + pd.Timedelta(days=1)
    return observed_until - pd.DateOffset(months=months), observed_until


def _rng(seed: int, stream: int, *more: int) -> np.random.Generator:
    """One independent random stream per table (and chunk), so tables do not shift each other."""
    return np.random.default_rng([seed, stream, *more])


def _us(ts: pd.Timestamp | np.datetime64) -> int:
    return int(np.datetime64(ts, "us").astype(np.int64))


def _to_datetime(us: np.ndarray) -> np.ndarray:
    """int64 microseconds (``_NEVER`` for none) to datetime64[us] with NaT."""
    out = np.asarray(us, dtype=np.int64).copy()
    out[out == _NEVER] = np.iinfo(np.int64).min  # NaT
    return out.view("datetime64[us]")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _str(values: np.ndarray | list) -> pd.Series:
    return pd.Series(values, dtype="str")


# --------------------------------------------------------------------------------------------
# Accounts and hidden drivers
# --------------------------------------------------------------------------------------------


def _company_names(rng: np.random.Generator, region_idx: np.ndarray) -> list[str]:
    """Display names as a CRM holds them: legal forms by region, '&', apostrophes, Japanese."""
    n = len(region_idx)
    regions = REGIONS[region_idx]
    pattern = rng.random(n)
    japanese = (regions == "APAC") & (rng.random(n) < 0.35)
    p = rng.integers(0, len(_PREFIXES), n)
    c = rng.integers(0, len(_CORES), n)
    s1 = rng.integers(0, len(_SURNAMES), n)
    s2 = rng.integers(0, len(_SURNAMES), n)
    a = rng.integers(0, len(_APOSTROPHES), n)
    j = rng.integers(0, len(_JA_CORES), n)
    legal_pick = rng.random(n)
    names = []
    for i in range(n):
        if japanese[i]:
            core = _JA_CORES[j[i]]
            names.append(f"株式会社{core}" if pattern[i] < 0.6 else f"{core}株式会社")
            continue
        if pattern[i] < 0.09:
            name = f"{_SURNAMES[s1[i]]} & {_SURNAMES[s2[i]]} {_CORES[c[i]]}"
        elif pattern[i] < 0.13:
            name = f"{_PREFIXES[p[i]]} {_CORES[c[i]]} & Co."
        elif pattern[i] < 0.19:
            name = f"{_APOSTROPHES[a[i]]} {_CORES[c[i]]}"
        else:
            name = f"{_PREFIXES[p[i]]} {_CORES[c[i]]}"
        forms = _LEGAL[regions[i]]
        legal = "" if name.endswith("Co.") else forms[int(legal_pick[i] * len(forms))]
        names.append(f"{name} {legal}" if legal else name)
    # A real CRM has a few namesakes, not dozens: most are told apart by their home city.
    dup = pd.Series(names).duplicated(keep=False).to_numpy() & (rng.random(n) < 0.97)
    city = rng.integers(0, 8, n)
    for i in np.flatnonzero(dup):
        names[i] = f"{names[i]} ({_CITIES['JA' if japanese[i] else regions[i]][city[i]]})"
    return names


def _csm_pool(n_accounts: int) -> np.ndarray:
    """About 8 CSMs per 1,000 accounts (at least 5), each with a distinct person name."""
    size = max(5, round(8 * n_accounts / 1000))
    first, last = len(_CSM_FIRST), len(_CSM_LAST)
    names = []
    for k in range(size):
        name = f"{_CSM_FIRST[k % first]} {_CSM_LAST[(k + k // first) % last]}"
        repeat = k // (first * last)
        names.append(f"{name} {repeat + 1}" if repeat else name)
    return np.array(names, dtype=object)


def _accounts_and_latent(
    n_accounts: int, months: int, seed: int, end: date
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, np.ndarray]]:
    """Accounts, their hidden drivers, and the contract starting point (plan, seats, billing)."""
    if n_accounts < 1:
        raise ValueError("n_accounts must be at least 1")
    rng = _rng(seed, 1)
    n = n_accounts
    window_start, until = demo_window(months, end)
    history_start = window_start - pd.DateOffset(years=HISTORY_YEARS)
    # A growing vendor: sign-ups grow ~2.5% a month, from 4 years before the window until a
    # week before the data ends.
    span_days = (until - pd.Timedelta(days=7) - history_start).days
    rate = 0.025 / _DAYS_PER_MONTH
    u = rng.random(n)
    day = np.sort(np.log1p(u * np.expm1(rate * span_days)) / rate)  # ids follow sign-up order
    region_idx = rng.choice(len(REGIONS), n, p=REGION_P)
    local_hour = np.clip(rng.normal(13.0, 2.5, n), 7.0, 20.0)
    utc_hour = (local_hour - UTC_OFFSET_HOURS[region_idx]) % 24.0
    created_us = (
        _us(history_start)
        + np.floor(day).astype(np.int64) * _US_PER_DAY
        + (utc_hour * _US_PER_HOUR).astype(np.int64)
        + rng.integers(0, 60_000_000, n)
    )
    created_us = np.minimum(created_us, _us(until) - 7 * _US_PER_DAY)

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
    industry_idx = rng.choice(len(INDUSTRIES), n, p=INDUSTRY_P)

    product_fit = rng.beta(2.4, 1.6, n)
    onboarding_quality = rng.beta(2.0, 1.5, n)
    support_pain = rng.beta(1.4, 4.0, n)
    price_pressure = np.clip(rng.beta(1.3, 4.5, n) + np.where(segment_idx == 0, 0.08, 0.0), 0, 1)
    growth_momentum = rng.beta(1.6, 3.2, n)
    # Champion leaves: one in five accounts at some point after the first 45 days.
    champ_lo = created_us + 45 * _US_PER_DAY
    champ_at = champ_lo + (rng.random(n) * np.maximum(_us(until) - champ_lo, 0)).astype(np.int64)
    champ_at = champ_at - champ_at % _US_PER_DAY
    champion_left_us = np.where((rng.random(n) < 0.2) & (champ_at < _us(until)), champ_at, _NEVER)
    # Onboarding milestones: reached sooner and more often with good onboarding.
    milestone_days = {}
    for name, ease in zip(MILESTONES, (0.0, 0.05, 0.1), strict=True):
        reach60 = rng.random(n) < np.clip(0.1 + 0.75 * onboarding_quality + ease, 0, 0.97)
        later = ~reach60 & (rng.random(n) < 0.4)
        d60 = 1 + np.floor(rng.random(n) * 59 * (1.25 - onboarding_quality) / 1.25)
        dlate = rng.integers(61, 366, n)
        milestone_days[name] = np.where(reach60, d60, np.where(later, dlate, np.nan))
    util0 = np.clip(
        0.35 + 0.45 * product_fit + 0.15 * onboarding_quality + rng.normal(0, 0.1, n), 0.1, 1.0
    )
    slump = rng.random(n) < 0.25
    slump_start_us = _us(window_start) + (rng.random(n) * (_us(until) - _us(window_start))).astype(
        np.int64
    )
    slump_start_us -= slump_start_us % _US_PER_DAY

    account_ids = np.array([f"acc_{i + 1:06d}" for i in range(n)], dtype=object)
    csm_pool = _csm_pool(n)
    owner = csm_pool[rng.integers(0, len(csm_pool), n)]
    tech_touch = (segment_idx == 0) & (rng.random(n) < 0.55)
    owner = np.where(tech_touch, None, owner)
    accounts = pd.DataFrame(
        {
            "account_id": _str(account_ids),
            "name": _str(_company_names(rng, region_idx)),
            "created_at": _to_datetime(created_us),
            "plan": _str(PLANS[rank0]),
            "segment": _str(SEGMENTS[segment_idx]),
            "industry": _str(INDUSTRIES[industry_idx]),
            "region": _str(REGIONS[region_idx]),
            "csm_owner": _str(owner),
            "employee_count": employee_count,
        }
    )
    latent = pd.DataFrame(
        {
            "account_id": _str(account_ids),
            "created_at": _to_datetime(created_us),
            # drivers: the causes of churn and expansion
            "product_fit": product_fit,
            "onboarding_quality": onboarding_quality,
            "support_pain": support_pain,
            "price_pressure": price_pressure,
            "growth_momentum": growth_momentum,
            "champion_left_at": _to_datetime(champion_left_us),
            "account_noise": rng.normal(0, 0.6, n),
            # mechanics: how the drivers show up in the observable tables
            "integration_connected_day": milestone_days["integration_connected"],
            "report_shared_day": milestone_days["report_shared"],
            "user_invited_day": milestone_days["user_invited"],
            "base_users": seats0 * util0,
            "user_growth_per_month": -0.012 + 0.05 * growth_momentum + rng.normal(0, 0.005, n),
            "usage_intensity": np.exp(rng.normal(0, 0.35, n)) * (0.6 + 0.8 * product_fit),
            "fades_before_churn": rng.random(n) < 0.7,
            "fade_days": rng.integers(55, 96, n),
            "fade_floor": rng.uniform(0.08, 0.35, n),
            "weekend_share": rng.uniform(0.1, 0.35, n),
            "summer_dip": INDUSTRIES[industry_idx] == "education",
            "slump_start": _to_datetime(np.where(slump, slump_start_us, _NEVER)),
            "slump_days": rng.integers(20, 61, n),
            "slump_factor": rng.uniform(0.3, 0.6, n),
            "utc_offset_hours": UTC_OFFSET_HOURS[region_idx],
        }
    )
    start = {
        "segment_idx": segment_idx,
        "seats0": seats0,
        "rank0": rank0,
        "annual0": annual0,
        "discount": discount,
        "created_us": created_us,
        "champion_left_us": champion_left_us,
    }
    return accounts, latent, start


# --------------------------------------------------------------------------------------------
# Contracts: a month-by-month simulation over all accounts at once
# --------------------------------------------------------------------------------------------

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


def _simulate_contracts(
    latent: pd.DataFrame, start: dict[str, np.ndarray], months: int, seed: int, end: date
) -> pd.DataFrame:
    """Subscription history from each account's sign-up until the data ends.

    Each calendar month every live account may cancel (logistic hazard of its drivers),
    expand (seats or plan) or contract. Changes and cancellations take effect at midnight;
    annual contracts cancel or shrink only at their anniversary. A few cancelled customers
    come back after a gap.
    """
    rng = _rng(seed, 2)
    n = len(latent)
    _, until = demo_window(months, end)
    until_us = _us(until)
    created = start["created_us"]
    seg = start["segment_idx"]
    fit = latent["product_fit"].to_numpy()
    pain = latent["support_pain"].to_numpy()
    pressure = latent["price_pressure"].to_numpy()
    momentum = latent["growth_momentum"].to_numpy()
    noise = latent["account_noise"].to_numpy()
    champion = start["champion_left_us"]
    base_users = latent["base_users"].to_numpy()
    growth = latent["user_growth_per_month"].to_numpy()
    milestone_days = np.stack([latent[f"{m}_day"].to_numpy() for m in MILESTONES])
    milestones_60 = (milestone_days <= 60).sum(axis=0)
    integration_us = np.where(
        np.isnan(milestone_days[0]),
        _NEVER,
        created + np.nan_to_num(milestone_days[0]).astype(np.int64) * _US_PER_DAY,
    )

    first_month = pd.Timestamp(_to_datetime(created[:1])[0]).to_period("M").to_timestamp()
    month_starts = pd.date_range(first_month, until, freq="MS")
    bounds = [_us(m) for m in month_starts if m < until] + [until_us]

    started = np.zeros(n, bool)
    active = np.zeros(n, bool)
    rank = start["rank0"].astype(np.int64)
    seats = start["seats0"].astype(np.int64)
    annual = start["annual0"].copy()
    row_start = np.full(n, _NEVER, np.int64)
    term_month = np.zeros(n, np.int64)
    term_day = np.zeros(n, np.int64)
    return_at = np.full(n, _NEVER, np.int64)
    closed: list[tuple[np.ndarray, ...]] = []

    def open_rows(idx: np.ndarray, at: np.ndarray) -> None:
        row_start[idx] = at
        term_month[idx] = _month_index(at)
        term_day[idx] = _day_of_month(at)
        active[idx] = True

    def close_rows(idx: np.ndarray, at: np.ndarray) -> None:
        closed.append((idx, row_start[idx], at, rank[idx], seats[idx], annual[idx]))

    for m0, m1 in zip(bounds[:-1], bounds[1:], strict=True):
        n_days = (m1 - m0) // _US_PER_DAY
        new = np.flatnonzero(~started & (created < m1))
        started[new] = True
        open_rows(new, created[new])
        back = np.flatnonzero(~active & (return_at < m1))
        if len(back):
            rank[back] = np.maximum(rank[back] - (rng.random(len(back)) < 0.3), 0)
            seats[back] = np.maximum(1, np.round(seats[back] * rng.uniform(0.6, 1.0, len(back))))
            annual[back] = rng.random(len(back)) < 0.2
            open_rows(back, return_at[back])
            return_at[back] = _NEVER

        live = np.flatnonzero(active & (row_start < m0))
        k = len(live)
        if not k:
            continue
        tenure_months = (m0 - created[live]) / (_US_PER_DAY * _DAYS_PER_MONTH)
        champion_gone = champion[live] <= m0
        champion_recent = champion_gone & (m0 - champion[live] < 180 * _US_PER_DAY)
        demand = (
            base_users[live]
            * np.exp(growth[live] * np.minimum(tenure_months, 36))
            * np.where(champion_gone, 0.6, 1.0)
        )
        utilisation = demand / seats[live]
        integrated = integration_us[live] <= m0
        logit = (
            _CHURN_BASE
            + 2.3 * (1 - fit[live])
            + 2.2 * pain[live]
            + 0.9 * pressure[live]
            + 0.3 * (3 - milestones_60[live]) * (tenure_months < 9)
            + 1.4 * champion_recent
            - 0.35 * integrated
            + _SEGMENT_HAZARD[seg[live]]
            + 1.5 * np.maximum(0.45 - utilisation, 0)
            + noise[live]
            + rng.normal(0, 0.5, k)
        )
        hazard = _sigmoid(logit)
        is_annual = annual[live]
        months_into_term = _month_index(np.full(1, m0))[0] - term_month[live]
        renewal = is_annual & (months_into_term > 0) & (months_into_term % 12 == 0)
        anniversary = m0 + np.minimum(term_day[live], n_days - 1) * _US_PER_DAY
        any_day = m0 + rng.integers(0, n_days, k) * _US_PER_DAY
        p_churn = np.where(
            is_annual, np.where(renewal, 0.6 * (1 - (1 - hazard) ** 12), 0.0), 1.15 * hazard
        )
        p_expand = _sigmoid(
            -4.45
            + 1.2 * momentum[live]
            + 0.9 * fit[live]
            + 8.0 * np.maximum(utilisation - 0.75, 0)
            - 1.2 * pain[live]
            - 0.8 * pressure[live]
            + rng.normal(0, 0.3, k)
        )
        p_contract = _sigmoid(
            -6.2
            + 3.0 * pressure[live]
            + 3.0 * np.maximum(0.55 - utilisation, 0)
            + 0.8 * (1 - fit[live])
            + 0.8 * champion_recent
        )
        p_contract = np.where(
            is_annual, np.where(renewal, 1 - (1 - p_contract) ** 12, 0.0), p_contract
        )
        draw = rng.random(k)
        churn = draw < p_churn
        draw2 = rng.random(k)
        expand = ~churn & (draw2 < p_expand)
        contract = ~churn & ~expand & (draw2 < p_expand + p_contract)
        seat_cap = SEAT_CAP[seg[live]]

        # Cancellations close the last row; a few customers come back after a gap.
        idx = live[churn]
        at = np.where(is_annual[churn], anniversary[churn], any_day[churn])
        close_rows(idx, at)
        active[idx] = False
        comeback = rng.random(len(idx)) < 0.055
        gap_days = np.where(
            rng.random(len(idx)) < 0.45,
            rng.integers(3, 31, len(idx)),
            rng.integers(31, 301, len(idx)),
        )
        return_at[idx] = np.where(comeback, at + gap_days * _US_PER_DAY, _NEVER)

        # Expansion: seats follow demand when users press on them, otherwise a plan upgrade.
        by_seats = ((utilisation > 0.85) | (rank[live] == 3) | (rng.random(k) < 0.55)) & (
            seats[live] < seat_cap
        )
        expand &= by_seats | (rank[live] < 3)
        wanted = np.ceil(np.maximum(demand, seats[live] * 0.9) * rng.uniform(1.08, 1.35, k))
        new_seats = np.minimum(np.maximum(seats[live] + 1, wanted), seat_cap).astype(np.int64)
        idx = live[expand]
        close_rows(idx, any_day[expand])
        row_start[idx] = any_day[expand]
        seats[idx] = np.where(by_seats[expand], new_seats[expand], seats[idx])
        rank[idx] = np.where(by_seats[expand], rank[idx], rank[idx] + 1)

        # Contraction: seats drop to what is used, or the plan steps down.
        by_cut = ((utilisation < 0.7) & (seats[live] > 1)) | (rank[live] == 0)
        contract &= np.where(by_cut, seats[live] > 1, rank[live] > 0)
        kept = np.ceil(demand * rng.uniform(1.0, 1.2, k))
        cut_seats = np.maximum(1, np.minimum(seats[live] - 1, kept)).astype(np.int64)
        idx = live[contract]
        at = np.where(is_annual[contract], anniversary[contract], any_day[contract])
        close_rows(idx, at)
        row_start[idx] = at
        seats[idx] = np.where(by_cut[contract], cut_seats[contract], seats[idx])
        rank[idx] = np.where(by_cut[contract], rank[idx], rank[idx] - 1)

    ongoing = np.flatnonzero(active)
    close_rows(ongoing, np.full(len(ongoing), _NEVER, np.int64))
    acc, start_us, end_us, plan_rank, seat_count, is_annual = (
        np.concatenate(part) for part in zip(*closed, strict=True)
    )
    order = np.lexsort((start_us, acc))
    acc, start_us, end_us = acc[order], start_us[order], end_us[order]
    plan_rank, seat_count, is_annual = plan_rank[order], seat_count[order], is_annual[order]
    price = seat_count * SEAT_PRICE[plan_rank] * start["discount"][acc]
    price = np.where(is_annual, price * ANNUAL_DISCOUNT, price)
    mrr = np.round(np.maximum(price, MIN_MRR[plan_rank]), 2)
    ids = latent["account_id"].to_numpy()
    return pd.DataFrame(
        {
            "subscription_id": _str([f"sub_{i + 1:07d}" for i in range(len(acc))]),
            "account_id": _str(ids[acc]),
            "start_at": _to_datetime(start_us),
            "end_at": _to_datetime(end_us),
            "mrr": mrr.astype(np.float64),
            "plan": _str(PLANS[plan_rank]),
            "seats": seat_count.astype(np.int64),
            "billing_period": _str(np.where(is_annual, "annual", "monthly")),
        }
    )


def _contract_rows(subscriptions: pd.DataFrame, account_ids: pd.Series) -> dict[str, np.ndarray]:
    """Subscription rows as int arrays sorted by account position, with each row's period end.

    ``period_end`` is the instant the account's active period ends (the cancellation closing a
    chain of contiguous rows), ``_NEVER`` while ongoing.
    """
    acc = pd.Index(account_ids).get_indexer(subscriptions["account_id"])
    if (acc < 0).any():
        raise ValueError("subscriptions reference accounts missing from latent")
    start_us = subscriptions["start_at"].to_numpy().astype("datetime64[us]").astype(np.int64)
    end = subscriptions["end_at"]
    end_us = end.to_numpy().astype("datetime64[us]").astype(np.int64)
    end_us[end.isna().to_numpy()] = _NEVER
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


# --------------------------------------------------------------------------------------------
# Support tickets and NPS answers
# --------------------------------------------------------------------------------------------


def _support_tickets(
    latent: pd.DataFrame,
    rows: dict[str, np.ndarray],
    months: int,
    seed: int,
    end: date,
    tickets_per_account_month: float,
) -> pd.DataFrame:
    """Tickets in the window: painful accounts raise more, wait longer and rate lower.

    Volume also rises in the first 90 days (onboarding), after a champion leaves, and in the
    three months before a cancellation (billing questions, complaints).
    """
    rng = _rng(seed, 3)
    window_start, until = demo_window(months, end)
    edges = np.array(
        [_us(m) for m in pd.date_range(window_start, until, freq="MS") if m < until] + [_us(until)]
    )
    if edges[0] > _us(window_start):
        edges = np.concatenate([[_us(window_start)], edges])
    keep = (rows["start"] < edges[-1]) & (rows["end"] > edges[0])
    r = {k: v[keep] for k, v in rows.items()}
    lo = np.maximum(r["start"][:, None], edges[None, :-1])
    hi = np.minimum(r["end"][:, None], edges[None, 1:])
    overlap = np.maximum(hi - lo, 0)
    acc = r["acc"]
    pain = latent["support_pain"].to_numpy()
    pressure = latent["price_pressure"].to_numpy()
    fit = latent["product_fit"].to_numpy()
    momentum = latent["growth_momentum"].to_numpy()
    created = latent["created_at"].to_numpy().astype("datetime64[us]").astype(np.int64)
    champion = _nat_to_never(latent["champion_left_at"])
    mid = lo + overlap // 2
    onboarding = (mid - created[acc][:, None]) < 90 * _US_PER_DAY
    leaving = (r["period_end"][:, None] != _NEVER) & (
        r["period_end"][:, None] - mid < 90 * _US_PER_DAY
    )
    champ = champion[acc][:, None]
    champion_recent = (champ <= mid) & (mid - champ < 180 * _US_PER_DAY)
    rate = (
        tickets_per_account_month
        * (0.3 + 2.4 * pain[acc])[:, None]
        * ((r["seats"] / 10.0) ** 0.25)[:, None]
        * (1 + 1.5 * onboarding)
        * (1 + 0.6 * leaving)
        * (1 + 0.4 * champion_recent)
        * overlap
        / (_US_PER_DAY * _DAYS_PER_MONTH)
    )
    counts = rng.poisson(rate)
    cell_row, cell_month = np.nonzero(counts)
    reps = counts[cell_row, cell_month]
    t_row = np.repeat(cell_row, reps)
    t_month = np.repeat(cell_month, reps)
    m = len(t_row)
    a = acc[t_row]
    p = pain[a]
    opened = lo[t_row, t_month] + (rng.random(m) * overlap[t_row, t_month]).astype(np.int64)
    in_onboarding = onboarding[t_row, t_month]
    is_leaving = leaving[t_row, t_month]

    weights = np.stack(
        [
            0.18 * (0.5 + 3.0 * p),  # defect
            0.05 * (0.3 + 3.0 * p),  # outage
            0.32 * (1.5 - fit[a]),  # how_to
            0.10 * (1 + 3.0 * pressure[a]) * (1 + 0.6 * is_leaving),  # billing
            0.20 * (0.5 + 2.0 * momentum[a]),  # feature_request
            0.15 * np.where(in_onboarding, 4.0, 0.1),  # onboarding
        ],
        axis=1,
    )
    cum = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    category = np.minimum((rng.random(m)[:, None] > cum).sum(axis=1), len(TICKET_CATEGORIES) - 1)
    severity = np.array([0.5, 1.4, -0.5, -0.2, -0.9, -0.3])[category]
    z = 1.6 * p + severity + rng.normal(0, 0.6, m)
    priority = np.searchsorted(np.array([-0.2, 1.0, 1.8]), z)
    first_hours = rng.lognormal(
        np.log(np.array([12.0, 5.0, 2.0, 0.5])[priority] * (0.6 + 3.0 * p)), 0.8
    )
    resolve_hours = rng.lognormal(
        np.log(np.array([48.0, 4.0, 8.0, 24.0, 120.0, 24.0])[category] * (0.7 + 2.0 * p)), 1.0
    )
    escalated = rng.random(m) < _sigmoid(
        -4.6 + 3.2 * p + 1.6 * (priority >= 2) + 0.8 * (priority == 3) + 0.8 * (category <= 1)
    )
    first_at = opened + (first_hours * _US_PER_HOUR).astype(np.int64)
    closed_at = first_at + (resolve_hours * _US_PER_HOUR).astype(np.int64)
    until_us = _us(until)
    closed = closed_at < until_us
    responded = (first_at < until_us) & ~(closed & (rng.random(m) < 0.04))  # a few never logged
    total_days = (closed_at - opened) / _US_PER_DAY
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
    order = np.argsort(opened, kind="stable")
    ids = latent["account_id"].to_numpy()
    status = np.where(closed, "closed", np.where(responded, "pending", "open"))
    return pd.DataFrame(
        {
            "ticket_id": _str([f"tkt_{i + 1:08d}" for i in range(m)]),
            "account_id": _str(ids[a][order]),
            "opened_at": _to_datetime(opened[order]),
            "closed_at": _to_datetime(np.where(closed, closed_at, _NEVER)[order]),
            "status": _str(status[order]),
            "category": _str(TICKET_CATEGORIES[category][order]),
            "priority": _str(PRIORITIES[priority][order]),
            "first_response_at": _to_datetime(np.where(responded, first_at, _NEVER)[order]),
            "satisfaction": np.where(answered, csat, np.nan)[order].astype(np.float64),
            "escalated": escalated[order],
        }
    )


def _nat_to_never(column: pd.Series) -> np.ndarray:
    out = column.to_numpy().astype("datetime64[us]").astype(np.int64)
    out[column.isna().to_numpy()] = _NEVER
    return out


def _nps_responses(
    latent: pd.DataFrame,
    segment_idx: np.ndarray,
    rows: dict[str, np.ndarray],
    months: int,
    seed: int,
    end: date,
) -> pd.DataFrame:
    """Quarterly surveys a week into Jan/Apr/Jul/Oct; 1-3 contacts per account, ~40% answer.

    Scores follow fit, pain and momentum, and drop after a champion leaves or in the months
    before a cancellation, when the decision to leave has formed.
    """
    rng = _rng(seed, 4)
    window_start, until = demo_window(months, end)
    waves = np.array(
        [
            _us(q + pd.Timedelta(days=7))
            for q in pd.date_range(window_start - pd.DateOffset(months=3), until, freq="QS-JAN")
            if window_start <= q + pd.Timedelta(days=7) < until
        ],
        dtype=np.int64,
    )
    if not len(waves):
        return pd.DataFrame(
            {
                "account_id": _str([]),
                "responded_at": np.array([], "datetime64[us]"),
                "score": np.array([], np.int64),
            }
        )
    created = latent["created_at"].to_numpy().astype("datetime64[us]").astype(np.int64)
    covers = (rows["start"][:, None] <= waves[None, :]) & (rows["end"][:, None] > waves[None, :])
    row_i, wave_i = np.nonzero(covers)
    a = rows["acc"][row_i]
    at = waves[wave_i]
    tenured = at - created[a] >= 30 * _US_PER_DAY
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
    responded = at + (delay * _US_PER_DAY).astype(np.int64)
    period_end = rows["period_end"][row_i]
    keep = (responded < _us(until)) & (responded < period_end)
    champion = _nat_to_never(latent["champion_left_at"])[a]
    champion_recent = (champion <= at) & (at - champion < 180 * _US_PER_DAY)
    leaving = (period_end != _NEVER) & (period_end - at < 120 * _US_PER_DAY)
    integrated = ~np.isnan(latent["integration_connected_day"].to_numpy()[a])
    score = np.clip(
        np.round(
            3.0
            + 6.2 * latent["product_fit"].to_numpy()[a]
            - 3.5 * latent["support_pain"].to_numpy()[a]
            + 1.2 * latent["growth_momentum"].to_numpy()[a]
            - 1.8 * champion_recent
            - 1.2 * leaving
            + 0.6 * integrated
            + rng.normal(0, 1.6, m)
        ),
        0,
        10,
    ).astype(np.int64)
    order = np.argsort(responded[keep], kind="stable")
    ids = latent["account_id"].to_numpy()
    return pd.DataFrame(
        {
            "account_id": _str(ids[a[keep]][order]),
            "responded_at": _to_datetime(responded[keep][order]),
            "score": score[keep][order],
        }
    )


# --------------------------------------------------------------------------------------------
# Usage events, chunk by chunk
# --------------------------------------------------------------------------------------------


def iter_usage_event_batches(
    latent: pd.DataFrame,
    subscriptions: pd.DataFrame,
    months: int,
    seed: int,
    end: date = DEFAULT_END,
    chunk_accounts: int = 5000,
    events_per_user_day: float = DEFAULT_EVENTS_PER_USER_DAY,
) -> Iterator[pa.Table]:
    """Usage events as Arrow tables, one per chunk of accounts (the fast path for writers).

    Deterministic for a given seed and chunk size. Per account-day the expected count is
    active users x events per user x weekday/season factors x fades (pre-churn decline,
    champion loss, slumps), with gamma noise; events are drawn from it with numpy only.
    """
    window_start, until = demo_window(months, end)
    day0 = _us(window_start)
    n_days = (until - window_start).days
    days = pd.date_range(window_start, periods=n_days, freq="D")
    weekend = np.asarray(days.dayofweek >= 5)
    holiday = np.asarray(
        ((days.month == 12) & (days.day >= 22)) | ((days.month == 1) & (days.day <= 2))
    )
    summer = np.asarray(days.month.isin([7, 8]))
    col = np.arange(n_days)
    rows = _contract_rows(subscriptions, latent["account_id"])
    row_bounds = np.searchsorted(
        rows["acc"], np.arange(0, len(latent) + chunk_accounts, chunk_accounts)
    )
    created_all = latent["created_at"].to_numpy().astype("datetime64[us]").astype(np.int64)
    champion_all = _nat_to_never(latent["champion_left_at"])
    slump_all = _nat_to_never(latent["slump_start"])
    event_names = pa.array(EVENT_TYPES.tolist())

    for chunk, lo in enumerate(range(0, len(latent), chunk_accounts)):
        hi = min(lo + chunk_accounts, len(latent))
        n = hi - lo
        rng = _rng(seed, 5, lo)
        lat = latent.iloc[lo:hi]
        r0, r1 = row_bounds[chunk], row_bounds[chunk + 1]
        acc = rows["acc"][r0:r1] - lo
        first_day = np.clip(-((day0 - rows["start"][r0:r1]) // _US_PER_DAY), 0, n_days)
        row_end = rows["end"][r0:r1]
        last_day = np.where(
            row_end == _NEVER, n_days, np.clip(-((day0 - row_end) // _US_PER_DAY), 0, n_days)
        )
        diff = np.zeros((n, n_days + 1), np.int64)
        np.add.at(diff, (acc, first_day), 1)
        np.add.at(diff, (acc, last_day), -1)
        active = np.cumsum(diff[:, :n_days], axis=1) > 0
        diff[:] = 0
        seats = rows["seats"][r0:r1]
        np.add.at(diff, (acc, first_day), seats)
        np.add.at(diff, (acc, last_day), -seats)
        seats_day = np.cumsum(diff[:, :n_days], axis=1)
        del diff

        # Days until the active period ends (a cancellation), for the pre-churn fade.
        ends = np.zeros((n, n_days), bool)
        ends[:, 1:] = active[:, :-1] & ~active[:, 1:]
        next_end = np.where(ends, col, 10 * n_days)
        next_end = np.minimum.accumulate(next_end[:, ::-1], axis=1)[:, ::-1]
        to_end = next_end - col
        del ends, next_end
        fades = lat["fades_before_churn"].to_numpy()[:, None]
        fade_days = lat["fade_days"].to_numpy()[:, None]
        floor = lat["fade_floor"].to_numpy()[:, None]
        fade = np.where(
            fades & (to_end <= fade_days),
            floor + (1 - floor) * (to_end - 1) / fade_days,
            1.0,
        )

        created = created_all[lo:hi]
        tenure_months = (day0 + col[None, :] * _US_PER_DAY - created[:, None]) / (
            _US_PER_DAY * _DAYS_PER_MONTH
        )
        growth = lat["user_growth_per_month"].to_numpy()[:, None]
        users = lat["base_users"].to_numpy()[:, None] * np.exp(
            growth * np.clip(tenure_months, 0, 36)
        )
        del tenure_months
        champion_day = np.where(
            champion_all[lo:hi] == _NEVER, 10 * n_days, (champion_all[lo:hi] - day0) // _US_PER_DAY
        )
        gone = col[None, :] >= champion_day[:, None]
        users = np.minimum(np.where(gone, 0.6 * users, users), 1.15 * seats_day)
        slump_day = np.where(
            slump_all[lo:hi] == _NEVER, 10 * n_days, (slump_all[lo:hi] - day0) // _US_PER_DAY
        )
        in_slump = (col[None, :] >= slump_day[:, None]) & (
            col[None, :] < (slump_day + lat["slump_days"].to_numpy())[:, None]
        )
        damp = np.sqrt(fade * np.where(in_slump, lat["slump_factor"].to_numpy()[:, None], 1.0))
        del fade, in_slump
        season = np.where(weekend[None, :], lat["weekend_share"].to_numpy()[:, None], 1.0)
        season = season * np.where(holiday, 0.45, 1.0)[None, :]
        season = season * np.where(
            lat["summer_dip"].to_numpy()[:, None] & summer[None, :], 0.45, 1.0
        )
        users_today = np.maximum(users * damp, 0.0)
        rate = (
            active
            * users_today
            * events_per_user_day
            * lat["usage_intensity"].to_numpy()[:, None]
            * season
            * np.where(gone, 0.8, 1.0)
            * damp
            * rng.gamma(3.0, 1 / 3, (n, n_days))
        )
        del season, damp, users
        counts = rng.poisson(rate)
        del rate
        cell_acc, cell_day = np.nonzero(counts)
        reps = counts[cell_acc, cell_day]
        ev_acc = np.repeat(cell_acc, reps)
        ev_day = np.repeat(cell_day, reps)
        pool = np.maximum(1, np.rint(users_today[cell_acc, cell_day])).astype(np.int64)
        ev_user = (rng.random(len(ev_acc)) ** 1.4 * np.repeat(pool, reps)).astype(np.int64)
        del counts, reps, pool, users_today

        # Feature adoption differs by account: breadth grows with fit and onboarding.
        fit = lat["product_fit"].to_numpy()
        onboard = lat["onboarding_quality"].to_numpy()
        adopt = (
            rng.random((n, len(EVENT_TYPES)))
            < np.clip(0.2 + 0.6 * fit + 0.25 * onboard, 0, 0.98)[:, None]
        )
        adopt[:, [LOGIN, DASHBOARD_VIEW, USER_INVITED]] = True
        milestone_day = {}
        for name in MILESTONES:
            offset = lat[f"{name}_day"].to_numpy()
            reached = ~np.isnan(offset)
            at = created + np.nan_to_num(offset).astype(np.int64) * _US_PER_DAY
            milestone_day[name] = np.where(reached, -((day0 - at) // _US_PER_DAY), 10 * n_days)
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
        # No feature before its milestone; fading churners export their data at the end.
        before = ev_day < milestone_day["integration_connected"][ev_acc]
        etype[before & ((etype == INTEGRATION_SYNC) | (etype == INTEGRATION_CONNECTED))] = (
            DASHBOARD_VIEW
        )
        etype[(ev_day < milestone_day["report_shared"][ev_acc]) & (etype == REPORT_SHARED)] = (
            REPORT_CREATED
        )
        etype[(ev_day < milestone_day["user_invited"][ev_acc]) & (etype == USER_INVITED)] = LOGIN
        leaving = fades[ev_acc, 0] & (to_end[ev_acc, ev_day] <= 30)
        etype[leaving & (rng.random(m) < 0.12)] = EXPORT
        del to_end, before, leaving

        # The milestone itself: one event on the day it is reached, by the first user.
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
        ev_acc = np.concatenate(extra_acc)
        ev_day = np.concatenate(extra_day)
        etype = np.concatenate(extra_type)
        ev_user = np.concatenate([ev_user, np.zeros(n_extra, np.int64)])
        ev_user += gone[ev_acc, ev_day]  # the champion (user 1) stops appearing once gone
        del active, gone
        m = len(ev_acc)

        machine = (etype == API_CALL) | (etype == INTEGRATION_SYNC)
        local_hour = np.where(
            rng.random(m) < 0.5, rng.normal(10.5, 1.6, m), rng.normal(15.0, 1.9, m)
        )
        local_hour = np.where(machine, rng.random(m) * 24.0, local_hour)
        utc_hour = (local_hour - lat["utc_offset_hours"].to_numpy()[ev_acc]) % 24.0
        occurred = (
            day0
            + ev_day.astype(np.int64) * _US_PER_DAY
            + np.minimum((utc_hour * _US_PER_HOUR).astype(np.int64), _US_PER_DAY - 1)
        )
        quantity = _quantities(rng, etype)
        order = np.argsort(ev_acc.astype(np.int64) * (n_days * _US_PER_DAY) + occurred - day0)
        ev_acc, ev_user, etype = ev_acc[order], ev_user[order], etype[order]
        occurred, quantity = occurred[order], quantity[order]

        ids = lat["account_id"].to_numpy()
        user_key = ev_acc.astype(np.int64) * 1_000_000 + ev_user
        unique_users, user_pos = np.unique(user_key, return_inverse=True)
        stems = [str(x).removeprefix("acc_") for x in ids]
        user_names = pa.array(
            [f"u_{stems[k // 1_000_000]}_{k % 1_000_000 + 1:02d}" for k in unique_users.tolist()]
        )
        yield pa.table(
            {
                "account_id": pa.array(ids.tolist()).take(pa.array(ev_acc)),
                "occurred_at": pa.array(occurred.view("datetime64[us]")),
                "event_type": event_names.take(pa.array(etype)),
                "user_id": user_names.take(pa.array(user_pos)),
                "quantity": pa.array(quantity),
            }
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


# --------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------


def generate_accounts_and_contracts(
    n_accounts: int,
    months: int,
    seed: int,
    end: date = DEFAULT_END,
    tickets_per_account_month: float = DEFAULT_TICKETS_PER_ACCOUNT_MONTH,
) -> dict[str, pd.DataFrame]:
    """Every table but usage: accounts, subscriptions, support_tickets, nps_responses, latent.

    ``latent`` holds the hidden drivers and mechanics per account (the ground truth, written
    as ``demo_latent_truth``); pass it to ``iter_usage_events`` for the usage log.
    """
    accounts, latent, start = _accounts_and_latent(n_accounts, months, seed, end)
    subscriptions = _simulate_contracts(latent, start, months, seed, end)
    current = subscriptions.drop_duplicates("account_id", keep="last").set_index("account_id")
    accounts["plan"] = _str(accounts["account_id"].map(current["plan"]).to_numpy())
    rows = _contract_rows(subscriptions, latent["account_id"])
    tickets = _support_tickets(latent, rows, months, seed, end, tickets_per_account_month)
    nps = _nps_responses(latent, start["segment_idx"], rows, months, seed, end)
    return {
        "accounts": accounts,
        "subscriptions": subscriptions,
        "support_tickets": tickets,
        "nps_responses": nps,
        "latent": latent,
    }


def generate_demo_data(
    n_accounts: int,
    months: int,
    seed: int,
    end: date = DEFAULT_END,
    events_per_user_day: float = DEFAULT_EVENTS_PER_USER_DAY,
    tickets_per_account_month: float = DEFAULT_TICKETS_PER_ACCOUNT_MONTH,
) -> dict[str, pd.DataFrame]:
    """All tables with usage concatenated: for small sizes (tests, notebooks)."""
    tables = generate_accounts_and_contracts(
        n_accounts, months, seed, end, tickets_per_account_month
    )
    chunks = list(
        iter_usage_event_batches(
            tables["latent"],
            tables["subscriptions"],
            months,
            seed,
            end,
            events_per_user_day=events_per_user_day,
        )
    )
    tables["usage_events"] = pa.concat_tables(chunks).to_pandas()
    return tables
