"""A tiny book of accounts whose every KPI month is worked out by hand (tests/test_kpis.py).

Boundary MRR (first instant of Jan .. Jul 2025), 30-day reactivation gap:
  acc_steady  SMB  100 throughout
  acc_down    SMB  200 200 200 120 ...   downgrade on 1 Mar: contraction 80 in March
  acc_annual  ENT  1000 x6, then 0       annual contract ending 15 Jun: churned in June
  acc_react   SMB  50 0 0 0 60 60 60     leaves 1 Feb (January churn), back 10 Apr
  acc_blip    SMB  30 throughout         16-day renewal gap: not a churn
  acc_new     ENT  0 0 0 500 ...         starts 10 Mar, onboarded in time
  acc_new2    SMB  0 0 0 80 ...          starts 20 Mar, second milestone too late
  acc_grow    ENT  300 x5, then 450      expands 10 May: expansion 150 in May
February has no activity at all.
"""

from __future__ import annotations

import pandas as pd

from churnml.config import KpiConfig, default_config


def book() -> dict[str, pd.DataFrame]:
    ids = [
        "acc_steady",
        "acc_down",
        "acc_annual",
        "acc_react",
        "acc_blip",
        "acc_new",
        "acc_new2",
        "acc_grow",
    ]
    accounts = pd.DataFrame(
        {
            "account_id": ids,
            "created_at": pd.to_datetime(
                [
                    "2024-05-01",
                    "2024-11-01",
                    "2024-06-15",
                    "2024-12-01",
                    "2024-12-01",
                    "2025-03-10",
                    "2025-03-20",
                    "2024-06-20",
                ]
            ).astype("datetime64[us]"),
            "segment": ["SMB", "SMB", "ENT", "SMB", "SMB", "ENT", "SMB", "ENT"],
        }
    )
    rows = [
        ("acc_steady", "2024-05-01", None, 100.0, "monthly"),
        ("acc_down", "2024-11-01", "2025-03-01", 200.0, "monthly"),
        ("acc_down", "2025-03-01", None, 120.0, "monthly"),
        ("acc_annual", "2024-06-15", "2025-06-15", 1000.0, "annual"),
        ("acc_react", "2024-12-01", "2025-02-01", 50.0, "monthly"),
        ("acc_react", "2025-04-10", None, 60.0, "monthly"),
        ("acc_blip", "2024-12-01", "2025-01-20", 30.0, "monthly"),
        ("acc_blip", "2025-02-05", None, 30.0, "monthly"),
        ("acc_new", "2025-03-10", None, 500.0, "monthly"),
        ("acc_new2", "2025-03-20", None, 80.0, "monthly"),
        ("acc_grow", "2024-06-20", "2025-05-10", 300.0, "monthly"),
        ("acc_grow", "2025-05-10", None, 450.0, "monthly"),
    ]
    subscriptions = pd.DataFrame(
        {
            "subscription_id": [f"s{i}" for i in range(len(rows))],
            "account_id": [r[0] for r in rows],
            "start_at": pd.to_datetime([r[1] for r in rows]).astype("datetime64[us]"),
            "end_at": pd.to_datetime([r[2] for r in rows]).astype("datetime64[us]"),
            "mrr": [r[3] for r in rows],
            "plan": "growth",
            "seats": 5,
            "billing_period": [r[4] for r in rows],
        }
    )
    usage = [
        ("acc_new", "2025-03-15", "setup_done"),
        ("acc_new", "2025-04-01", "invite"),
        ("acc_new2", "2025-03-21", "setup_done"),
        ("acc_new2", "2025-05-01", "invite"),
        ("acc_steady", "2025-07-15 12:00", "login"),  # the data end
    ]
    usage_events = pd.DataFrame(
        {
            "account_id": [u[0] for u in usage],
            "occurred_at": pd.to_datetime([u[1] for u in usage], format="ISO8601").astype(
                "datetime64[us]"
            ),
            "event_type": [u[2] for u in usage],
            "user_id": "u1",
            "quantity": 1.0,
        }
    )
    nps = pd.DataFrame(
        {
            "account_id": ["acc_steady", "acc_down", "acc_new", "acc_grow", "acc_grow"],
            "responded_at": pd.to_datetime(
                ["2025-05-03", "2025-05-10", "2025-05-20", "2025-05-25", "2025-06-02"]
            ).astype("datetime64[us]"),
            "score": [10, 3, 8, 9, 2],
        }
    )
    return {
        "accounts": accounts,
        "subscriptions": subscriptions,
        "usage_events": usage_events,
        "nps_responses": nps,
    }


def config(months: int = 6, **labels):
    cfg = default_config()
    return cfg.model_copy(
        update={
            "kpis": KpiConfig(months=months, onboarding_days=30),
            "features": cfg.features.model_copy(
                update={"onboarding_events": ["setup_done", "invite"]}
            ),
            "labels": cfg.labels.model_copy(update=labels),
        }
    )


def kpi_section_for(lang: str, scored: pd.DataFrame):
    """The report's KPI section on the book's twelve months, with a forecast from ``scored``."""
    from churnml.forecast import forecast_quarter
    from churnml.kpis import kpi_board
    from churnml.report.kpis import kpi_section

    cfg = config(months=12)
    board = kpi_board(book(), cfg)
    return kpi_section(board, forecast_quarter(scored, cfg, 0.3), lang, {"onboarding": "-"})
