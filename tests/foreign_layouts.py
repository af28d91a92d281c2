"""Synthetic B2B exports shaped unlike churnml's contract, each with a config that maps it.

Every layout has its own table names, column names and keys, written the way a real export
would be (CSV, Parquet or a DuckDB file), and a churnml config that reaches the contract by the
mapping alone. They share one account simulator so the causal story is the same everywhere:

- churn: an account falls into trouble (about 5% of healthy accounts a month); its active
  users then halve month after month, it raises more tickets and leaves them unresolved, and
  from its third month in trouble it usually cancels. Healthy accounts rarely cancel (0.5% a month).
- expansion: "growers" (about a third of accounts) add active users every month and use the
  advanced features more; once they reach their seat limit they buy more seats or the next
  plan. Other accounts rarely expand.
- the no-signal variant draws churn and expansion at a constant monthly rate, independent of
  everything the features can see.

Each writer puts its files into a folder, writes ``truth.json`` there (the 90-day churn and
expansion rates it generated per month start, for the tests to compare labels with) and
returns the config as a dict; :func:`write_config` saves it as ``churnml.yaml``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import yaml

START = pd.Timestamp("2025-01-01")
MONTHS = 16  # data from 2025-01-01 to 2026-04-30
HORIZON_DAYS = 90
SNAPSHOTS = 15  # folds a horizon before the test need ~9 labelled monthly snapshots before the test
EVENT_KINDS = ("login", "dashboard_view", "report_created", "export", "automation_run")
ADVANCED = ("export", "automation_run")  # what growers use more


@dataclass
class Lifecycles:
    """Monthly state of every simulated account (months are indexes into the month grid)."""

    start: np.ndarray  # first active month
    last: np.ndarray  # last active month (MONTHS - 1 when still active at the end)
    churned: np.ndarray  # bool: cancelled at the end of month `last`
    users: np.ndarray  # [account, month] active users, 0 when not active
    seats: np.ndarray  # [account, month] seats paid for
    tier: np.ndarray  # [account, month] plan tier 0, 1, 2
    trouble: np.ndarray  # [account, month] bool: the account is disengaging
    expanded: np.ndarray  # [account, month] bool: seats or tier went up at this month's start
    grower: np.ndarray  # bool per account
    term: np.ndarray  # billing period in months per account (1, 6 or 12)
    phase: np.ndarray  # months of its current billing period an account had behind it at start

    def term_starts(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex([self.term_start(i) for i in range(len(self.start))])

    def term_start(self, i: int) -> pd.Timestamp:
        """When account i's first billing period in the data began (before the data for an
        account already a customer at the first month)."""
        return month_starts()[self.start[i]] - pd.DateOffset(months=int(self.phase[i]))

    @property
    def active(self) -> np.ndarray:
        m = np.arange(self.users.shape[1])
        return (m[None, :] >= self.start[:, None]) & (m[None, :] <= self.last[:, None])


def month_starts(months: int = MONTHS) -> pd.DatetimeIndex:
    return pd.date_range(START, periods=months + 1, freq="MS")


def simulate(
    rng: np.random.Generator,
    accounts: int,
    months: int = MONTHS,
    signal: bool = True,
    churn: bool = True,
    expansion: bool = True,
    terms: tuple[int, ...] = (1,),
) -> Lifecycles:
    """Account lifecycles month by month; see the module docstring for the causal story.

    With ``terms`` beyond monthly, an account can only leave at the end of a billing period
    (with ``signal=False`` in any month, so that term timing does not foretell churn either).
    Accounts already customers at the first month are spread over their billing period (a
    deterministic phase, no random draw): otherwise every annual one would renew in month 12,
    no renewal would lie in the history a model learns from and a wave of them would lie in the
    last labelled snapshots.
    """
    n = accounts
    start = np.where(rng.random(n) < 0.6, 0, rng.integers(1, months - 6, n))
    term = rng.choice(np.array(terms), n)
    phase = np.where(start == 0, (np.arange(n) * 5) % term, 0)
    grower = rng.random(n) < 0.33
    seats = np.zeros((n, months), dtype=int)
    users = np.zeros((n, months), dtype=int)
    tier = np.zeros((n, months), dtype=int)
    trouble = np.zeros((n, months), dtype=bool)
    expanded = np.zeros((n, months), dtype=bool)
    alive = np.ones(n, dtype=bool)
    last = np.full(n, months - 1)
    churned = np.zeros(n, dtype=bool)
    cur_seats = rng.choice([3, 5, 8, 12, 20], n)
    cur_tier = rng.choice([0, 1, 2], n, p=[0.5, 0.35, 0.15])
    cur_users = np.maximum(1, np.round(cur_seats * rng.uniform(0.4, 0.75, n))).astype(float)
    in_trouble = np.zeros(n, dtype=bool)
    months_in_trouble = np.zeros(n, dtype=int)
    for m in range(months):
        live = alive & (start <= m)
        new = start == m
        # expansion decided at the end of the previous month shows from this month on
        if m > 0 and expansion:
            util = users[:, m - 1] / np.maximum(seats[:, m - 1], 1)
            if signal:
                p_up = np.where(grower & (util >= 0.9) & ~in_trouble, 0.6, 0.006)
            else:
                p_up = np.full(n, 0.035)
            up = live & ~new & (rng.random(n) < p_up)
            more = np.ceil(cur_seats * rng.uniform(1.4, 1.8, n)).astype(int)
            cur_seats = np.where(up, more, cur_seats)
            cur_tier = np.where(up & (rng.random(n) < 0.35), np.minimum(cur_tier + 1, 2), cur_tier)
            expanded[:, m] = up
        onset = live & ~in_trouble & (rng.random(n) < 0.05)
        recover = in_trouble & (rng.random(n) < 0.08)
        in_trouble = (in_trouble | onset) & ~recover
        months_in_trouble = np.where(in_trouble, months_in_trouble + 1, 0)
        growth = np.where(grower, rng.uniform(1.04, 1.18, n), rng.uniform(0.95, 1.05, n))
        growth = np.where(in_trouble, rng.uniform(0.4, 0.65, n), growth)
        cur_users = np.clip(np.where(new, cur_users, cur_users * growth), 1, cur_seats)
        users[:, m] = np.where(live, np.round(cur_users), 0)
        seats[:, m] = np.where(live, cur_seats, 0)
        tier[:, m] = np.where(live, cur_tier, 0)
        trouble[:, m] = live & in_trouble
        if churn and m < months - 1:
            if signal:
                # a period-end customer in trouble has had a whole term to decide
                p_out = np.where(months_in_trouble >= 3, np.where(term > 1, 0.85, 0.5), 0.005)
            else:
                p_out = np.full(n, 0.035)
            # without signal a customer may leave in any month: leaving only at a term end
            # would let renewal timing (days to renewal, billing period) foresee churn
            at_renewal = (m + 1 - start + phase) % term == 0 if signal else np.ones(n, dtype=bool)
            leave = live & at_renewal & (rng.random(n) < p_out)
            last = np.where(leave, m, last)
            churned |= leave
            alive &= ~leave
    return Lifecycles(
        start, last, churned, users, seats, tier, trouble, expanded, grower, term, phase
    )


def truth(life: Lifecycles, months: int = MONTHS) -> dict:
    """90-day churn and expansion rates per month start among the accounts active at it."""
    starts = month_starts(months)
    out: dict = {"churn_rate_90d": {}, "upsell_rate_90d": {}}
    end_instant = np.where(life.churned, life.last + 1, 10_000)  # month index the account left
    for m in range(1, months - 2):
        at = starts[m]
        horizon = at + pd.Timedelta(days=HORIZON_DAYS)
        ahead = [k for k in range(m, months + 1) if starts[k] <= horizon]
        active = (life.start < m) & (life.last >= m)
        if not active.any():
            continue
        gone = active & np.isin(end_instant, ahead)
        grew = active & life.expanded[:, [k for k in ahead if m <= k < months]].any(axis=1)
        out["churn_rate_90d"][str(at.date())] = round(float(gone.sum() / active.sum()), 4)
        out["upsell_rate_90d"][str(at.date())] = round(float(grew.sum() / active.sum()), 4)
    return out


def usage_rows(
    rng: np.random.Generator, life: Lifecycles, per_user: float, months: int = MONTHS
) -> pd.DataFrame:
    """One row per event: account index, month, user number, timestamp and kind."""
    starts = month_starts(months)
    acc, mon = np.nonzero(life.users)
    counts = rng.poisson(life.users[acc, mon] * per_user)
    acc, mon = np.repeat(acc, counts), np.repeat(mon, counts)
    user = (rng.random(len(acc)) * life.users[acc, mon]).astype(int)
    days = (starts[mon + 1] - starts[mon]).days.to_numpy()
    offset = (rng.random(len(acc)) * days * 86_400).astype("int64")
    at = starts[mon].to_numpy() + offset.astype("timedelta64[s]")
    p_adv = np.where(life.grower[acc], 0.3, 0.08)
    base = rng.integers(0, len(EVENT_KINDS) - len(ADVANCED), len(acc))
    adv = len(EVENT_KINDS) - len(ADVANCED) + rng.integers(0, len(ADVANCED), len(acc))
    kind = np.where(rng.random(len(acc)) < p_adv, adv, base)
    return pd.DataFrame({"acc": acc, "month": mon, "user": user, "at": at, "kind": kind})


def ticket_rows(rng: np.random.Generator, life: Lifecycles, months: int = MONTHS) -> pd.DataFrame:
    """Tickets: more, slower and more often unresolved while an account is in trouble."""
    starts = month_starts(months)
    end = starts[-1]
    acc, mon = np.nonzero(life.users)
    hot = life.trouble[acc, mon]
    counts = rng.poisson(np.where(hot, 1.4, 0.25))
    acc, mon, hot = np.repeat(acc, counts), np.repeat(mon, counts), np.repeat(hot, counts)
    days = (starts[mon + 1] - starts[mon]).days.to_numpy()
    opened = starts[mon].to_numpy() + (rng.random(len(acc)) * days * 86_400).astype(
        "timedelta64[s]"
    )
    wait = rng.exponential(np.where(hot, 9.0, 2.0)) * 86_400
    closed = pd.Series(opened + wait.astype("timedelta64[s]"))
    unresolved = rng.random(len(acc)) < np.where(hot, 0.45, 0.05)
    closed = closed.where(~unresolved & (closed < end))
    first = pd.Series(opened + (rng.exponential(0.3, len(acc)) * 86_400).astype("timedelta64[s]"))
    priority = np.where(
        rng.random(len(acc)) < np.where(hot, 0.5, 0.15),
        rng.choice(["high", "urgent"], len(acc)),
        rng.choice(["low", "normal"], len(acc)),
    )
    topic = rng.choice(["defect", "how_to", "billing", "outage"], len(acc), p=[0.3, 0.4, 0.2, 0.1])
    return pd.DataFrame(
        {
            "acc": acc,
            "month": mon,
            "opened": opened,
            "closed": closed.to_numpy(),
            "first_reply": first.where(first < closed.fillna(end)).to_numpy(),
            "priority": priority,
            "topic": topic,
        }
    )


def _write_truth(folder: Path, life: Lifecycles, layout: str, signal: bool) -> None:
    payload = {"layout": layout, "signal": signal, **truth(life)}
    (folder / "truth.json").write_text(json.dumps(payload, indent=1), encoding="utf-8")


def _common(experiment: str, reactivation_gap_days: int = 30) -> dict:
    """Settings every layout shares: small snapshot grid, local DuckDB sink, MLflow on SQLite."""
    return {
        "warehouse": {"path": "churnml.duckdb"},
        "snapshots": {"frequency": "monthly", "count": SNAPSHOTS},
        "labels": {
            "churn_horizon_days": HORIZON_DAYS,
            "upsell_horizon_days": HORIZON_DAYS,
            "reactivation_gap_days": reactivation_gap_days,
        },
        "mlflow": {
            "tracking_uri": "sqlite:///mlruns/mlflow.db",
            "artifact_root": "mlruns/artifacts",
            "experiment": experiment,
        },
        "output": {
            "sinks": [{"kind": "duckdb", "table": "scored_accounts"}],
            "report_dir": "reports",
        },
    }


def _day(stamps) -> pd.Series:
    return pd.Series(pd.to_datetime(stamps)).dt.strftime("%Y-%m-%d")


PRICE = np.array([18.0, 32.0, 55.0])  # per seat and month, by tier


# --- (a) ---------------------------------------------------------------------------------------
def write_telemetry_export(folder: Path, seed: int = 11, accounts: int = 300) -> dict:
    """(a) A product-telemetry export: no tickets, no NPS.

    ``customers.csv`` has only a customer number, a size code and a country (no name, no
    creation date). ``billing_lines.csv`` has one row per customer and month, without an id,
    valid from the 1st to the last day of the month inclusive, so consecutive months leave a
    one-day gap. ``telemetry.parquet`` stores event kinds as numbers, named in
    ``event_kinds.csv``. Signal: usage decline before churn; active users near the licence
    count before expansion.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    life = simulate(rng, accounts)
    ids = np.array([f"K{70000 + i}" for i in range(accounts)])
    signed = life.seats[np.arange(accounts), life.start]  # size at signup, not after expanding
    size = np.select([signed >= 15, signed >= 6], ["L", "M"], "S")
    pd.DataFrame(
        {"cust_no": ids, "size_code": size, "country": rng.choice(["DE", "FR", "NL"], accounts)}
    ).to_csv(folder / "customers.csv", index=False)

    starts = month_starts()
    acc, mon = np.nonzero(life.active)
    products = np.array(["core", "plus", "max"])
    tier = life.tier[acc, mon]
    pd.DataFrame(
        {
            "cust_no": ids[acc],
            "product": products[tier],
            "valid_from": _day(starts[mon]),
            "valid_to": _day(starts[mon + 1] - pd.Timedelta(days=1)),
            "fee": (life.seats[acc, mon] * PRICE[tier]).round(2),
            "licences": life.seats[acc, mon],
        }
    ).to_csv(folder / "billing_lines.csv", index=False)

    kind_ids = np.array([101, 102, 205, 310, 417])
    pd.DataFrame({"kind_id": kind_ids, "kind_label": list(EVENT_KINDS)}).to_csv(
        folder / "event_kinds.csv", index=False
    )
    ev = usage_rows(rng, life, per_user=4.0)
    pd.DataFrame(
        {
            "cust_no": ids[ev.acc],
            "ts": pd.to_datetime(ev["at"]).astype("datetime64[us]"),
            "kind_id": kind_ids[ev.kind].astype("int32"),
            "user_ref": [f"{c}.{u}" for c, u in zip(ids[ev.acc], ev.user, strict=True)],
        }
    ).to_parquet(folder / "telemetry.parquet", index=False)
    _write_truth(folder, life, "telemetry_export", True)

    return telemetry_export_config()


