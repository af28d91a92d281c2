"""A realistic B2B SaaS demo dataset with documented causes of churn and expansion.

Every account has hidden drivers (see docs/demo-data.md). They set the monthly churn hazard and
the expansion chance, and they leave traces in the observable tables: usage falls before most
cancellations, painful support precedes churn, seat pressure precedes expansion. Noise on every
step keeps the problem honest (a model should rank well, not perfectly).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

PLANS = np.array(["starter", "growth", "business", "enterprise"])
SEAT_PRICE = np.array([15.0, 30.0, 55.0, 90.0])
SEGMENTS = np.array(["SMB", "Mid-Market", "Enterprise"])
INDUSTRIES = np.array(
    ["software", "retail", "finance", "healthcare", "manufacturing", "media", "education"]
)
REGIONS = np.array(["NA", "EMEA", "APAC", "LATAM"])
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
# Base popularity of each event type; accounts adopt a subset (breadth) on top of this.
EVENT_WEIGHTS = np.array([0.30, 0.25, 0.08, 0.04, 0.01, 0.12, 0.01, 0.06, 0.10, 0.03])
TICKET_CATEGORIES = np.array(
    ["defect", "outage", "how_to", "billing", "feature_request", "onboarding"]
)
PRIORITIES = np.array(["low", "normal", "high", "urgent"])
_WORDS_A = [
    "Blue",
    "North",
    "Bright",
    "Rapid",
    "Summit",
    "Cedar",
    "Atlas",
    "Nova",
    "Pioneer",
    "Harbor",
    "Quartz",
    "Maple",
]
_WORDS_B = [
    "Labs",
    "Systems",
    "Logistics",
    "Foods",
    "Health",
    "Analytics",
    "Retail",
    "Media",
    "Works",
    "Partners",
]
_JA = ["株式会社さくら", "山田商事株式会社", "株式会社ひかりソフト", "東京ロジスティクス株式会社"]


@dataclass(frozen=True)
class DemoShape:
    n_accounts: int = 2000
    months: int = 24
    seed: int = 7
    end: date = date(2026, 10, 31)
    events_per_user_day: float = 0.18  # about 500 events per account-month
    tickets_per_account_month: float = 0.6


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def generate_accounts(shape: DemoShape) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Accounts and their hidden drivers (the second frame is the ground truth, not a feature)."""
    rng = np.random.default_rng(shape.seed)
    n = shape.n_accounts
    end = pd.Timestamp(shape.end)
    window_start = end - pd.DateOffset(months=shape.months)
    # 65% existed before the window (up to 4 years of tenure), 35% sign up during it
    before = rng.random(n) < 0.65
    span_before = (window_start - (window_start - pd.DateOffset(years=4))).days
    span_within = (end - pd.DateOffset(months=4) - window_start).days
    offset = np.where(before, -rng.integers(1, span_before, n), rng.integers(0, span_within, n))
    created = (
        window_start.normalize()
        + pd.to_timedelta(offset, unit="D")
        + pd.to_timedelta(rng.integers(8, 18, n), unit="h")
    )
    segment_idx = rng.choice(3, n, p=[0.6, 0.3, 0.1])
    employees = np.round(
        np.exp(rng.normal([3.0, 5.0, 7.5], 0.6, (n, 3))[np.arange(n), segment_idx])
    ).astype(int)
    names = [f"{rng.choice(_WORDS_A)} {rng.choice(_WORDS_B)} {i}" for i in range(n)]
    for i in rng.choice(n, max(1, n // 50), replace=False):
        names[i] = f"{rng.choice(_JA)} {i}"
    for i in rng.choice(n, max(1, n // 40), replace=False):
        names[i] = names[i].replace(" ", " & ", 1) if i % 2 else f"O'Neil {names[i]}"
    n_csm = max(5, n // 125)
    csm_pool = np.array([f"CSM {chr(65 + k % 26)}{k // 26 or ''}" for k in range(n_csm)])
    owner = csm_pool[rng.integers(0, n_csm, n)].astype(object)
    owner[(segment_idx == 0) & (rng.random(n) < 0.4)] = (
        None  # many small accounts are tech-touch only
    )
    accounts = pd.DataFrame(
        {
            "account_id": [f"acc_{i:06d}" for i in range(n)],
            "name": names,
            "created_at": created.astype("datetime64[us]"),
            "plan": "",
            "segment": SEGMENTS[segment_idx],
            "industry": rng.choice(INDUSTRIES, n),
            "region": rng.choice(REGIONS, n, p=[0.45, 0.3, 0.18, 0.07]),
            "csm_owner": pd.array(owner, dtype="str"),
            "employee_count": employees,
        }
    )
    champion_left = np.where(
        rng.random(n) < 0.12, rng.integers(0, (end - window_start).days, n), -1
    )
    latent = pd.DataFrame(
        {
            "account_id": accounts.account_id,
            "segment_idx": segment_idx,
            "product_fit": rng.beta(2.2, 1.8, n),
            "onboarding_quality": rng.beta(2.0, 1.6, n),
            "support_pain": rng.beta(1.3, 4.0, n),
            "price_pressure": rng.beta(1.2, 5.0, n),
            "growth_momentum": rng.beta(1.6, 3.0, n),
            "champion_left_day": champion_left,  # days after the window start; -1: never
            "noise": rng.normal(0, 0.5, n),
        }
    )
    return accounts, latent


def simulate_subscriptions(
    accounts: pd.DataFrame, latent: pd.DataFrame, shape: DemoShape
) -> pd.DataFrame:
    """Month-by-month contract history: cancellations, comebacks, upgrades, seat changes, downgrades."""
    rng = np.random.default_rng(shape.seed + 1)
    n = len(accounts)
    end = pd.Timestamp(shape.end)
    window_start = end - pd.DateOffset(months=shape.months)
    created = accounts.created_at.to_numpy()
    first_month = pd.Timestamp(created.min()).to_period("M").to_timestamp()
    months = pd.date_range(first_month, end, freq="MS")
    seg = latent.segment_idx.to_numpy()
    fit, onboard = latent.product_fit.to_numpy(), latent.onboarding_quality.to_numpy()
    pain, pressure = latent.support_pain.to_numpy(), latent.price_pressure.to_numpy()
    momentum, noise = latent.growth_momentum.to_numpy(), latent.noise.to_numpy()
    champion_day = latent.champion_left_day.to_numpy()
    plan_p = np.array([[0.55, 0.35, 0.10, 0.0], [0.15, 0.45, 0.35, 0.05], [0.0, 0.15, 0.45, 0.40]])
    rank = np.array([rng.choice(4, p=plan_p[s]) for s in seg])
    seats = np.maximum(
        1, np.round(np.exp(rng.normal([1.8, 3.3, 5.0], 0.5, (n, 3))[np.arange(n), seg]))
    ).astype(int)
    annual = rng.random(n) < np.array([0.2, 0.5, 0.8])[seg]
    active = np.zeros(n, bool)
    ever = np.zeros(n, bool)
    row_start = np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
    contract_start = row_start.copy()
    churned_at = row_start.copy()
    comeback = np.zeros(n, bool)
    rows: list[dict] = []

    def close(idx: np.ndarray, at: np.ndarray) -> None:
        for i, t in zip(idx, at, strict=True):
            rows.append(_row(i, row_start[i], t, rank[i], seats[i], annual[i]))

    for m_start in months:
        m_end = m_start + pd.DateOffset(months=1)
        days_in = (m_end - m_start).days
        start_now = (
            ~ever
            & (created < np.datetime64(m_end))
            & (created >= np.datetime64(m_start - pd.DateOffset(months=1)))
        )
        start_now |= ~ever & (created < np.datetime64(m_start)) & (m_start == months[0])
        idx = np.where(start_now)[0]
        row_start[idx] = np.maximum(created[idx], np.datetime64(m_start)).astype("datetime64[us]")
        contract_start[idx] = row_start[idx]
        active[idx] = ever[idx] = True
        # comebacks: a few churned customers return after a gap
        back = np.where(comeback & ~active & (churned_at < np.datetime64(m_start)))[0]
        if len(back):
            t = np.datetime64(m_start) + rng.integers(0, days_in, len(back)).astype(
                "timedelta64[D]"
            )
            row_start[back] = contract_start[back] = t.astype("datetime64[us]")
            active[back] = True
            comeback[back] = False
        live = np.where(active & (row_start < np.datetime64(m_start)))[0]
        if not len(live):
            continue
        day_of_window = (m_start - window_start).days
        champ_gone = (
            (champion_day[live] >= 0)
            & (champion_day[live] <= day_of_window)
            & (champion_day[live] > day_of_window - 150)
        )
        months_in = (
            (np.datetime64(m_start) - contract_start[live]).astype("timedelta64[D]").astype(int)
        ) // 30
        renewal = ~annual[live] | (months_in % 12 == 11)
        logit = (
            -5.3
            + 2.4 * (1 - fit[live])
            + 2.2 * pain[live]
            + 1.2 * (1 - onboard[live]) * (months_in < 9)
            + 1.6 * champ_gone
            + np.array([0.5, 0.0, -0.7])[seg[live]]
            + 0.8 * pressure[live]
            + noise[live]
            + rng.normal(0, 0.35, len(live))
        )
        hazard = _sigmoid(logit) * np.where(annual[live], np.where(renewal, 6.0, 0.0), 1.0)
        churn = live[rng.random(len(live)) < hazard]
        if len(churn):
            at = (
                np.datetime64(m_start)
                + rng.integers(0, days_in, len(churn)).astype("timedelta64[D]")
            ).astype("datetime64[us]")
            close(churn, at)
            active[churn] = False
            churned_at[churn] = at
            comeback[churn] = rng.random(len(churn)) < 0.06
        rest = np.setdiff1d(live, churn, assume_unique=True)
        if not len(rest):
            continue
        util = np.clip(
            0.35 + 0.5 * fit[rest] + 0.35 * momentum[rest] + rng.normal(0, 0.1, len(rest)), 0, 1.3
        )
        grow_logit = (
            -4.4
            + 2.6 * momentum[rest]
            + 1.2 * fit[rest]
            + 1.6 * np.maximum(util - 0.85, 0) * 3
            - 1.5 * pain[rest]
            + rng.normal(0, 0.4, len(rest))
        )
        grow = rest[rng.random(len(rest)) < _sigmoid(grow_logit)]
        shrink_p = _sigmoid(-5.2 + 2.5 * pressure[rest] + 1.0 * (1 - fit[rest]))
        shrink = np.setdiff1d(rest[rng.random(len(rest)) < shrink_p], grow)
        for changed, up in ((grow, True), (shrink, False)):
            if not len(changed):
                continue
            at = (
                np.datetime64(m_start)
                + rng.integers(0, days_in, len(changed)).astype("timedelta64[D]")
            ).astype("datetime64[us]")
            close(changed, at)
            row_start[changed] = at
            if up:
                plan_up = (rng.random(len(changed)) < 0.3) & (rank[changed] < 3)
                rank[changed] = rank[changed] + plan_up
                factor = 1 + rng.uniform(0.1, 0.6, len(changed))
                grown = np.minimum(
                    np.ceil(seats[changed] * factor), np.array([60, 400, 3000])[seg[changed]]
                )
                seats[changed] = np.where(plan_up, seats[changed], grown).astype(int)
            else:
                plan_down = (rng.random(len(changed)) < 0.4) & (rank[changed] > 0)
                rank[changed] = rank[changed] - plan_down
                seats[changed] = np.where(
                    plan_down, seats[changed], np.maximum(1, np.floor(seats[changed] * 0.75))
                ).astype(int)
    for i in np.where(active)[0]:
        rows.append(_row(i, row_start[i], np.datetime64("NaT"), rank[i], seats[i], annual[i]))
    subs = (
        pd.DataFrame(rows)
        .sort_values(["account_id", "start_at"], kind="stable")
        .reset_index(drop=True)
    )
    subs.insert(0, "subscription_id", [f"sub_{i:07d}" for i in range(len(subs))])
    subs["account_id"] = subs["account_id"].map(lambda i: f"acc_{i:06d}")
    subs["start_at"] = subs["start_at"].astype("datetime64[us]")
    subs["end_at"] = subs["end_at"].astype("datetime64[us]")
    return subs


def _row(i: int, start, end, rank: int, seats: int, annual: bool) -> dict:
    discount = 0.85 if annual else 1.0
    return {
        "account_id": int(i),
        "start_at": start,
        "end_at": end,
        "mrr": round(float(seats * SEAT_PRICE[rank] * discount), 2),
        "plan": PLANS[rank],
        "seats": int(seats),
        "billing_period": "annual" if annual else "monthly",
    }


def _active_matrix(
    subs: pd.DataFrame, account_index: np.ndarray, days: pd.DatetimeIndex
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per account-day: active flag, seats, and days until the active period ends (inf if never)."""
    n, d = len(account_index), len(days)
    pos = {a: k for k, a in enumerate(account_index)}
    seats = np.zeros((n, d))
    active = np.zeros((n, d), bool)
    to_end = np.full((n, d), np.inf)
    day0 = days[0]
    for row in subs.itertuples(index=False):
        k = pos.get(row.account_id)
        if k is None:
            continue
        s = max(0, (pd.Timestamp(row.start_at).normalize() - day0).days)
        e = d if pd.isna(row.end_at) else min(d, (pd.Timestamp(row.end_at).normalize() - day0).days)
        if e <= s:
            continue
        active[k, s:e] = True
        seats[k, s:e] = row.seats
    # days to the end of activity (cancellation), for the pre-churn decline
    for k in range(n):
        ends = np.where(active[k, :-1] & ~active[k, 1:])[0] + 1
        for e in ends:
            lo = max(0, e - 120)
            to_end[k, lo:e] = np.minimum(to_end[k, lo:e], e - np.arange(lo, e))
    return active, seats, to_end


def iter_usage_events(
    accounts: pd.DataFrame,
    latent: pd.DataFrame,
    subs: pd.DataFrame,
    shape: DemoShape,
    chunk_accounts: int = 1000,
) -> Iterator[pd.DataFrame]:
    """Usage events chunk by chunk, so 50M events never sit in memory at once."""
    end = pd.Timestamp(shape.end) + pd.Timedelta(days=1)
    start = end - pd.DateOffset(months=shape.months)
    days = pd.date_range(start, end, freq="D", inclusive="left")
    weekday = np.where(days.dayofweek >= 5, 0.25, 1.0)
    window_day = np.arange(len(days))
    for lo in range(0, len(accounts), chunk_accounts):
        rng = np.random.default_rng([shape.seed, 2, lo])
        ids = accounts.account_id.to_numpy()[lo : lo + chunk_accounts]
        lat = latent.iloc[lo : lo + chunk_accounts]
        part = subs[subs.account_id.isin(ids)]
        active, seats, to_end = _active_matrix(part, ids, days)
        fit = lat.product_fit.to_numpy()[:, None]
        momentum = lat.growth_momentum.to_numpy()[:, None]
        champ = lat.champion_left_day.to_numpy()[:, None]
        util = np.clip(0.3 + 0.5 * fit + 0.3 * momentum, 0.05, 1.2)
        # 75% of churners fade out over the last 90 days; the rest leave without warning
        fades = rng.random((len(ids), 1)) < 0.75
        decline = np.where(fades & (to_end < 90), 0.25 + 0.75 * (to_end / 90.0), 1.0)
        champ_drop = np.where((champ >= 0) & (window_day[None, :] >= champ), 0.5, 1.0)
        growth = 1.0 + 0.5 * momentum * (window_day[None, :] / len(days))
        users = np.maximum(1.0, seats * util * decline * champ_drop)
        rate = users * shape.events_per_user_day * weekday[None, :] * growth * active
        rate *= rng.gamma(4.0, 0.25, rate.shape)  # day-to-day noise
        counts = rng.poisson(rate)
        total = int(counts.sum())
        if total == 0:
            continue
        acc_k, day_k = np.nonzero(counts)
        reps = counts[acc_k, day_k]
        acc_e = np.repeat(acc_k, reps)
        day_e = np.repeat(day_k, reps)
        # per-account adoption: breadth grows with fit and onboarding
        adopt = rng.random((len(ids), len(EVENT_TYPES))) < np.clip(
            0.25 + 0.6 * fit + 0.2 * lat.onboarding_quality.to_numpy()[:, None], 0, 1
        )
        adopt[:, 0] = True
        w = adopt * EVENT_WEIGHTS[None, :]
        cw = np.cumsum(w / w.sum(axis=1, keepdims=True), axis=1)
        u = rng.random(total)
        etype = np.empty(total, dtype=np.int64)
        bounds = np.searchsorted(acc_e, np.arange(len(ids) + 1))  # events are grouped by account
        for k in range(len(ids)):
            lo_k, hi_k = bounds[k], bounds[k + 1]
            if hi_k > lo_k:
                etype[lo_k:hi_k] = np.searchsorted(cw[k], u[lo_k:hi_k], side="right")
        etype = np.minimum(etype, len(EVENT_TYPES) - 1)
        n_users = np.maximum(1, np.ceil(seats.max(axis=1) * 1.2)).astype(int)
        user = (rng.random(total) ** 1.5 * n_users[acc_e]).astype(int)
        seconds = rng.integers(7 * 3600, 20 * 3600, total)
        occurred = days.values[day_e].astype("datetime64[us]") + seconds.astype("timedelta64[s]")
        quantity = np.where(
            EVENT_TYPES[etype] == "login", rng.gamma(2.0, 12.0, total).round(1), 1.0
        )
        yield pd.DataFrame(
            {
                "account_id": ids[acc_e],
                "occurred_at": occurred,
                "event_type": EVENT_TYPES[etype],
                "user_id": pd.Series(ids[acc_e]).str.replace("acc_", "u_", regex=False).to_numpy()
                + "_"
                + user.astype(str),
                "quantity": quantity,
            }
        )


def generate_tickets_and_nps(
    accounts: pd.DataFrame, latent: pd.DataFrame, subs: pd.DataFrame, shape: DemoShape
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Support tickets (painful accounts raise more, wait longer, rate lower) and NPS answers."""
    rng = np.random.default_rng(shape.seed + 3)
    end = pd.Timestamp(shape.end) + pd.Timedelta(days=1)
    start = end - pd.DateOffset(months=shape.months)
    months = pd.date_range(start, end, freq="MS")
    lat = latent.set_index("account_id")
    live = subs.assign(end_at=subs.end_at.fillna(end))
    tickets, nps = [], []
    for m in months:
        m_end = min(m + pd.DateOffset(months=1), end)
        on = live[(live.start_at < m_end) & (live.end_at > m)].drop_duplicates("account_id")
        if on.empty:
            continue
        a = on.account_id.to_numpy()
        pain = lat.loc[a, "support_pain"].to_numpy()
        # tickets cluster in the three months before a cancellation
        leaving = (on.end_at < end) & (on.end_at - m < pd.Timedelta(days=90))
        rate = (
            shape.tickets_per_account_month
            * (0.3 + 2.5 * pain)
            * np.where(leaving, 1.8, 1.0)
            * (on.seats.to_numpy() ** 0.25)
        )
        k = rng.poisson(rate)
        idx = np.repeat(np.arange(len(a)), k)
        if len(idx):
            span = (m_end - m).total_seconds()
            opened = m + pd.to_timedelta(rng.uniform(0, span, len(idx)), unit="s")
            p = pain[idx]
            prio = np.minimum(
                3,
                (rng.random(len(idx)) * 1.2 + 2.2 * p + rng.normal(0, 0.3, len(idx)))
                .astype(int)
                .clip(0),
            )
            cat = np.where(
                rng.random(len(idx)) < 0.4 * p + 0.1,
                rng.choice([0, 1], len(idx)),
                rng.choice([2, 3, 4, 5], len(idx)),
            )
            first_h = rng.lognormal(np.log(2 + 20 * p), 0.8)
            resolve_h = first_h + rng.lognormal(np.log(6 + 60 * p), 1.0)
            first_at = opened + pd.to_timedelta(first_h, unit="h")
            closed_at = opened + pd.to_timedelta(resolve_h, unit="h")
            still_open = closed_at >= end
            csat = np.clip(
                np.round(5 - 3 * p - resolve_h / 200 + rng.normal(0, 0.7, len(idx))), 1, 5
            )
            csat = np.where(rng.random(len(idx)) < 0.4, np.nan, csat)
            tickets.append(
                pd.DataFrame(
                    {
                        "account_id": a[idx],
                        "opened_at": opened.astype("datetime64[us]"),
                        "closed_at": pd.Series(closed_at)
                        .where(~still_open)
                        .astype("datetime64[us]")
                        .to_numpy(),
                        "status": np.where(
                            still_open, np.where(first_at < end, "pending", "open"), "closed"
                        ),
                        "category": TICKET_CATEGORIES[cat],
                        "priority": PRIORITIES[prio],
                        "first_response_at": pd.Series(first_at)
                        .where(first_at < end)
                        .astype("datetime64[us]")
                        .to_numpy(),
                        "satisfaction": np.where(still_open, np.nan, csat),
                        "escalated": rng.random(len(idx)) < 0.03 + 0.25 * p * (prio >= 2),
                    }
                )
            )
        if m.month in (1, 4, 7, 10):
            answer = rng.random(len(a)) < 0.4
            fit = lat.loc[a, "product_fit"].to_numpy()
            score = np.clip(
                np.round(
                    3 + 6 * fit - 4 * pain - 2 * leaving.to_numpy() + rng.normal(0, 1.5, len(a))
                ),
                0,
                10,
            )
            when = m + pd.to_timedelta(rng.uniform(0, 20 * 86400, len(a)), unit="s")
            nps.append(
                pd.DataFrame(
                    {
                        "account_id": a[answer],
                        "responded_at": when[answer].astype("datetime64[us]"),
                        "score": score[answer].astype(int),
                    }
                )
            )
    t = (
        pd.concat(tickets, ignore_index=True)
        .sort_values("opened_at", kind="stable")
        .reset_index(drop=True)
    )
    t.insert(0, "ticket_id", [f"tkt_{i:08d}" for i in range(len(t))])
    n = (
        pd.concat(nps, ignore_index=True)
        .sort_values("responded_at", kind="stable")
        .reset_index(drop=True)
    )
    n = n[n.responded_at < end]
    return t, n


def generate_demo_data(shape: DemoShape, with_events: bool = True) -> dict[str, pd.DataFrame]:
    """Every table of the demo (usage concatenated: for small shapes and tests)."""
    accounts, latent = generate_accounts(shape)
    subs = simulate_subscriptions(accounts, latent, shape)
    current = subs.sort_values("start_at").groupby("account_id").plan.last()
    accounts["plan"] = accounts.account_id.map(current).fillna("starter").astype("str")
    tickets, nps = generate_tickets_and_nps(accounts, latent, subs, shape)
    out = {
        "accounts": accounts,
        "subscriptions": subs,
        "support_tickets": tickets,
        "nps_responses": nps,
        "demo_latent_truth": latent,
    }
    if with_events:
        out["usage_events"] = pd.concat(
            list(iter_usage_events(accounts, latent, subs, shape)), ignore_index=True
        )
    return out