def telemetry_export_config() -> dict:
    """The churnml config of the layout written by write_telemetry_export."""
    config = _common("layout-telemetry-export", reactivation_gap_days=7)
    config["sources"] = {
        "accounts": {
            "source": {"kind": "file", "path": "customers.csv"},
            "columns": {"account_id": "cust_no"},
            "derive": {
                "segment": {
                    "from": "size_code",
                    "map": {"S": "SMB", "M": "Mid-Market", "L": "Enterprise"},
                }
            },
        },
        "subscriptions": {
            "source": {"kind": "file", "path": "billing_lines.csv"},
            "columns": {
                "account_id": "cust_no",
                "start_at": "valid_from",
                "end_at": "valid_to",
                "mrr": "fee",
                "plan": "product",
                "seats": "licences",
            },
            "derive": {
                "subscription_id": {"concat": ["cust_no", "product", "valid_from"]},
                "billing_period": {"constant": "monthly"},
            },
        },
        "usage_events": {
            "source": {"kind": "file", "path": "telemetry.parquet"},
            "columns": {"account_id": "cust_no", "occurred_at": "ts", "user_id": "user_ref"},
            "derive": {
                "event_type": {
                    "from": "kind_id",
                    "lookup": {
                        "source": {"kind": "file", "path": "event_kinds.csv"},
                        "key": "kind_id",
                        "value": "kind_label",
                    },
                }
            },
        },
    }
    config["features"] = {"account_attributes_categorical": ["segment"]}
    config["labels"]["plan_order"] = ["core", "plus", "max"]
    return config


# --- (b) ---------------------------------------------------------------------------------------
BASE_SKUS = ("team", "business", "corporate")
ADDON_SKUS = ("addon_storage", "addon_sso", "addon_audit")


def _agreement_lines(rng: np.random.Generator, life: Lifecycles, ids: np.ndarray) -> pd.DataFrame:
    """Base-plan rows that change only on expansion, plus small add-on rows bought now and then."""
    starts = month_starts()
    rows = []
    for i in range(len(ids)):
        first, last = life.start[i], life.last[i]
        end = starts[last + 1] if life.churned[i] else pd.NaT
        cuts = [first, *[m for m in range(first + 1, last + 1) if life.expanded[i, m]]]
        for k, m in enumerate(cuts):
            stop = starts[cuts[k + 1]] if k + 1 < len(cuts) else end
            seats, tier = life.seats[i, m], life.tier[i, m]
            begin = life.term_start(i) if k == 0 else starts[m]
            rows.append(
                (ids[i], BASE_SKUS[tier], seats, life.term[i], seats * PRICE[tier], begin, stop)
            )
        base_mrr = life.seats[i, first] * PRICE[life.tier[i, first]]
        for m in range(first + 1, last + 1):
            if rng.random() < 0.03:
                stop_m = m + int(rng.integers(2, 8))
                stop = starts[stop_m] if stop_m <= last else end
                price = round(float(base_mrr * rng.uniform(0.06, 0.15)), 2)
                sku = ADDON_SKUS[int(rng.integers(0, len(ADDON_SKUS)))]
                rows.append((ids[i], sku, int(rng.integers(1, 4)), 1, price, starts[m], stop))
    lines = pd.DataFrame(
        rows,
        columns=[
            "client_code",
            "sku",
            "units",
            "term_months",
            "price_monthly",
            "effective",
            "terminated",
        ],
    )
    lines.insert(0, "line_no", np.arange(1, len(lines) + 1) * 7 + 50_000)
    for col in ("effective", "terminated"):
        lines[col] = pd.to_datetime(lines[col]).astype("datetime64[us]")
    return lines


def _survey_rows(rng: np.random.Generator, life: Lifecycles, ids: np.ndarray) -> pd.DataFrame:
    """Quarterly survey waves, 45% answering; accounts in trouble rate low."""
    starts = month_starts()
    acc, mon = np.nonzero(life.active & (np.arange(MONTHS) % 3 == 1)[None, :])
    keep = rng.random(len(acc)) < 0.45
    acc, mon = acc[keep], mon[keep]
    hot = life.trouble[acc, mon]
    rating = np.where(hot, rng.integers(1, 7, len(acc)), rng.integers(6, 11, len(acc)))
    survey = pd.DataFrame(
        {
            "client_code": ids[acc],
            "answered_at": (
                starts[mon].to_numpy()
                + (rng.random(len(acc)) * 20 * 86_400).astype("timedelta64[s]")
            ).astype("datetime64[us]"),
            "rating": rating.astype("int32"),
        }
    )
    return survey


def write_erp_addons(folder: Path, seed: int = 23, accounts: int = 320) -> dict:
    """(b) An ERP-style DuckDB file: base plans plus add-ons, billed every 1, 6 or 12 months.

    ``agreement_line`` holds base-plan rows (``team`` < ``business`` < ``corporate``, ``units``
    = licensed users) and add-on rows (``units`` = packs), ``term_months`` 1, 6 or 12; an
    account can only leave at the end of its billing period. Signal: usage decline, open
    tickets and low survey ratings before churn; heavy use of advanced features and users at
    the licence limit before a base-plan expansion.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    life = simulate(rng, accounts, terms=(1, 6, 12))
    ids = np.array([f"CL-{i:04d}" for i in range(accounts)])
    created = life.term_starts().to_numpy() - (rng.integers(1, 60, accounts) * 86_400).astype(
        "timedelta64[s]"
    )
    client = pd.DataFrame(
        {
            "client_code": ids,
            "company": [f"Firma {i}" for i in range(accounts)],
            "onboarded": pd.to_datetime(created).astype("datetime64[us]"),
            "vertical": rng.choice(["retail", "logistics", "health", "finance"], accounts),
            "csm": rng.choice(["a.kato", "b.meyer", None], accounts),
        }
    )
    lines = _agreement_lines(rng, life, ids)
    ev = usage_rows(rng, life, per_user=3.5)
    activity = pd.DataFrame(
        {
            "client_code": ids[ev.acc],
            "happened_at": pd.to_datetime(ev["at"]).astype("datetime64[us]"),
            "action": np.array(EVENT_KINDS)[ev.kind],
            "member": [f"m{u}" for u in ev.user],
            "duration_min": rng.gamma(2.0, 6.0, len(ev)).round(1),
        }
    )
    tk = ticket_rows(rng, life)
    cases = pd.DataFrame(
        {
            "case_ref": [f"HD{100000 + k}" for k in range(len(tk))],
            "client_code": ids[tk.acc],
            "logged_at": pd.to_datetime(tk.opened).astype("datetime64[us]"),
            "solved_at": pd.to_datetime(tk.closed).astype("datetime64[us]"),
            "answered_at": pd.to_datetime(tk.first_reply).astype("datetime64[us]"),
            "topic": tk.topic,
            "severity": tk.priority,
        }
    )
    survey = _survey_rows(rng, life, ids)
    path = folder / "erp.duckdb"
    path.unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    try:
        for name, frame in (
            ("client", client),
            ("agreement_line", lines),
            ("app_activity", activity),
            ("helpdesk_case", cases),
            ("survey", survey),
        ):
            con.register("frame", frame)
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM frame")
            con.unregister("frame")
    finally:
        con.close()
    _write_truth(folder, life, "erp_addons", True)
    return erp_addons_config()


def erp_addons_config() -> dict:
    """The churnml config of the layout written by write_erp_addons."""

    def table(name: str) -> dict:
        return {"kind": "duckdb", "database": "erp.duckdb", "table": name}

    config = _common("layout-erp-addons")
    config["sources"] = {
        "accounts": {
            "source": table("client"),
            "columns": {
                "account_id": "client_code",
                "name": "company",
                "created_at": "onboarded",
                "industry": "vertical",
                "csm_owner": "csm",
            },
        },
        "subscriptions": {
            "source": table("agreement_line"),
            # `units` stays unmapped: it counts users on base rows but packs on add-on rows,
            # so summing it as seats would turn every add-on into a seat expansion.
            "columns": {
                "subscription_id": "line_no",
                "account_id": "client_code",
                "plan": "sku",
                "mrr": "price_monthly",
                "start_at": "effective",
                "end_at": "terminated",
                "billing_period": "term_months",
            },
        },
        "usage_events": {
            "source": table("app_activity"),
            "columns": {
                "account_id": "client_code",
                "occurred_at": "happened_at",
                "event_type": "action",
                "user_id": "member",
                "quantity": "duration_min",
            },
        },
        "support_tickets": {
            "source": table("helpdesk_case"),
            "columns": {
                "ticket_id": "case_ref",
                "account_id": "client_code",
                "opened_at": "logged_at",
                "closed_at": "solved_at",
                "first_response_at": "answered_at",
                "category": "topic",
                "priority": "severity",
            },
        },
        "nps_responses": {
            "source": table("survey"),
            "columns": {
                "account_id": "client_code",
                "responded_at": "answered_at",
                "score": "rating",
            },
        },
    }
    config["features"] = {"account_attributes_categorical": ["industry"]}
    # Only base plans are ranked: add-ons rank 0, so they never raise the plan rank, and the
    # MRR share is set above the largest add-on (15% of the base), so buying one is no upsell
    # while a base-plan seat increase (+40% or more) or a plan step is.
    config["labels"]["plan_order"] = list(BASE_SKUS)
    config["labels"]["upsell_min_mrr_share"] = 0.3
    # A client may hold two packs of the same add-on at once: parallel rows on one SKU are real
    # here, so they are summed (check-data refuses them by default as a likely duplicate export).
    config["validation"] = {"same_plan_overlap": "sum"}
    return config


# --- (c) and (c0) ------------------------------------------------------------------------------
def _plan_rows(life: Lifecycles, ids: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """Subscription rows that change on expansion, and the row id live in each account-month."""
    starts = month_starts()
    row_of = np.full(life.users.shape, -1, dtype=np.int64)
    rows = []
    for i in range(len(ids)):
        first, last = life.start[i], life.last[i]
        cuts = [first, *[m for m in range(first + 1, last + 1) if life.expanded[i, m]]]
        for k, m in enumerate(cuts):
            stop_m = cuts[k + 1] if k + 1 < len(cuts) else (last + 1 if life.churned[i] else None)
            row_of[i, m : (stop_m if stop_m is not None else MONTHS)] = len(rows)
            tier = life.tier[i, m]
            rows.append(
                (
                    ids[i],
                    life.term_start(i) if k == 0 else starts[m],
                    starts[stop_m] if stop_m is not None else pd.NaT,
                    float(life.seats[i, m] * PRICE[tier]),
                    int(life.seats[i, m]),
                    ("free_plus", "growth", "scale")[tier],
                    "annual" if life.term[i] == 12 else "monthly",
                )
            )
    plans = pd.DataFrame(
        rows,
        columns=["org_uuid", "begins", "ends", "monthly_fee", "seat_count", "plan_code", "cycle"],
    )
    plans.insert(0, "plan_instance_id", [f"pi_{k:06x}" for k in range(len(plans))])
    for col in ("begins", "ends"):
        plans[col] = pd.to_datetime(plans[col]).astype("datetime64[us]")
    return plans, row_of


def write_product_led(
    folder: Path, seed: int = 37, accounts: int = 300, signal: bool = True
) -> dict:
    """(c) A product-led export: usage keyed by plan instance, churn as a cancellations table.

    ``product_events.parquet`` carries the subscription's ``plan_instance_id``, not the org;
    ``requests.csv`` (tickets) has its own column names and no category; ``cancellations.csv``
    records each cancellation with a reason and is the churn outcome. With ``signal=False``
    (layout c0) churn and expansion are drawn at a constant rate, independent of usage,
    tickets, plan and tenure: a model can do no better than chance.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    life = simulate(rng, accounts, signal=signal, terms=(1, 1, 12))
    ids = np.array([f"{u:08x}-org" for u in rng.choice(16**7, accounts, replace=False)])
    starts = month_starts()
    orgs = pd.DataFrame(
        {
            "org_uuid": ids,
            "org_name": [f"Workspace {k}" for k in range(accounts)],
            "signup_date": life.term_starts().to_numpy().astype("datetime64[us]"),
        }
    )
    orgs.to_parquet(folder / "orgs.parquet", index=False)
    plans, row_of = _plan_rows(life, ids)
    plans.to_parquet(folder / "plans.parquet", index=False)

    ev = usage_rows(rng, life, per_user=4.0)
    pd.DataFrame(
        {
            "plan_instance_id": plans.plan_instance_id.to_numpy()[row_of[ev.acc, ev.month]],
            "event_time": pd.to_datetime(ev["at"]).astype("datetime64[us]"),
            "event_name": np.array(EVENT_KINDS)[ev.kind],
            "actor": [f"usr{a}x{u}" for a, u in zip(ev.acc, ev.user, strict=True)],
        }
    ).to_parquet(folder / "product_events.parquet", index=False)

    tk = ticket_rows(rng, life)
    if not signal:  # tickets drawn for every account alike
        tk = ticket_rows(rng, _without_trouble(life))
    pd.DataFrame(
        {
            "request_no": np.arange(len(tk)) + 9001,
            "org": ids[tk.acc],
            "raised_at": _iso(tk.opened),
            "resolved_at": _iso(tk.closed),
            "first_reply_at": _iso(tk.first_reply),
            "urgency": tk.priority,
        }
    ).to_csv(folder / "requests.csv", index=False)

    gone = np.flatnonzero(life.churned)
    pd.DataFrame(
        {
            "org_uuid": ids[gone],
            "cancelled_on": _day(starts[life.last[gone] + 1]),
            "why": rng.choice(
                ["price", "switched vendor", "no longer needed", "budget"], len(gone)
            ),
        }
    ).to_csv(folder / "cancellations.csv", index=False)
    _write_truth(folder, life, "product_led" if signal else "no_signal", signal)
    return product_led_config(signal)


def product_led_config(signal: bool = True) -> dict:
    """The churnml config of the layout written by write_product_led (c) or write_no_signal (c0)."""
    config = _common("layout-product-led" if signal else "layout-no-signal")
    config["sources"] = {
        "accounts": {
            "source": {"kind": "file", "path": "orgs.parquet"},
            "columns": {"account_id": "org_uuid", "name": "org_name", "created_at": "signup_date"},
        },
        "subscriptions": {
            "source": {"kind": "file", "path": "plans.parquet"},
            "columns": {
                "subscription_id": "plan_instance_id",
                "account_id": "org_uuid",
                "start_at": "begins",
                "end_at": "ends",
                "mrr": "monthly_fee",
                "seats": "seat_count",
                "plan": "plan_code",
                "billing_period": "cycle",
            },
        },
        "usage_events": {
            "source": {"kind": "file", "path": "product_events.parquet"},
            "columns": {
                "occurred_at": "event_time",
                "event_type": "event_name",
                "user_id": "actor",
            },
            "account_key": {
                "column": "plan_instance_id",
                "via": "subscriptions",
                "lookup_key": "subscription_id",
                "lookup_account_id": "account_id",
            },
        },
        "support_tickets": {
            "source": {"kind": "file", "path": "requests.csv"},
            "columns": {
                "ticket_id": "request_no",
                "account_id": "org",
                "opened_at": "raised_at",
                "closed_at": "resolved_at",
                "first_response_at": "first_reply_at",
                "priority": "urgency",
            },
        },
        "churn_events": {
            "source": {"kind": "file", "path": "cancellations.csv"},
            "columns": {"account_id": "org_uuid", "churned_at": "cancelled_on", "reason": "why"},
        },
    }
    config["labels"]["churn_source"] = "churn_events"
    config["labels"]["plan_order"] = ["free_plus", "growth", "scale"]
    return config


def write_no_signal(folder: Path, seed: int = 41, accounts: int = 300) -> dict:
    """(c0) Layout (c) with outcomes independent of everything: backtest AUC should be ~0.5."""
    return write_product_led(folder, seed=seed, accounts=accounts, signal=False)


def _without_trouble(life: Lifecycles) -> Lifecycles:
    from dataclasses import replace

    return replace(life, trouble=np.zeros_like(life.trouble))


def _iso(stamps) -> pd.Series:
    s = pd.Series(pd.to_datetime(stamps))
    return s.dt.strftime("%Y-%m-%dT%H:%M:%SZ").where(s.notna(), "")


# --- (d) ---------------------------------------------------------------------------------------
def write_churn_only(folder: Path, seed: int = 53, accounts: int = 260) -> dict:
    """(d1) A CRM export where accounts never expand; churn is an account status with a date.

    ``companies.csv`` carries ``state`` (active / churned) and ``closed_on``; each company has
    one licence row, ended on the closing date. No NPS. Signal: usage decline and unresolved
    tickets before churn. The upsell target has no positive and must be skipped.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    life = simulate(rng, accounts, expansion=False)
    ids = np.array([f"co{i + 1:04d}" for i in range(accounts)])
    starts = month_starts()
    closed = pd.Series(starts[life.last + 1]).where(life.churned)
    pd.DataFrame(
        {
            "company_id": ids,
            "company": [f"Company {i + 1}" for i in range(accounts)],
            "since": _day(starts[life.start]),
            "state": np.where(life.churned, "churned", "active"),
            "closed_on": _day(closed).where(closed.notna(), ""),
        }
    ).to_csv(folder / "companies.csv", index=False)
    first = np.arange(accounts), life.start
    tier = life.tier[first]
    pd.DataFrame(
        {
            "licence_id": [f"L{i:05d}" for i in range(accounts)],
            "company_id": ids,
            "from_date": _day(starts[life.start]),
            "to_date": _day(closed).where(closed.notna(), ""),
            "amount": (life.seats[first] * PRICE[tier]).round(2),
            "seats": life.seats[first],
            "edition": np.array(["standard", "pro", "premium"])[tier],
            "billing": np.where(rng.random(accounts) < 0.3, "annual", "monthly"),
        }
    ).to_csv(folder / "licences.csv", index=False)
    ev = usage_rows(rng, life, per_user=3.0)
    pd.DataFrame(
        {
            "company_id": ids[ev.acc],
            "at": _iso(ev["at"]),
            "what": np.array(EVENT_KINDS)[ev.kind],
            "who": [f"{ids[a]}/{u}" for a, u in zip(ev.acc, ev.user, strict=True)],
        }
    ).to_csv(folder / "activity.csv", index=False)
    tk = ticket_rows(rng, life)
    pd.DataFrame(
        {
            "ticket": [f"T-{k}" for k in range(len(tk))],
            "company_id": ids[tk.acc],
            "opened": _iso(tk.opened),
            "closed": _iso(tk.closed),
            "kind": tk.topic,
            "prio": tk.priority,
        }
    ).to_csv(folder / "tickets.csv", index=False)
    _write_truth(folder, life, "churn_only", True)

    return churn_only_config()


def churn_only_config() -> dict:
    """The churnml config of the layout written by write_churn_only."""
    config = _common("layout-churn-only")
    config["sources"] = {
        "accounts": {
            "source": {"kind": "file", "path": "companies.csv"},
            "columns": {
                "account_id": "company_id",
                "name": "company",
                "created_at": "since",
                "status": "state",
                "churned_at": "closed_on",
            },
        },
        "subscriptions": {
            "source": {"kind": "file", "path": "licences.csv"},
            "columns": {
                "subscription_id": "licence_id",
                "account_id": "company_id",
                "start_at": "from_date",
                "end_at": "to_date",
                "mrr": "amount",
                "plan": "edition",
                "billing_period": "billing",
            },
        },
        "usage_events": {
            "source": {"kind": "file", "path": "activity.csv"},
            "columns": {
                "account_id": "company_id",
                "occurred_at": "at",
                "event_type": "what",
                "user_id": "who",
            },
        },
        "support_tickets": {
            "source": {"kind": "file", "path": "tickets.csv"},
            "columns": {
                "ticket_id": "ticket",
                "account_id": "company_id",
                "opened_at": "opened",
                "closed_at": "closed",
                "category": "kind",
                "priority": "prio",
            },
        },
    }
    config["labels"]["churn_source"] = "account_status"
    config["labels"]["churned_statuses"] = ["churned"]
    config["labels"]["plan_order"] = ["standard", "pro", "premium"]
    return config


def write_upsell_only(folder: Path, seed: int = 67, accounts: int = 280) -> dict:
    """(d2) A billing-system export where no account ever leaves; expansions are their own table.

    ``tenants.parquet`` and one ``orders.parquet`` row per tenant as signed (never ended, never
    changed); ``upgrades.parquet`` lists each expansion with the MRR it added. No tickets, no
    NPS. Signal: users at the seat limit and heavy advanced use before an upgrade. The churn
    target has no positive and must be skipped.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    life = simulate(rng, accounts, churn=False)
    ids = np.array([f"tn-{i:03d}" for i in range(accounts)])
    starts = month_starts()
    pd.DataFrame(
        {
            "tenant_key": ids,
            "label": [f"Tenant {i}" for i in range(accounts)],
            "opened_at": starts[life.start].to_numpy().astype("datetime64[us]"),
        }
    ).to_parquet(folder / "tenants.parquet", index=False)
    first = np.arange(accounts), life.start
    tier = life.tier[first]
    pd.DataFrame(
        {
            "order_ref": np.arange(accounts) + 4_000_000,
            "tenant_key": ids,
            "signed_at": starts[life.start].to_numpy().astype("datetime64[us]"),
            "mrr_signed": life.seats[first] * PRICE[tier],
            "seats_signed": life.seats[first],
            "product": np.array(["lite", "pro", "max"])[tier],
        }
    ).to_parquet(folder / "orders.parquet", index=False)
    acc, mon = np.nonzero(life.expanded)
    before = life.seats[acc, mon - 1] * PRICE[life.tier[acc, mon - 1]]
    after = life.seats[acc, mon] * PRICE[life.tier[acc, mon]]
    day = rng.integers(0, 5, len(acc)).astype("timedelta64[D]")
    pd.DataFrame(
        {
            "tenant_key": ids[acc],
            "upgraded_on": (starts[mon].to_numpy() + day).astype("datetime64[us]"),
            "mrr_delta": (after - before).round(2),
        }
    ).to_parquet(folder / "upgrades.parquet", index=False)
    ev = usage_rows(rng, life, per_user=4.0)
    pd.DataFrame(
        {
            "tenant_key": ids[ev.acc],
            "logged": pd.to_datetime(ev["at"]).astype("datetime64[us]"),
            "feature": np.array(EVENT_KINDS)[ev.kind],
            "user_email": [f"u{u}@{ids[a]}.example" for a, u in zip(ev.acc, ev.user, strict=True)],
        }
    ).to_parquet(folder / "feature_usage.parquet", index=False)
    _write_truth(folder, life, "upsell_only", True)

    return upsell_only_config()


def upsell_only_config() -> dict:
    """The churnml config of the layout written by write_upsell_only."""
    config = _common("layout-upsell-only")
    config["sources"] = {
        "accounts": {
            "source": {"kind": "file", "path": "tenants.parquet"},
            "columns": {"account_id": "tenant_key", "name": "label", "created_at": "opened_at"},
        },
        "subscriptions": {
            "source": {"kind": "file", "path": "orders.parquet"},
            "columns": {
                "subscription_id": "order_ref",
                "account_id": "tenant_key",
                "start_at": "signed_at",
                "mrr": "mrr_signed",
                "seats": "seats_signed",
                "plan": "product",
            },
        },
        "usage_events": {
            "source": {"kind": "file", "path": "feature_usage.parquet"},
            "columns": {
                "account_id": "tenant_key",
                "occurred_at": "logged",
                "event_type": "feature",
                "user_id": "user_email",
            },
        },
        "expansion_events": {
            "source": {"kind": "file", "path": "upgrades.parquet"},
            "columns": {
                "account_id": "tenant_key",
                "occurred_at": "upgraded_on",
                "amount": "mrr_delta",
            },
        },
    }
    config["labels"]["upsell_source"] = "expansion_events"
    config["labels"]["plan_order"] = ["lite", "pro", "max"]
    return config


# --- (f) ---------------------------------------------------------------------------------------
def write_status_only(folder: Path, seed: int = 79, accounts: int = 240) -> dict:
    """(f) A CRM export and a product log, nothing else: no subscriptions, no tickets, no NPS.

    ``clients.csv`` carries when each client signed (``signed_on``), a lifecycle (``live`` /
    ``lost``) with the day it was lost, and today's monthly value (blank for a few clients; a
    lost client keeps its last value). ``events.parquet`` is the product log. Churn comes from
    the lifecycle; nothing records an expansion, so the upsell target must be skipped, and the
    contract features cannot exist. Signal: usage decline before churn.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    life = simulate(rng, accounts)
    ids = np.array([f"C{i:05d}" for i in range(accounts)])
    starts = month_starts()
    signed = starts[life.start].to_numpy() - (rng.integers(1, 20, accounts) * 86_400).astype(
        "timedelta64[s]"
    )
    lost = pd.Series(starts[life.last + 1]).where(life.churned)
    last = np.arange(accounts), life.last
    value = pd.Series((life.seats[last] * PRICE[life.tier[last]]).round(2))
    pd.DataFrame(
        {
            "client_ref": ids,
            "signed_on": _day(signed),
            "lifecycle": np.where(life.churned, "lost", "live"),
            "lost_on": _day(lost).where(lost.notna(), ""),
            "monthly_value": value.astype(str).where(rng.random(accounts) >= 0.05, ""),
        }
    ).to_csv(folder / "clients.csv", index=False)
    ev = usage_rows(rng, life, per_user=4.0)
    pd.DataFrame(
        {
            "client_ref": ids[ev.acc],
            "at": pd.to_datetime(ev["at"]).astype("datetime64[us]"),
            "event": np.array(EVENT_KINDS)[ev.kind],
            "user": [f"{ids[a]}-{u}" for a, u in zip(ev.acc, ev.user, strict=True)],
        }
    ).to_parquet(folder / "events.parquet", index=False)
    _write_truth(folder, life, "status_only", True)
    return status_only_config()


def status_only_config() -> dict:
    """The churnml config of the layout written by write_status_only."""
    config = _common("layout-status-only")
    config["sources"] = {
        "accounts": {
            "source": {"kind": "file", "path": "clients.csv"},
            "columns": {
                "account_id": "client_ref",
                "created_at": "signed_on",
                "status": "lifecycle",
                "churned_at": "lost_on",
                "mrr": "monthly_value",
            },
        },
        "usage_events": {
            "source": {"kind": "file", "path": "events.parquet"},
            "columns": {
                "account_id": "client_ref",
                "occurred_at": "at",
                "event_type": "event",
                "user_id": "user",
            },
        },
    }
    config["labels"]["churn_source"] = "account_status"
    config["labels"]["churned_statuses"] = ["lost"]
    return config


LAYOUTS = {
    "telemetry_export": write_telemetry_export,
    "erp_addons": write_erp_addons,
    "product_led": write_product_led,
    "no_signal": write_no_signal,
    "churn_only": write_churn_only,
    "upsell_only": write_upsell_only,
    "status_only": write_status_only,
}
SKIPPED_TARGET = {"churn_only": "upsell", "upsell_only": "churn", "status_only": "upsell"}


def write_config(folder: Path, config: dict) -> Path:
    path = Path(folder) / "churnml.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def write_layout(name: str, folder: Path, seed: int | None = None) -> Path:
    """Generate one layout into ``folder`` and return the path of its churnml.yaml.

    ``seed`` draws another sample of the same layout (default: the writer's own seed)."""
    seeded = {} if seed is None else {"seed": seed}
    return write_config(folder, LAYOUTS[name](Path(folder), **seeded))


def default_seed(name: str) -> int:
    """The seed a layout's writer uses unless told otherwise."""
    import inspect

    return int(inspect.signature(LAYOUTS[name]).parameters["seed"].default)


# --- exports shaped like real systems' (billing platform, CRM, a degenerate one) ---------------
def _epoch(stamps) -> pd.Series:
    """Unix seconds as integers (empty where the stamp is missing), as billing APIs export."""
    s = pd.Series(pd.to_datetime(stamps))
    seconds = (s - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1)
    return seconds.astype("Int64")


def _token(rng: np.random.Generator, prefix: str, n: int, length: int = 14) -> np.ndarray:
    alphabet = np.array(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"))
    draws = rng.integers(0, len(alphabet), (n, length))
    return np.array([prefix + "".join(alphabet[row]) for row in draws])


STRIPE_PLANS = ("Starter", "Growth", "Scale")
SEGMENT_EVENTS = (
    "Logged In",
    "Dashboard Viewed",
    "Report Created",
    "Data Exported",
    "Automation Run",
)


def _stripe_subscriptions(
    rng: np.random.Generator, life: Lifecycles, ids: np.ndarray
) -> pd.DataFrame:
    """One row per subscription as a billing platform keeps them: a plan or seat change cancels
    the subscription and starts a new one. Prices in cents per seat and billing interval."""
    starts = month_starts()
    data_end = starts[-1]
    rows = []
    for i in range(len(ids)):
        first, last = life.start[i], life.last[i]
        end = starts[last + 1] if life.churned[i] else pd.NaT
        cuts = [first, *[m for m in range(first + 1, last + 1) if life.expanded[i, m]]]
        yearly = life.term[i] == 12
        for k, m in enumerate(cuts):
            begin = life.term_start(i) if k == 0 else starts[m]
            stop = starts[cuts[k + 1]] if k + 1 < len(cuts) else end
            tier = life.tier[i, m]
            cents = int(PRICE[tier] * 100) * (12 if yearly else 1)
            step = pd.DateOffset(months=12 if yearly else 1)
            period_start = begin
            until = stop if pd.notna(stop) else data_end
            while period_start + step <= until and (pd.isna(stop) or period_start + step < stop):
                period_start = period_start + step
            if pd.isna(stop):
                trouble = life.trouble[i, MONTHS - 1]
                status = "past_due" if trouble and rng.random() < 0.5 else "active"
                # the status as of today, whatever it says (a late signup still on its trial)
                late = first >= MONTHS - 8 and k == 0 and rng.random() < 0.3
                status = "trialing" if late else status
            else:
                status = "canceled"
            rows.append(
                {
                    "customer": ids[i],
                    "status": status,
                    "start_date": begin,
                    "canceled_at": stop - pd.Timedelta(days=int(rng.integers(0, 20)))
                    if pd.notna(stop)
                    else pd.NaT,
                    "ended_at": stop,
                    "current_period_start": period_start,
                    "current_period_end": period_start + step,
                    "plan.id": f"price_{STRIPE_PLANS[tier].lower()}_{'year' if yearly else 'month'}",
                    "plan.nickname": STRIPE_PLANS[tier],
                    "plan.interval": "year" if yearly else "month",
                    "plan.amount": cents,
                    "plan.currency": "usd",
                    "quantity": int(life.seats[i, m]),
                }
            )
    subs = pd.DataFrame(rows)
    subs.insert(0, "id", _token(rng, "sub_", len(subs)))
    subs.insert(3, "created", _epoch(subs.start_date - pd.Timedelta(hours=2)))
    for col in (
        "start_date",
        "canceled_at",
        "ended_at",
        "current_period_start",
        "current_period_end",
    ):
        subs[col] = _epoch(subs[col])
    return subs


def _segment_tracks(rng: np.random.Generator, life: Lifecycles, ids: np.ndarray) -> list[str]:
    """Segment-style track calls, one JSON object a line, stamped in the sender's local time."""
    ev = usage_rows(rng, life, per_user=1.0)
    local = pd.to_datetime(ev["at"]) + pd.Timedelta(hours=2)
    stamps = local.dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3] + "+02:00"
    lines = []
    for k, (acc, user, kind, stamp) in enumerate(
        zip(ev.acc, ev.user, ev.kind, stamps, strict=True)
    ):
        call = {
            "type": "track",
            "messageId": f"ajs-{k:08x}",
            "event": SEGMENT_EVENTS[kind],
            "userId": f"usr_{acc:04d}_{user:02d}",
            "groupId": ids[acc],
            "timestamp": stamp,
            "properties": {"plan": "n/a"} if kind == 0 else {},
        }
        lines.append(json.dumps(call))
    return lines


def _zendesk_tickets(
    rng: np.random.Generator, life: Lifecycles, org_ids: np.ndarray
) -> pd.DataFrame:
    """A helpdesk export keyed by the helpdesk's own organisation number."""
    tk = ticket_rows(rng, life)
    solved = pd.Series(tk.closed)
    status = np.where(solved.notna(), rng.choice(["solved", "closed"], len(tk)), "open")
    status = np.where((status == "open") & (rng.random(len(tk)) < 0.3), "pending", status)
    rating = rng.choice(["offered", "unoffered", "good", "bad"], len(tk), p=[0.3, 0.3, 0.3, 0.1])
    hot = life.trouble[tk.acc, tk.month]
    rating = np.where(hot & (rating == "good") & (rng.random(len(tk)) < 0.6), "bad", rating)
    priority = np.where(rng.random(len(tk)) < 0.1, "", tk.priority)  # priority is optional
    kind = rng.choice(["question", "incident", "problem", "task", ""], len(tk))
    return pd.DataFrame(
        {
            "id": np.arange(len(tk)) + 1001,
            "organization_id": org_ids[tk.acc],
            "requester_id": 40_000_000 + tk.acc.to_numpy() * 7,
            "type": kind,
            "priority": priority,
            "status": status,
            "created_at": _iso(tk.opened),
            "solved_at": _iso(tk.closed),
            "satisfaction_rating": rating,
        }
    )


def write_billing_platform(folder: Path, seed: int = 97, accounts: int = 160) -> dict:
    """(g) A billing platform's export plus an analytics stream and a helpdesk.

    ``customers.csv`` (``cus_...`` ids, ``created`` in Unix seconds, the segment as a metadata
    column named ``segment (metadata)``), ``subscriptions.csv`` (Unix seconds, prices in cents per
    seat and interval, monthly or yearly, ``quantity`` = seats, statuses active / canceled /
    past_due / trialing), ``tracks.jsonl`` (track calls: ``userId``, ``groupId`` = the customer,
    Title Case event names, timestamps with a +02:00 offset) and the helpdesk's ``tickets.csv``
    keyed by its own ``organization_id``, named in ``organizations.csv`` (``external_id`` = the
    customer), with satisfaction as good / bad / offered / unoffered. No NPS.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    life = simulate(rng, accounts, terms=(1, 1, 12))
    ids = _token(rng, "cus_", accounts)
    signed = life.seats[np.arange(accounts), life.start]
    created = life.term_starts() - pd.to_timedelta(rng.integers(0, 20, accounts), unit="D")
    pd.DataFrame(
        {
            "id": ids,
            "name": [f"Customer {i} Ltd" for i in range(accounts)],
            "email": [f"billing@customer{i}.example" for i in range(accounts)],
            "created": _epoch(created),
            "currency": "usd",
            "delinquent": life.trouble[:, -1],
            "segment (metadata)": np.select(
                [signed >= 15, signed >= 6], ["enterprise", "mid_market"], "smb"
            ),
        }
    ).to_csv(folder / "customers.csv", index=False)
    _stripe_subscriptions(rng, life, ids).to_csv(folder / "subscriptions.csv", index=False)
    lines = _segment_tracks(rng, life, ids)
    (folder / "tracks.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    org_ids = np.arange(accounts) * 13 + 360_000_000
    pd.DataFrame(
        {"id": org_ids, "name": [f"Customer {i}" for i in range(accounts)], "external_id": ids}
    ).to_csv(folder / "organizations.csv", index=False)
    _zendesk_tickets(rng, life, org_ids).to_csv(folder / "tickets.csv", index=False)
    _write_truth(folder, life, "billing_platform", True)
    return billing_platform_config()


def _dmy(stamps) -> pd.Series:
    """Day-first dates (31/01/2025), as European CRM reports write them; empty when missing."""
    s = pd.Series(pd.to_datetime(stamps))
    return s.dt.strftime("%d/%m/%Y").where(s.notna(), "")


def _decimal_comma(values) -> list[str]:
    """Amounts with a decimal comma and a dot every thousand (1.234,50)."""
    return [f"{v:,.2f}".replace(",", " ").replace(".", ",").replace(" ", ".") for v in values]


def _salesforce_ids(rng: np.random.Generator, prefix: str, n: int) -> np.ndarray:
    """18-character record ids: a 3-character object prefix, the org part, then the record."""
    return _token(rng, f"{prefix}5g00000", n, length=18 - len(prefix) - 7)


def _opportunities(rng: np.random.Generator, life: Lifecycles, ids: np.ndarray) -> pd.DataFrame:
    """Won and lost deals: new business at signup, won expansions, lost ones, renewals."""
    starts = month_starts()
    rows = []
    for i in range(len(ids)):
        rows.append(
            (ids[i], "New Business", "Closed Won", starts[life.start[i]] - pd.Timedelta(days=3))
        )
        for m in np.nonzero(life.expanded[i])[0]:
            rows.append(
                (ids[i], "Existing Business", "Closed Won", starts[m] - pd.Timedelta(days=2))
            )
        for m in range(life.start[i] + 1, life.last[i] + 1):
            draw = rng.random()
            if draw < 0.02:
                rows.append(
                    (ids[i], "Existing Business", "Closed Lost", starts[m] + pd.Timedelta(days=9))
                )
            elif draw < 0.05:
                rows.append((ids[i], "Renewal", "Closed Won", starts[m] + pd.Timedelta(days=1)))
    opps = pd.DataFrame(rows, columns=["AccountId", "Type", "StageName", "CloseDate"])
    opps = opps[opps.CloseDate < starts[-1]].reset_index(drop=True)
    opps.insert(0, "Id", _salesforce_ids(rng, "006", len(opps)))
    opps["CloseDate"] = _day(opps.CloseDate)
    opps["Amount"] = (rng.integers(20, 400, len(opps)) * 100).astype(float)
    opps["Name"] = [f"{t} {k}" for k, t in enumerate(opps.Type)]
    return opps


def write_crm_weekly(folder: Path, seed: int = 101, accounts: int = 60) -> dict:
    """(h) A small CRM's exports, weekly: sixty accounts.

    ``Account.csv`` as the CRM writes it (18-character ids, ``CreatedDate`` like
    ``2024-11-03T10:00:00.000+0000``, owner ids named in ``User.csv``); a finance tool's
    ``mrr_history.csv`` (semicolons, one row per account and month, day-first dates, amounts
    with a decimal comma; no plan, no subscription intervals); the status report
    ``account_status.csv`` (Active / Churned with a day-first date); ``opportunities.csv`` with
    won expansions among new business, renewals and lost deals; weekly usage per feature
    (``usage_weekly.csv``: active users and sessions). No tickets, no NPS.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    life = simulate(rng, accounts)
    ids = _salesforce_ids(rng, "001", accounts)
    owners = _salesforce_ids(rng, "005", 4)
    starts = month_starts()
    created = life.term_starts() - pd.to_timedelta(rng.integers(5, 60, accounts), unit="D")
    pd.DataFrame(
        {
            "Id": ids,
            "Name": [f"Account {i}" for i in range(accounts)],
            "Type": np.where(life.churned, "Former Customer", "Customer"),
            "Industry": rng.choice(["Manufacturing", "Retail", "Software"], accounts),
            "BillingCountry": rng.choice(["France", "Germany", "Spain"], accounts),
            "OwnerId": rng.choice(owners, accounts),
            "CreatedDate": created.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
        }
    ).to_csv(folder / "Account.csv", index=False)
    pd.DataFrame(
        {"Id": owners, "Name": ["Ana Ruiz", "Ben Okafor", "Chloe Martin", "Dieter Vogel"]}
    ).to_csv(folder / "User.csv", index=False)
    acc, mon = np.nonzero(life.active)
    mrr = life.seats[acc, mon] * PRICE[life.tier[acc, mon]]
    pd.DataFrame(
        {"Account ID": ids[acc], "Month": _dmy(starts[mon]), "MRR (EUR)": _decimal_comma(mrr)}
    ).to_csv(folder / "mrr_history.csv", index=False, sep=";")
    churned_on = pd.Series(starts[life.last + 1]).where(life.churned)
    pd.DataFrame(
        {
            "Account ID": ids,
            "Status": np.where(life.churned, "Churned", "Active"),
            "Status Date": _dmy(churned_on.fillna(pd.Series(starts[life.start]))),
        }
    ).to_csv(folder / "account_status.csv", index=False, sep=";")
    _opportunities(rng, life, ids).to_csv(folder / "opportunities.csv", index=False)
    ev = usage_rows(rng, life, per_user=3.0)
    week = pd.to_datetime(ev["at"]).dt.to_period("W-SUN").dt.start_time
    weekly = (
        pd.DataFrame({"acc": ev.acc, "week": week, "kind": ev.kind, "user": ev.user})
        .groupby(["acc", "week", "kind"])
        .agg(users=("user", "nunique"), sessions=("user", "size"))
        .reset_index()
    )
    pd.DataFrame(
        {
            "Account ID": ids[weekly.acc],
            "Week": _dmy(weekly.week),
            "Feature": np.array(EVENT_KINDS)[weekly.kind],
            "Active Users": weekly.users,
            "Sessions": weekly.sessions,
        }
    ).to_csv(folder / "usage_weekly.csv", index=False, sep=";")
    _write_truth(folder, life, "crm_weekly", True)
    return crm_weekly_config()


def write_degenerate(folder: Path, seed: int = 103, accounts: int = 25) -> dict:
    """(i) Tiny and flat: 25 accounts on one plan, one event type, no tickets, no expansion.

    ``accounts.csv``, ``subscriptions.csv`` (one row per account, plan ``standard``, seats that
    never change) and ``events.csv`` (only ``login``). Upsell has no positive and must be
    skipped in one line; churn trains or is refused in one line.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    life = simulate(rng, accounts, expansion=False)
    ids = np.array([f"A{i:03d}" for i in range(accounts)])
    starts = month_starts()
    ended = pd.Series(starts[life.last + 1]).where(life.churned)
    pd.DataFrame(
        {
            "account_id": ids,
            "name": [f"Shop {i}" for i in range(accounts)],
            "created_at": _day(starts[life.start]),
        }
    ).to_csv(folder / "accounts.csv", index=False)
    first = np.arange(accounts), life.start
    pd.DataFrame(
        {
            "subscription_id": [f"S{i:03d}" for i in range(accounts)],
            "account_id": ids,
            "start_at": _day(starts[life.start]),
            "end_at": _day(ended).where(ended.notna(), ""),
            "mrr": life.seats[first] * PRICE[0],
            "plan": "standard",
            "seats": life.seats[first],
        }
    ).to_csv(folder / "subscriptions.csv", index=False)
    ev = usage_rows(rng, life, per_user=2.0)
    pd.DataFrame(
        {
            "account_id": ids[ev.acc],
            "occurred_at": _iso(ev["at"]),
            "event_type": "login",
            "user_id": [f"{ids[a]}-{u}" for a, u in zip(ev.acc, ev.user, strict=True)],
        }
    ).to_csv(folder / "events.csv", index=False)
    _write_truth(folder, life, "degenerate", True)
    return degenerate_config()


def billing_platform_config() -> dict:
    """The churnml config of the layout written by write_billing_platform."""
    config = _common("layout-billing-platform")
    config["sources"] = {
        "accounts": {
            "source": {"kind": "file", "path": "customers.csv"},
            "columns": {"account_id": "id", "name": "name", "segment": "segment (metadata)"},
            "derive": {"created_at": {"from": "created", "unit": "epoch_seconds"}},
        },
        "subscriptions": {
            "source": {"kind": "file", "path": "subscriptions.csv"},
            "columns": {
                "subscription_id": "id",
                "account_id": "customer",
                "plan": "plan.nickname",
                "seats": "quantity",
                "billing_period": "plan.interval",
            },
            "derive": {
                "start_at": {"from": "start_date", "unit": "epoch_seconds"},
                "end_at": {"from": "ended_at", "unit": "epoch_seconds"},
                # cents per seat and interval -> monthly amount in the currency
                "mrr": {
                    "from": "plan.amount",
                    "scale": 0.01,
                    "times": "quantity",
                    "per": "plan.interval",
                },
            },
        },
        "usage_events": {
            "source": {"kind": "file", "path": "tracks.jsonl"},
            "columns": {
                "account_id": "groupId",
                "occurred_at": "timestamp",
                "event_type": "event",
                "user_id": "userId",
            },
        },
        "support_tickets": {
            "source": {"kind": "file", "path": "tickets.csv"},
            "columns": {
                "ticket_id": "id",
                "opened_at": "created_at",
                "closed_at": "solved_at",
                "priority": "priority",
                "category": "type",
                "status": "status",
            },
            "account_key": {
                "column": "organization_id",
                "lookup": {"kind": "file", "path": "organizations.csv"},
                "lookup_key": "id",
                "lookup_account_id": "external_id",
            },
            "derive": {
                "satisfaction": {
                    "from": "satisfaction_rating",
                    "map": {"good": 5, "bad": 1, "offered": "", "unoffered": ""},
                }
            },
        },
    }
    config["features"] = {"account_attributes_categorical": ["segment"]}
    config["labels"]["plan_order"] = list(STRIPE_PLANS)
    return config


def crm_weekly_config() -> dict:
    """The churnml config of the layout written by write_crm_weekly."""
    config = _common("layout-crm-weekly")
    day_first = {"date_format": "%d/%m/%Y"}
    status = {"kind": "file", "path": "account_status.csv", **day_first}
    config["sources"] = {
        "accounts": {
            "source": {"kind": "file", "path": "Account.csv"},
            "columns": {
                "account_id": "Id",
                "name": "Name",
                "created_at": "CreatedDate",
                "industry": "Industry",
                "region": "BillingCountry",
            },
            "derive": {
                "csm_owner": {
                    "from": "OwnerId",
                    "lookup": {
                        "source": {"kind": "file", "path": "User.csv"},
                        "key": "Id",
                        "value": "Name",
                    },
                },
                "status": {
                    "from": "Id",
                    "lookup": {"source": status, "key": "Account ID", "value": "Status"},
                },
                "churned_at": {
                    "from": "Id",
                    "lookup": {"source": status, "key": "Account ID", "value": "Status Date"},
                },
            },
        },
        "subscriptions": {  # one row per account and month: the row ends when the month does
            "source": {"kind": "file", "path": "mrr_history.csv", "decimal": ",", **day_first},
            "columns": {"account_id": "Account ID", "start_at": "Month", "mrr": "MRR (EUR)"},
            "derive": {
                "subscription_id": {"concat": ["Account ID", "Month"]},
                "end_at": {"from": "Month", "add_months": 1},
                "plan": {"constant": "standard"},
            },
        },
        "usage_events": {
            "source": {"kind": "file", "path": "usage_weekly.csv", **day_first},
            "columns": {
                "account_id": "Account ID",
                "occurred_at": "Week",
                "event_type": "Feature",
                "quantity": "Sessions",
            },
        },
        "expansion_events": {  # won expansion deals only
            "source": {
                "kind": "view",
                "query": "SELECT * FROM read_csv('opportunities.csv', all_varchar = true)\n"
                "WHERE Type = 'Existing Business' AND StageName = 'Closed Won'\n",
            },
            "columns": {"account_id": "AccountId", "occurred_at": "CloseDate"},
        },
    }
    config["snapshots"] = {"frequency": "weekly", "count": 52}
    config["features"] = {"account_attributes_categorical": ["industry", "region"]}
    config["labels"]["churn_source"] = "account_status"
    config["labels"]["churned_statuses"] = ["churned"]
    config["labels"]["upsell_source"] = "expansion_events"
    return config


def degenerate_config() -> dict:
    """The churnml config of the layout written by write_degenerate."""
    config = _common("layout-degenerate")
    config["sources"] = {
        "accounts": {"source": {"kind": "file", "path": "accounts.csv"}},
        "subscriptions": {"source": {"kind": "file", "path": "subscriptions.csv"}},
        "usage_events": {"source": {"kind": "file", "path": "events.csv"}},
    }
    config["labels"]["plan_order"] = ["standard"]
    return config


# --- (j) product analytics: usage keyed by user, accounts through a users table -----------------
ANALYTICS_EVENTS = (
    "[Amplitude] Start Session",
    "[Amplitude] End Session",
    "Page Viewed: Home",
    "Page Viewed: Dashboard",
    "Page Viewed: Settings",
    "Page Viewed: Billing",
    "Page Viewed: Reports",
    "Page Viewed: Integrations",
    "Dashboard Created",
    "Dashboard Shared",
    "Dashboard Deleted",
    "Widget Added",
    "Widget Removed",
    "Filter Applied",
    "Search Performed",
    "Report Created",
    "Report Scheduled",
    "Report Exported (CSV)",
    "Report Exported (PDF)",
    "Alert Created",
    "Alert Triggered",
    "Integration Connected",
    "Integration Disconnected",
    "Sync Completed",
    "Sync Failed",
    "Automation Created",
    "Automation Run",
    "Automation Paused",
    "Comment Added",
    "Mention Sent",
    "Invite Sent",
    "Invite Accepted",
    "User Removed",
    "Role Changed",
    "API Key Created",
    "API Call",
    "Template Used",
    "Help Article Opened",
    "Onboarding Checklist Step",
    "Feedback Submitted",
)
ANALYTICS_PLANS = ("team", "business", "enterprise")


def _uuids(rng: np.random.Generator, n: int) -> np.ndarray:
    hexes = rng.integers(0, 16, (n, 32))
    text = ["".join("0123456789abcdef"[d] for d in row) for row in hexes]
    return np.array([f"{t[:8]}-{t[8:12]}-4{t[13:16]}-a{t[17:20]}-{t[20:]}" for t in text])


def _plan_change_log(life: Lifecycles, ids: np.ndarray) -> pd.DataFrame:
    """One row per plan change as a product database logs them, the cancellation included:
    no end column, the next change of the workspace ends a row."""
    starts = month_starts()
    rows = []
    for i in range(len(ids)):
        first, last = life.start[i], life.last[i]
        for m in [first, *[m for m in range(first + 1, last + 1) if life.expanded[i, m]]]:
            tier, seats = life.tier[i, m], life.seats[i, m]
            at = starts[m] + pd.Timedelta(hours=9, minutes=int(i % 50))
            rows.append((ids[i], at, ANALYTICS_PLANS[tier], seats, seats * PRICE[tier]))
        if life.churned[i]:
            rows.append((ids[i], starts[last + 1] + pd.Timedelta(hours=9), "cancelled", 0, 0.0))
    log = pd.DataFrame(rows, columns=["workspace_uuid", "changed_at", "new_plan", "seats", "price"])
    log["changed_at"] = _iso(log.changed_at)
    return log


def _analytics_events(
    rng: np.random.Generator,
    life: Lifecycles,
    user_ids: np.ndarray,
    first_user: np.ndarray,
    untracked: np.ndarray,
) -> pd.DataFrame:
    """Events keyed by user only, ~40 names; growers use the advanced half more. A workspace
    that never installed the tracking (``untracked``) sends none; a user of a tracked one that
    has left still opens the product once in the month after."""
    from dataclasses import replace

    ev = usage_rows(rng, replace(life, users=np.where(untracked[:, None], 0, life.users)), 2.0)
    half = len(ANALYTICS_EVENTS) // 2
    basic = rng.integers(0, half, len(ev))
    advanced = half + rng.integers(0, len(ANALYTICS_EVENTS) - half, len(ev))
    kind = np.where(ev.kind.to_numpy() >= len(EVENT_KINDS) - len(ADVANCED), advanced, basic)
    starts = month_starts()
    gone = np.nonzero(life.churned & (life.last + 1 < MONTHS) & ~untracked)[0]
    late = pd.DataFrame(
        {
            "acc": gone,
            "user": 0,
            "at": starts[life.last[gone] + 1] + pd.Timedelta(days=3, hours=10),
            "kind": 5,  # Page Viewed: Billing
        }
    )
    frame = pd.concat(
        [pd.DataFrame({"acc": ev.acc, "user": ev.user, "at": ev["at"], "kind": kind}), late]
    )
    return pd.DataFrame(
        {
            "event_time": pd.to_datetime(frame["at"]).dt.floor("ms").to_numpy(),
            "user_id": user_ids[first_user[frame.acc.to_numpy()] + frame.user.to_numpy()],
            "event_type": np.array(ANALYTICS_EVENTS)[frame.kind.to_numpy()],
            "session_id": (pd.to_datetime(frame["at"]).astype("int64") // 10**9 // 1800)
            .to_numpy()
            .astype("int64"),
            "event_properties": '{"source": "web"}',
        }
    ).sort_values("event_time", kind="stable")


def write_product_analytics(folder: Path, seed: int = 107, accounts: int = 150) -> dict:
    """(j) A product-led company's own database plus a product analytics export.

    ``workspaces.csv`` (UUID keys, ``signup_ts`` with ``Z``, an employee band), the product
    database's ``plan_changes.csv`` (one row per plan change with the new plan, seats and price,
    a ``cancelled`` row when a workspace leaves, no end column), ``users.csv`` (email ->
    workspace), monthly Parquet files ``events/events_YYYY_MM.parquet`` keyed by user email only,
    with about 40 event names (a tenth of the workspaces never installed the tracking: no
    events at all; a user of a workspace that left shows up once after it left) and NPS
    answers from a survey tool keyed by email with Unix-seconds dates. No tickets.
    """
    folder = Path(folder)
    (folder / "events").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    life = simulate(rng, accounts)
    ids = _uuids(rng, accounts)
    starts = month_starts()
    signup = starts[life.start] - pd.to_timedelta(rng.integers(0, 40 * 24, accounts), unit="h")
    pd.DataFrame(
        {
            "workspace_uuid": ids,
            "company": [f"Company {i}" for i in range(accounts)],
            "signup_ts": _iso(signup),
            "employees": rng.choice(["1-10", "11-50", "51-200", "201-1000"], accounts),
        }
    ).to_csv(folder / "workspaces.csv", index=False)
    _plan_change_log(life, ids).to_csv(folder / "plan_changes.csv", index=False)
    per_account = life.seats.max(axis=1)
    first_user = np.concatenate([[0], np.cumsum(per_account)[:-1]])
    owner = np.repeat(np.arange(accounts), per_account)
    emails = np.array([f"user{k}@company{a}.example" for k, a in enumerate(owner)], dtype=object)
    pd.DataFrame({"user_id": emails, "workspace_uuid": ids[owner]}).to_csv(
        folder / "users.csv", index=False
    )
    untracked = rng.random(accounts) < 0.1
    events = _analytics_events(rng, life, emails, first_user, untracked)
    month = pd.to_datetime(events.event_time).dt.strftime("%Y_%m")
    for name, part in events.groupby(month):
        part.to_parquet(folder / "events" / f"events_{name}.parquet", index=False)
    acc, mon = np.nonzero(life.active & (rng.random(life.active.shape) < 0.15))
    answered = starts[mon] + pd.to_timedelta(rng.integers(0, 27, len(acc)), unit="D")
    score = np.clip(np.round(rng.normal(np.where(life.trouble[acc, mon], 4, 8.5), 1.5)), 0, 10)
    pd.DataFrame(
        {
            "person_email": emails[first_user[acc]],
            "score": score.astype(int),
            "created_at": _epoch(answered),
            "comment": "",
        }
    ).to_csv(folder / "survey_responses.csv", index=False)
    _write_truth(folder, life, "product_analytics", True)
    return product_analytics_config()


def product_analytics_config() -> dict:
    """The churnml config of the layout written by write_product_analytics."""
    config = _common("layout-product-analytics")
    users = {
        "lookup": {"kind": "file", "path": "users.csv"},
        "lookup_key": "user_id",
        "lookup_account_id": "workspace_uuid",
    }
    config["sources"] = {
        "accounts": {
            "source": {"kind": "file", "path": "workspaces.csv"},
            "columns": {
                "account_id": "workspace_uuid",
                "name": "company",
                "created_at": "signup_ts",
            },
            "derive": {
                "segment": {
                    "from": "employees",
                    "map": {
                        "1-10": "smb",
                        "11-50": "smb",
                        "51-200": "mid_market",
                        "201-1000": "enterprise",
                    },
                }
            },
        },
        "subscriptions": {  # the next change of a workspace ends a row; a cancellation opens none
            "source": {
                "kind": "view",
                "query": "SELECT *, lead(changed_at) OVER (PARTITION BY workspace_uuid "
                "ORDER BY changed_at) AS ended_at\n"
                "FROM read_csv('plan_changes.csv', all_varchar = true)\n"
                "QUALIFY new_plan <> 'cancelled'\n",
            },
            "columns": {
                "account_id": "workspace_uuid",
                "start_at": "changed_at",
                "end_at": "ended_at",
                "plan": "new_plan",
                "seats": "seats",
                "mrr": "price",
            },
            "derive": {"subscription_id": {"concat": ["workspace_uuid", "changed_at"]}},
        },
        "usage_events": {
            "source": {"kind": "file", "path": "events/*.parquet"},
            "columns": {
                "occurred_at": "event_time",
                "event_type": "event_type",
                "user_id": "user_id",
            },
            "account_key": {"column": "user_id", **users},
        },
        "nps_responses": {
            "source": {"kind": "file", "path": "survey_responses.csv"},
            "columns": {"score": "score"},
            "account_key": {"column": "person_email", **users},
            "derive": {"responded_at": {"from": "created_at", "unit": "epoch_seconds"}},
        },
    }
    config["features"] = {
        "account_attributes_categorical": ["segment"],
        "onboarding_events": ["Dashboard Created", "Integration Connected", "Invite Accepted"],
    }
    config["labels"]["plan_order"] = list(ANALYTICS_PLANS)
    return config


# --- (k) billing platform with free trials, a CRM's cases and daily feature counts --------------
TRIAL_DAYS = 14
CASE_PRIORITY = {"low": "Niedrig", "normal": "Mittel", "high": "Hoch", "urgent": "Kritisch"}
CASE_TYPE = {"defect": "Problem", "how_to": "Frage", "billing": "Abrechnung", "outage": "Ausfall"}


def _trial_subscriptions(
    rng: np.random.Generator, life: Lifecycles, ids: np.ndarray, trial: np.ndarray
) -> pd.DataFrame:
    """One row per subscription, a plan or seat change starting a new one; the first row of an
    account that signed up with a trial starts 14 days before it pays, priced in full."""
    starts = month_starts()
    rows = []
    for i in range(len(ids)):
        first, last = life.start[i], life.last[i]
        end = starts[last + 1] if life.churned[i] else pd.NaT
        cuts = [first, *[m for m in range(first + 1, last + 1) if life.expanded[i, m]]]
        for k, m in enumerate(cuts):
            stop = starts[cuts[k + 1]] if k + 1 < len(cuts) else end
            begin = starts[m]
            tried = k == 0 and trial[i]
            status = "canceled" if pd.notna(stop) else "active"
            if status == "active" and life.trouble[i, MONTHS - 1]:
                status = rng.choice(["past_due", "unpaid"])
            rows.append(
                {
                    "customer": ids[i],
                    "status": status,
                    "start_date": begin - pd.Timedelta(days=TRIAL_DAYS) if tried else begin,
                    "trial_start": begin - pd.Timedelta(days=TRIAL_DAYS) if tried else pd.NaT,
                    "trial_end": begin if tried else pd.NaT,
                    "canceled_at": stop - pd.Timedelta(days=3) if pd.notna(stop) else pd.NaT,
                    "ended_at": stop,
                    "price.nickname": STRIPE_PLANS[life.tier[i, m]],
                    "price.unit_amount": int(PRICE[life.tier[i, m]] * 100),
                    "quantity": int(life.seats[i, m]),
                }
            )
    return pd.DataFrame(rows)


def _unconverted_trials(
    rng: np.random.Generator, ids: np.ndarray, data_end: pd.Timestamp
) -> pd.DataFrame:
    """Trials that never paid: canceled when the trial ended, or still running at the export."""
    signup = START + pd.to_timedelta(rng.integers(20, (data_end - START).days - 3, len(ids)), "D")
    signup = signup.where(np.arange(len(ids)) > 0, data_end - pd.Timedelta(days=5))  # one running
    trial_end = signup + pd.Timedelta(days=TRIAL_DAYS)
    running = trial_end > data_end
    return pd.DataFrame(
        {
            "customer": ids,
            "status": np.where(running, "trialing", "canceled"),
            "start_date": signup,
            "trial_start": signup,
            "trial_end": trial_end,
            "canceled_at": pd.Series(trial_end - pd.Timedelta(days=1)).where(~running),
            "ended_at": pd.Series(trial_end).where(~running),
            "price.nickname": STRIPE_PLANS[0],
            "price.unit_amount": int(PRICE[0] * 100),
            "quantity": rng.choice([3, 5], len(ids)),
        }
    )


def _daily_feature_counts(
    rng: np.random.Generator, life: Lifecycles, ids: np.ndarray, trials: pd.DataFrame
) -> pd.DataFrame:
    """A CRM's usage object: one row per account, day and feature with the day's event count;
    trial accounts use the product during their trial too."""
    ev = usage_rows(rng, life, per_user=3.0)
    frame = pd.DataFrame(
        {"account": ids[ev.acc], "at": pd.to_datetime(ev["at"]), "kind": ev.kind.to_numpy()}
    )
    tried = trials.loc[rng.random(len(trials)) < 0.8]
    taps = rng.integers(5, 40, len(tried))
    extra = pd.DataFrame(
        {
            "account": np.repeat(tried.customer.to_numpy(), taps),
            "at": np.repeat(tried.start_date.to_numpy(), taps)
            + pd.to_timedelta(rng.random(taps.sum()) * TRIAL_DAYS * 86_400, unit="s"),
            "kind": rng.integers(0, 3, taps.sum()),
        }
    )
    frame = pd.concat([frame, extra])
    frame = frame[frame["at"] < month_starts()[-1]]
    daily = (
        frame.assign(day=frame["at"].dt.strftime("%Y-%m-%d"))
        .groupby(["account", "day", "kind"])
        .size()
        .reset_index(name="count")
    )
    return pd.DataFrame(
        {
            "Account__c": daily.account,
            "Usage_Date__c": daily.day,
            "Feature__c": np.array([k.replace("_", " ").title() for k in EVENT_KINDS])[daily.kind],
            "Event_Count__c": daily["count"].astype(float),
        }
    )


def _german_cases(rng: np.random.Generator, life: Lifecycles, sf_ids: np.ndarray) -> pd.DataFrame:
    """Cases as a German CRM org exports them: picklist labels in German, 18-character ids."""
    tk = ticket_rows(rng, life)
    stamp = "%Y-%m-%dT%H:%M:%S.000+0000"
    closed = pd.Series(pd.to_datetime(tk.closed))
    status = np.where(closed.notna(), "Geschlossen", rng.choice(["Neu", "In Bearbeitung"], len(tk)))
    return pd.DataFrame(
        {
            "Id": _salesforce_ids(rng, "500", len(tk)),
            "CaseNumber": [f"{k:08d}" for k in range(1, len(tk) + 1)],
            "AccountId": sf_ids[tk.acc],
            "CreatedDate": pd.to_datetime(pd.Series(tk.opened)).dt.strftime(stamp),
            "ClosedDate": closed.dt.strftime(stamp).where(closed.notna(), ""),
            "Status": status,
            "Priority": pd.Series(tk.priority).map(CASE_PRIORITY),
            "Type": pd.Series(tk.topic).map(CASE_TYPE),
        }
    )


def write_trial_billing(folder: Path, seed: int = 109, accounts: int = 140) -> dict:
    """(k) A billing platform's export with free trials, a CRM's cases, daily feature counts.

    ``customers.csv`` (``cus_...`` ids, ``created`` in Unix seconds); ``subscriptions.csv`` with
    ISO dates and the platform's statuses (trialing / active / past_due / unpaid / canceled),
    ``trial_start`` / ``trial_end``, a monthly price per seat in cents: about half the new
    customers start with a 14-day trial on the row they later pay for, priced in full, and a
    third as many trials again never convert (canceled at the trial's end, or still running
    at the export). ``sf_accounts.csv`` links the CRM's 18-character ids to the billing ids;
    ``cases.csv`` holds its cases with German picklist labels (Hoch, Mittel, Niedrig, Kritisch);
    ``feature_usage_daily.csv`` one row per account, day and feature with an event count.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    life = simulate(rng, accounts)
    ids = _token(rng, "cus_", accounts)
    trial_ids = _token(rng, "cus_", accounts // 3)
    trial = (life.start > 0) & (rng.random(accounts) < 0.5)
    paying = _trial_subscriptions(rng, life, ids, trial)
    unconverted = _unconverted_trials(rng, trial_ids, month_starts()[-1])
    subs = pd.concat([paying, unconverted], ignore_index=True)
    subs.insert(0, "id", _token(rng, "sub_", len(subs)))
    first = subs.groupby("customer")["start_date"].min()
    for col in ("start_date", "trial_start", "trial_end", "canceled_at", "ended_at"):
        subs[col] = _iso(subs[col])
    subs.to_csv(folder / "subscriptions.csv", index=False)
    signup = pd.concat(
        [
            pd.Series(ids),
            pd.Series(trial_ids),
        ],
        ignore_index=True,
    )
    pd.DataFrame(
        {
            "id": signup,
            "name": [f"Client {k}" for k in range(len(signup))],
            "created": _epoch(first.loc[signup].to_numpy() - pd.Timedelta(hours=1)),
            "metadata[segment]": np.concatenate(
                [
                    np.where(life.seats[np.arange(accounts), life.start] >= 8, "mid_market", "smb"),
                    np.full(len(trial_ids), "smb"),
                ]
            ),
        }
    ).to_csv(folder / "customers.csv", index=False)
    sf_ids = _salesforce_ids(rng, "001", len(signup))
    pd.DataFrame({"Id": sf_ids, "Name": signup, "Stripe_Customer_ID__c": signup}).to_csv(
        folder / "sf_accounts.csv", index=False
    )
    _german_cases(rng, life, sf_ids[:accounts]).to_csv(folder / "cases.csv", index=False)
    _daily_feature_counts(rng, life, ids, unconverted).to_csv(
        folder / "feature_usage_daily.csv", index=False
    )
    _write_truth(folder, life, "trial_billing", True)
    return trial_billing_config()


def trial_billing_config() -> dict:
    """The churnml config of the layout written by write_trial_billing."""
    config = _common("layout-trial-billing")
    config["sources"] = {
        "accounts": {
            "source": {"kind": "file", "path": "customers.csv"},
            "columns": {"account_id": "id", "name": "name", "segment": "metadata[segment]"},
            "derive": {"created_at": {"from": "created", "unit": "epoch_seconds"}},
        },
        "subscriptions": {
            "source": {"kind": "file", "path": "subscriptions.csv"},
            "columns": {
                "subscription_id": "id",
                "account_id": "customer",
                "start_at": "start_date",
                "end_at": "ended_at",
                "trial_end_at": "trial_end",
                "plan": "price.nickname",
                "seats": "quantity",
            },
            "derive": {
                "mrr": {"from": "price.unit_amount", "scale": 0.01, "times": "quantity"},
            },
        },
        "usage_events": {
            "source": {"kind": "file", "path": "feature_usage_daily.csv"},
            "columns": {
                "account_id": "Account__c",
                "occurred_at": "Usage_Date__c",
                "event_type": "Feature__c",
                "quantity": "Event_Count__c",
            },
        },
        "support_tickets": {
            "source": {"kind": "file", "path": "cases.csv"},
            "columns": {
                "ticket_id": "Id",
                "opened_at": "CreatedDate",
                "closed_at": "ClosedDate",
                "status": "Status",
            },
            "account_key": {
                "column": "AccountId",
                "lookup": {"kind": "file", "path": "sf_accounts.csv"},
                "lookup_key": "Id",
                "lookup_account_id": "Stripe_Customer_ID__c",
            },
            "derive": {
                "priority": {"from": "Priority", "map": {v: k for k, v in CASE_PRIORITY.items()}},
                "category": {"from": "Type", "map": {v: k for k, v in CASE_TYPE.items()}},
            },
        },
    }
    config["features"] = {"account_attributes_categorical": ["segment"]}
    config["labels"]["plan_order"] = list(STRIPE_PLANS)
    return config


EXPORT_LAYOUTS = {
    "billing_platform": write_billing_platform,
    "crm_weekly": write_crm_weekly,
    "degenerate": write_degenerate,
    "product_analytics": write_product_analytics,
    "trial_billing": write_trial_billing,
}


def write_tiny_same_day(folder: Path, seed: int = 113, horizon_days: int = 180) -> dict:
    """(l) Twelve accounts all signed up on one day, 3.5 months of data, one plan, logins only,
    and a horizon longer than the data: no outcome can be known yet."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    ids = [f"T{i:02d}" for i in range(12)]
    day, left, end = (
        pd.Timestamp("2026-01-05"),
        pd.Timestamp("2026-03-05"),
        pd.Timestamp("2026-04-20"),
    )
    pd.DataFrame({"account_id": ids, "created_at": _day([day] * 12)}).to_csv(
        folder / "accounts.csv", index=False
    )
    pd.DataFrame(
        {
            "subscription_id": [f"S{i:02d}" for i in range(12)],
            "account_id": ids,
            "start_at": _day([day] * 12),
            "end_at": [str(left.date()) if i < 3 else "" for i in range(12)],
            "mrr": 49.0,
            "plan": "basic",
        }
    ).to_csv(folder / "subscriptions.csv", index=False)
    rows = [
        (a, d + pd.Timedelta(hours=10), "login")
        for i, a in enumerate(ids)
        for d in pd.date_range(day, left if i < 3 else end, freq="D")
        if rng.random() < 0.5
    ]
    frame = pd.DataFrame(rows, columns=["account_id", "occurred_at", "event_type"])
    frame.assign(occurred_at=_iso(frame.occurred_at)).to_csv(folder / "events.csv", index=False)
    config = _common("layout-tiny-same-day")
    config["sources"] = {
        name: {
            "source": {
                "kind": "file",
                "path": f"{name if name != 'usage_events' else 'events'}.csv",
            }
        }
        for name in ("accounts", "subscriptions", "usage_events")
    }
    config["snapshots"] = {"frequency": "monthly", "count": 4}
    config["labels"]["churn_horizon_days"] = horizon_days
    config["labels"]["upsell_horizon_days"] = horizon_days
    return config


# --- (m) a multi-currency billing system with dunning ------------------------------------------
FX_RATES = {"USD": 1.0, "EUR": 1.08, "GBP": 1.27}  # USD per unit, the config's fixed rates
FX_PRICE = {  # list price per seat and month, by tier, in each currency (annual: 10 months)
    "USD": np.array([18.0, 32.0, 55.0]),
    "EUR": np.array([17.0, 29.0, 50.0]),
    "GBP": np.array([14.0, 25.0, 43.0]),
}
FX_COUNTRY = {"US": "USD", "CA": "USD", "DE": "EUR", "FR": "EUR", "NL": "EUR", "GB": "GBP"}
FX_PLANS = ("starter", "pro", "enterprise")
FX_SEED = 127


def fx_monthly_usd(life: Lifecycles, currency: np.ndarray) -> np.ndarray:
    """[account, month] MRR in USD as the export prices it: seats x the currency's list price,
    an annual plan at 10 months' price over 12, converted at FX_RATES; 0 when not active."""
    price = np.stack([FX_PRICE[c] for c in currency])  # [account, tier]
    per_seat = np.take_along_axis(price, life.tier, axis=1)
    annual = (life.term == 12)[:, None]
    monthly = np.where(annual, per_seat * 10 / 12, per_seat) * life.seats
    rate = np.array([FX_RATES[c] for c in currency])[:, None]
    return np.where(life.active, monthly * rate, 0.0)


def _fx_rows(rng: np.random.Generator, life: Lifecycles, ids, currency, dunning) -> tuple:
    """Subscription rows (a seat or plan change expires one and starts the next) and their
    invoices, one per billing period. A churner either cancels (its last row expires at the
    term end) or stops paying (``dunning``): its last invoice fails and the row stays open,
    state ``unpaid``, with no expiry. Accounts in trouble pay late; one in trouble at the
    export whose latest invoice is open is ``past_due``."""
    starts = month_starts()
    export = starts[-1] + pd.offsets.MonthEnd(0)  # the last day of the data
    subs, invoices = [], []
    for i in range(len(ids)):
        first, last = life.start[i], life.last[i]
        cuts = [first, *[m for m in range(first + 1, last + 1) if life.expanded[i, m]]]
        months = int(life.term[i])
        for k, m in enumerate(cuts):
            begin = life.term_start(i) if k == 0 else starts[m]
            is_last = k + 1 == len(cuts)
            ends = is_last and life.churned[i]
            stop = starts[cuts[k + 1]] if not is_last else (starts[last + 1] if ends else pd.NaT)
            uuid = "".join(rng.choice(list("0123456789abcdef"), 32))
            tier, seats = life.tier[i, m], life.seats[i, m]
            cents = int(round(FX_PRICE[currency[i]][tier] * (10 if months == 12 else 1) * 100))
            bill = (uuid, ids[i], currency[i], cents * seats)
            due, state = begin, "active"
            while due < (stop if pd.notna(stop) else export):
                month = min(max(0, int(np.searchsorted(starts, due, side="right")) - 1), MONTHS - 1)
                lag = rng.integers(8, 45) if life.trouble[i, month] else rng.integers(0, 3)
                paid = due + pd.Timedelta(days=int(lag), hours=int(rng.integers(8, 18)))
                if paid > export:  # still open at the export
                    invoices.append((*bill, due, pd.NaT, "past_due"))
                    state = "past_due"
                else:
                    invoices.append((*bill, due, paid, "paid"))
                due = due + pd.DateOffset(months=months)
            if pd.notna(stop):
                state = "expired"
            if ends and dunning[i]:  # the renewal invoice fails; the row is left open
                failed = stop + pd.Timedelta(days=21) <= export  # dunning gives up after 3 weeks
                invoices.append((*bill, stop, pd.NaT, "failed" if failed else "past_due"))
                state, stop = ("unpaid" if failed else "past_due"), pd.NaT
            canceled = stop - pd.Timedelta(days=int(rng.integers(3, 25))) if ends else pd.NaT
            subs.append(
                (uuid, ids[i], FX_PLANS[tier], seats, cents, currency[i], months, state)
                + (begin, canceled, stop)
            )
    return subs, invoices


def _utc_text(stamps) -> pd.Series:
    """ISO 8601 with a Z, empty where missing, as billing APIs write timestamps."""
    s = pd.Series(pd.to_datetime(stamps))
    return s.dt.strftime("%Y-%m-%dT%H:%M:%SZ").fillna("")


def _weekly_usage(rng: np.random.Generator, life: Lifecycles, ids: np.ndarray) -> pd.DataFrame:
    """One row per account and ISO week (Monday) from the product database: active users and
    sessions; growers run more sessions per user."""
    weeks = pd.date_range(START, month_starts()[-1] - pd.Timedelta(days=1), freq="W-MON")
    month = np.searchsorted(month_starts(), weeks, side="right") - 1
    acc, w = np.nonzero(life.users[:, month] > 0)
    users = life.users[acc, month[w]]
    active = np.maximum(1, rng.binomial(users, 0.85))
    sessions = rng.poisson(active * np.where(life.grower[acc], 7.0, 4.0))
    return pd.DataFrame(
        {
            "account_code": ids[acc],
            "week": weeks[w].strftime("%Y-%m-%d"),
            "active_users": active,
            "sessions": sessions,
        }
    )


@dataclass
class FxDraws:
    """What write_billing_fx draws before writing: the tests recompute its truths from it."""

    life: Lifecycles
    ids: np.ndarray
    country: np.ndarray
    currency: np.ndarray
    dunning: np.ndarray  # bool: a churner that stops paying instead of cancelling

    def __iter__(self):
        return iter((self.life, self.ids, self.country, self.currency, self.dunning))


def billing_fx_draws(rng: np.random.Generator, accounts: int) -> FxDraws:
    life = simulate(rng, accounts, terms=(1, 1, 12))
    ids = np.array(
        [f"{rng.choice(['acme', 'nord', 'blue', 'kite'])}-{i:04d}" for i in range(accounts)]
    )
    country = rng.choice(list(FX_COUNTRY), accounts, p=[0.35, 0.05, 0.2, 0.1, 0.05, 0.25])
    currency = np.array([FX_COUNTRY[c] for c in country])
    return FxDraws(life, ids, country, currency, rng.random(accounts) < 0.35)


def write_billing_fx(folder: Path, seed: int = FX_SEED, accounts: int = 160) -> dict:
    """(m) A subscription-billing system selling in USD, EUR and GBP, plus a weekly usage
    extract and NPS answers from half the accounts; no support tickets.

    ``accounts.csv`` (``account_code``, ``company_name``, ``country``, ``created_at`` with a Z),
    ``subscriptions.csv`` (``uuid``, ``plan_code``, ``quantity``, ``unit_amount_in_cents`` per
    seat and billing period in the row's ``currency``, ``plan_interval_length`` in months, 1 or
    12, ``state`` active / past_due / unpaid / expired, ``activated_at``, ``canceled_at``,
    ``expires_at``), ``invoices.csv`` (one per billing period: ``due_on``, ``paid_at`` empty
    when never paid, ``state`` paid / past_due / failed), ``weekly_usage.csv`` (``week``,
    ``active_users``, ``sessions``) and ``nps.csv``. About a third of the churners stop paying
    instead of cancelling: their last row stays ``unpaid`` with no expiry, and only its failed
    invoice says when they stopped.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    life, ids, country, currency, dunning = billing_fx_draws(rng, accounts)
    created = life.term_starts() - pd.to_timedelta(rng.integers(0, 30, accounts), unit="D")
    pd.DataFrame(
        {
            "account_code": ids,
            "company_name": [f"Company {i}" for i in range(accounts)],
            "country": country,
            "created_at": _utc_text(created),
        }
    ).to_csv(folder / "accounts.csv", index=False)
    subs, invoices = _fx_rows(rng, life, ids, currency, dunning)
    subs = pd.DataFrame(
        subs,
        columns=[
            "uuid", "account_code", "plan_code", "quantity", "unit_amount_in_cents", "currency",
            "plan_interval_length", "state", "activated_at", "canceled_at", "expires_at",
        ],
    )  # fmt: skip
    for col in ("activated_at", "canceled_at", "expires_at"):
        subs[col] = _utc_text(subs[col])
    subs.to_csv(folder / "subscriptions.csv", index=False)
    inv = pd.DataFrame(
        invoices,
        columns=["subscription_uuid", "account_code", "currency", "total_in_cents", "due_on"]
        + ["paid_at", "state"],
    )
    inv.insert(0, "invoice_number", np.arange(len(inv)) + 1001)
    inv["due_on"] = _day(inv.due_on)
    inv["paid_at"] = _utc_text(inv.paid_at)
    inv.to_csv(folder / "invoices.csv", index=False)
    _weekly_usage(rng, life, ids).to_csv(folder / "weekly_usage.csv", index=False)
    answering = rng.random(accounts) < 0.5
    survey = _survey_rows(rng, life, ids)
    survey = survey[np.isin(survey.client_code, ids[answering])]
    survey.rename(columns={"client_code": "account_code", "answered_at": "submitted_at"}).assign(
        submitted_at=lambda f: _utc_text(f.submitted_at)
    ).to_csv(folder / "nps.csv", index=False)
    _write_truth(folder, life, "billing_fx", True)
    np.save(folder / "truth_dunning.npy", dunning)
    return billing_fx_config()


# An unpaid row's end is the due date of its first failed invoice: the billing system left it
# open, the customer stopped paying then. The due date is a day; written as midnight UTC like
# the other ends (a bare date beside values with an offset reads as mixed time zones).
FX_SUBSCRIPTIONS_VIEW = """\
SELECT s.*, COALESCE(NULLIF(s.expires_at, ''),
                     CASE WHEN s.state = 'unpaid' THEN f.first_failed || 'T00:00:00Z' END)
              AS ended_at
FROM read_csv('subscriptions.csv', all_varchar = true) s
LEFT JOIN (SELECT subscription_uuid, min(due_on) AS first_failed
           FROM read_csv('invoices.csv', all_varchar = true)
           WHERE state = 'failed' GROUP BY subscription_uuid) f
  ON f.subscription_uuid = s.uuid
"""
FX_USAGE_VIEW = """\
SELECT account_code, week, 'active_users' AS metric, active_users AS value
FROM read_csv('weekly_usage.csv', all_varchar = true)
UNION ALL
SELECT account_code, week, 'sessions' AS metric, sessions AS value
FROM read_csv('weekly_usage.csv', all_varchar = true)
"""


def billing_fx_config() -> dict:
    """The churnml config of the layout written by write_billing_fx."""
    config = _common("layout-billing-fx")
    config["sources"] = {
        "accounts": {
            "source": {"kind": "file", "path": "accounts.csv"},
            "columns": {
                "account_id": "account_code",
                "name": "company_name",
                "created_at": "created_at",
                "region": "country",
            },
        },
        "subscriptions": {
            "source": {"kind": "view", "query": FX_SUBSCRIPTIONS_VIEW},
            "columns": {
                "subscription_id": "uuid",
                "account_id": "account_code",
                "start_at": "activated_at",
                "end_at": "ended_at",
                "plan": "plan_code",
                "seats": "quantity",
                "billing_period": "plan_interval_length",
            },
            "derive": {
                "mrr": {
                    "from": "unit_amount_in_cents",
                    "scale": 0.01,
                    "times": "quantity",
                    "per": "plan_interval_length",
                    "currency": "currency",
                    "rates": dict(FX_RATES),
                }
            },
        },
        "usage_events": {
            "source": {"kind": "view", "query": FX_USAGE_VIEW},
            "columns": {
                "account_id": "account_code",
                "occurred_at": "week",
                "event_type": "metric",
                "quantity": "value",
            },
        },
        "nps_responses": {
            "source": {"kind": "file", "path": "nps.csv"},
            "columns": {
                "account_id": "account_code",
                "responded_at": "submitted_at",
                "score": "rating",
            },
        },
    }
    config["labels"]["plan_order"] = list(FX_PLANS)
    return config


EXPORT_LAYOUTS["billing_fx"] = write_billing_fx


# --- (n) a CRM with account hierarchies and merged duplicates -----------------------------------
HIERARCHY_SEED = 131
HIERARCHY_PRODUCTS = ("Essentials", "Professional", "Enterprise")


@dataclass
class HierarchyDraws:
    """What write_crm_hierarchy draws: the customers' lifecycles (index i is the contracting
    top-level account ``ids[i]``), every CRM record's customer, and the merged duplicates."""

    life: Lifecycles
    ids: np.ndarray  # the contracting (top-level, surviving) account of each customer
    records: pd.DataFrame  # AccountNumber, ParentAccountNumber, customer index, domain
    merged: pd.DataFrame  # customer index, duplicate AccountNumber, merge month, its seats


def hierarchy_draws(rng: np.random.Generator, customers: int) -> HierarchyDraws:
    life = simulate(rng, customers, terms=(12,))
    ids = np.array([f"A-{100000 + 7 * i}" for i in range(customers)])
    rows = []  # (number, parent, customer, domain)
    serial = 500000
    for i in range(customers):
        rows.append((ids[i], "", i, f"customer{i}.example"))
        for c in range(int(rng.choice([0, 0, 1, 2, 3]))):
            serial += 1
            child = f"A-{serial}"
            rows.append((child, ids[i], i, f"sub{c}.customer{i}.example"))
            if rng.random() < 0.3:
                serial += 1
                rows.append((f"A-{serial}", child, i, f"unit.sub{c}.customer{i}.example"))
    records = pd.DataFrame(
        rows, columns=["AccountNumber", "ParentAccountNumber", "customer", "domain"]
    )
    # a duplicate record held part of the seats of a customer that never expanded before the
    # merge, until the merge month; then the survivor's contract holds them all
    merged = []
    for i in np.nonzero((life.start == 0) & (rng.random(customers) < 0.12))[0]:
        month = int(rng.integers(3, 10))
        if month > life.last[i] or life.expanded[i, 1 : month + 1].any():
            continue
        serial += 1
        merged.append((i, f"A-{serial}", month, int(life.seats[i, 0] // 3)))
    merged = pd.DataFrame(merged, columns=["customer", "duplicate", "month", "seats"])
    return HierarchyDraws(life, ids, records, merged)


def _hierarchy_contracts(draws: HierarchyDraws) -> pd.DataFrame:
    """Annual contracts (ContractTerm 12, TotalContractValue for the term) on the top-level
    account; an expansion or a merge ends one contract and starts the next. A merged duplicate
    holds its share of the seats on a contract of its own until the merge."""
    life, ids, starts = draws.life, draws.ids, month_starts()
    merge = draws.merged.set_index("customer")
    rows = []
    for i in range(len(ids)):
        first, last = life.start[i], life.last[i]
        cuts = [first, *[m for m in range(first + 1, last + 1) if life.expanded[i, m]]]
        if i in merge.index:
            cuts = sorted({*cuts, int(merge.month[i])})
        end = starts[last + 1] if life.churned[i] else pd.NaT
        for k, m in enumerate(cuts):
            begin = life.term_start(i) if k == 0 else starts[m]
            stop = starts[cuts[k + 1]] if k + 1 < len(cuts) else end
            seats = life.seats[i, m]
            if i in merge.index and m < merge.month[i]:
                dup = int(merge.seats[i])
                rows.append(
                    (merge.duplicate[i], begin, starts[merge.month[i]], life.tier[i, m], dup)
                )
                seats -= dup
            rows.append((ids[i], begin, stop, life.tier[i, m], seats))
    out = pd.DataFrame(rows, columns=["AccountId", "StartDate", "EndDate", "tier", "Seats"])
    out.insert(0, "ContractNumber", [f"{i + 1:08d}" for i in range(len(out))])
    tier = out.pop("tier").to_numpy()
    out["Product"] = np.array(HIERARCHY_PRODUCTS)[tier]
    out["ContractTerm"] = 12
    out["TotalContractValue"] = (PRICE[tier] * out.Seats * 12).round(2)
    return out


def _family_events(rng, draws: HierarchyDraws, workspaces: pd.DataFrame) -> pd.DataFrame:
    """Product events on the workspaces of each customer's family (the parent's, its
    subsidiaries', a merged duplicate's until the merge), keyed by workspace only."""
    events = usage_rows(rng, draws.life, per_user=6.0)
    family = workspaces.groupby("customer").workspace_id.agg(list)
    pick = rng.random(len(events))
    ws = [family[c][int(p * len(family[c]))] for c, p in zip(events.acc, pick, strict=True)]
    merged = draws.merged.set_index("customer")
    dup_ws = workspaces.set_index("crm_account").workspace_id
    for i, row in merged.iterrows():  # the duplicate's users before the merge, none after
        before = (events.acc == i) & (events.month < row.month) & (pick < 0.33)
        for k in np.nonzero(before.to_numpy())[0]:
            ws[k] = dup_ws[row.duplicate]
    return pd.DataFrame(
        {
            "workspace_id": ws,
            "ts": _utc_text(events["at"]),
            "action": np.array(EVENT_KINDS)[events.kind],
            "user": [f"u{a}-{u}" for a, u in zip(events.acc, events.user, strict=True)],
        }
    )


def write_crm_hierarchy(folder: Path, seed: int = HIERARCHY_SEED, accounts: int = 150) -> dict:
    """(n) A CRM whose customers are account hierarchies: the annual contract sits on the
    top-level account, subsidiaries (and their units) use the product in workspaces of their
    own and raise tickets from their own e-mail domains; some customers were entered twice and
    merged, the duplicate's contract ending at the merge while the survivor's takes its seats.

    ``accounts.csv`` (``AccountNumber``, ``ParentAccountNumber``, ``Website``, ...), ``account_merges.csv``
    (``merged_account``, ``surviving_account``, ``merged_on``), ``contracts.csv``
    (``ContractTerm`` 12 months, ``TotalContractValue`` for the term), ``workspaces.csv``
    (workspace -> CRM account), ``events.csv`` keyed by workspace, ``tickets.csv`` keyed by the
    requester's e-mail only (some from free-mail addresses no account owns).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    draws = hierarchy_draws(rng, accounts)
    life, records, merged = draws.life, draws.records, draws.merged
    dups = pd.DataFrame(
        {
            "AccountNumber": merged.duplicate,
            "ParentAccountNumber": "",
            "customer": merged.customer,
            "domain": [f"customer{i}.example" for i in merged.customer],
        }
    )
    crm = pd.concat([records, dups], ignore_index=True)
    first = life.term_starts()[crm.customer] - pd.to_timedelta(
        rng.integers(5, 60, len(crm)), unit="D"
    )
    signed = life.seats[np.arange(accounts), life.start]
    tiers = np.select([signed >= 15, signed >= 6], ["Enterprise", "Mid-Market"], "SMB")
    pd.DataFrame(
        {
            "AccountNumber": crm.AccountNumber,
            "AccountName": [
                f"Customer {c}" + (" (dup)" if k >= len(records) else "")
                for k, c in enumerate(crm.customer)
            ],
            "ParentAccountNumber": crm.ParentAccountNumber,
            "Website": crm.domain,
            "Tier": tiers[crm.customer],
            "Industry": rng.choice(["Manufacturing", "Retail", "Software"], len(crm)),
            "CreatedDate": _day(first),
        }
    ).to_csv(folder / "accounts.csv", index=False)
    starts = month_starts()
    pd.DataFrame(
        {
            "merged_account": merged.duplicate,
            "surviving_account": draws.ids[merged.customer],
            "merged_on": _day(starts[merged.month]),
        }
    ).to_csv(folder / "account_merges.csv", index=False)
    contracts = _hierarchy_contracts(draws)
    for col in ("StartDate", "EndDate"):
        contracts[col] = _day(contracts[col]).fillna("")
    contracts.to_csv(folder / "contracts.csv", index=False)
    workspaces = pd.DataFrame(
        {
            "workspace_id": [f"ws_{k:05d}" for k in range(len(crm))],
            "crm_account": crm.AccountNumber,
            "customer": crm.customer,
        }
    )
    _family_events(rng, draws, workspaces).to_csv(folder / "events.csv", index=False)
    workspaces.drop(columns="customer").to_csv(folder / "workspaces.csv", index=False)
    tickets = ticket_rows(rng, life)
    domains = records.groupby("customer").domain.agg(list)
    requester = [
        f"user{int(p * 97)}@"
        + ("gmail.com" if p < 0.05 else domains[c][int(p * 1000) % len(domains[c])])
        for c, p in zip(tickets.acc, rng.random(len(tickets)), strict=True)
    ]
    pd.DataFrame(
        {
            "ticket_id": np.arange(len(tickets)) + 70001,
            "requester_email": requester,
            "created_at": _utc_text(tickets.opened),
            "solved_at": _utc_text(tickets.closed),
            "priority": tickets.priority,
            "type": tickets.topic,
        }
    ).to_csv(folder / "tickets.csv", index=False)
    _write_truth(folder, life, "crm_hierarchy", True)
    return crm_hierarchy_config()


# Every CRM record -> the customer that holds the contract: up the parent links to the top
# level, then a merged top-level record to its survivor.
HIERARCHY_RESOLVE = """\
WITH RECURSIVE crm AS (SELECT * FROM read_csv('accounts.csv', all_varchar = true)),
up(AccountNumber, top_level) AS (
  SELECT AccountNumber, AccountNumber FROM crm WHERE coalesce(ParentAccountNumber, '') = ''
  UNION ALL
  SELECT crm.AccountNumber, up.top_level FROM crm JOIN up ON crm.ParentAccountNumber = up.AccountNumber
)
SELECT up.AccountNumber, lower(crm.Website) AS domain,
       coalesce(m.surviving_account, up.top_level) AS customer
FROM up JOIN crm USING (AccountNumber)
LEFT JOIN read_csv('account_merges.csv', all_varchar = true) m ON m.merged_account = up.top_level
"""


def crm_hierarchy_config() -> dict:
    """The churnml config of the layout written by write_crm_hierarchy."""
    resolve = {"kind": "view", "query": HIERARCHY_RESOLVE}
    config = _common("layout-crm-hierarchy")
    config["sources"] = {
        "accounts": {  # the customers: top-level records that were not merged away
            "source": {
                "kind": "view",
                "query": "SELECT * FROM read_csv('accounts.csv', all_varchar = true)\n"
                "WHERE coalesce(ParentAccountNumber, '') = ''\n"
                "  AND AccountNumber NOT IN (SELECT merged_account\n"
                "                            FROM read_csv('account_merges.csv', all_varchar = true))\n",
            },
            "columns": {
                "account_id": "AccountNumber",
                "name": "AccountName",
                "created_at": "CreatedDate",
                "segment": "Tier",
                "industry": "Industry",
            },
        },
        "subscriptions": {
            "source": {"kind": "file", "path": "contracts.csv"},
            "columns": {
                "subscription_id": "ContractNumber",
                "start_at": "StartDate",
                "end_at": "EndDate",
                "plan": "Product",
                "seats": "Seats",
                "billing_period": "ContractTerm",
            },
            "account_key": {
                "column": "AccountId",
                "lookup": resolve,
                "lookup_key": "AccountNumber",
                "lookup_account_id": "customer",
            },
            "derive": {"mrr": {"from": "TotalContractValue", "scale": 1, "per": "ContractTerm"}},
        },
        "usage_events": {
            "source": {"kind": "file", "path": "events.csv"},
            "columns": {"occurred_at": "ts", "event_type": "action", "user_id": "user"},
            "account_key": {
                "column": "workspace_id",
                "lookup": {
                    "kind": "view",
                    "query": "SELECT w.workspace_id, r.customer\n"
                    "FROM read_csv('workspaces.csv', all_varchar = true) w\n"
                    f"JOIN ({HIERARCHY_RESOLVE}) r ON r.AccountNumber = w.crm_account\n",
                },
                "lookup_key": "workspace_id",
                "lookup_account_id": "customer",
            },
        },
        "support_tickets": {  # requesters from a domain no account owns cannot be attributed
            "source": {
                "kind": "view",
                "query": "SELECT *, lower(split_part(requester_email, '@', 2)) AS domain\n"
                "FROM read_csv('tickets.csv', all_varchar = true)\n"
                "WHERE lower(split_part(requester_email, '@', 2)) IN\n"
                "      (SELECT lower(Website) FROM read_csv('accounts.csv', all_varchar = true))\n",
            },
            "columns": {
                "ticket_id": "ticket_id",
                "opened_at": "created_at",
                "closed_at": "solved_at",
                "priority": "priority",
                "category": "type",
            },
            "account_key": {
                "column": "domain",
                "lookup": resolve,
                "lookup_key": "domain",
                "lookup_account_id": "customer",
            },
        },
    }
    # the duplicate's contract and the survivor's overlap on one product until the merge
    config["validation"] = {"same_plan_overlap": "sum"}
    config["features"] = {"account_attributes_categorical": ["segment", "industry"]}
    config["labels"]["plan_order"] = list(HIERARCHY_PRODUCTS)
    return config


EXPORT_LAYOUTS["crm_hierarchy"] = write_crm_hierarchy
