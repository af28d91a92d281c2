"""Tiny canonical frames for unit tests: a few accounts whose story is known by heart."""

from __future__ import annotations

import ibis
import pandas as pd


def ts(value: str | None) -> pd.Timestamp:
    return pd.Timestamp(value) if value is not None else pd.NaT


def frames() -> dict[str, pd.DataFrame]:
    """acc_a: steady, churns 2025-04-15. acc_b: expands 2025-03-10. acc_c: cancels, back in 10 days."""
    accounts = pd.DataFrame(
        {
            "account_id": ["acc_a", "acc_b", "acc_c"],
            "name": ["Alpha & Co", "Beta <b>Ltd</b>", "株式会社ガンマ"],
            "created_at": pd.to_datetime(["2024-01-01", "2024-06-01", "2024-09-01"]),
            "plan": ["growth", "business", "starter"],
            "segment": ["SMB", "Mid-Market", "SMB"],
            "industry": ["retail", "software", "media"],
            "region": ["EMEA", "NA", "APAC"],
            "csm_owner": ["Kim", "Lee", None],
            "employee_count": [40.0, 300.0, 12.0],
        }
    )
    subscriptions = pd.DataFrame(
        {
            "subscription_id": ["s1", "s2", "s3", "s4", "s5"],
            "account_id": ["acc_a", "acc_b", "acc_b", "acc_c", "acc_c"],
            "start_at": pd.to_datetime(
                ["2024-01-01", "2024-06-01", "2025-03-10", "2024-09-01", "2025-02-20"]
            ),
            "end_at": pd.to_datetime(["2025-04-15", "2025-03-10", None, "2025-02-10", None]),
            "mrr": [500.0, 1000.0, 1500.0, 100.0, 100.0],
            "plan": ["growth", "business", "business", "starter", "starter"],
            "seats": [10, 20, 30, 3, 3],
            "billing_period": ["monthly", "annual", "annual", "monthly", "monthly"],
        }
    )
    usage_events = pd.DataFrame(
        {
            "account_id": ["acc_a"] * 4 + ["acc_b"] * 3 + ["acc_c"],
            "occurred_at": pd.to_datetime(
                [
                    "2024-12-20 09:00",
                    "2025-01-10 10:00",
                    "2025-01-31 23:59",
                    "2025-02-01 00:00",
                    "2025-01-05 08:00",
                    "2025-01-20 08:00",
                    "2025-01-25 12:00",
                    "2025-01-15 10:00",
                ]
            ),
            "event_type": [
                "login",
                "login",
                "report_created",
                "login",
                "login",
                "export",
                "login",
                "login",
            ],
            "user_id": ["u1", "u2", "u1", "u1", "u7", "u8", "u7", None],
            "quantity": [1.0, 1.0, 2.0, 1.0, 1.0, 5.0, 1.0, 1.0],
        }
    )
    support_tickets = pd.DataFrame(
        {
            "ticket_id": ["t1", "t2", "t3"],
            "account_id": ["acc_a", "acc_a", "acc_b"],
            "opened_at": pd.to_datetime(["2025-01-10", "2025-01-20", "2025-01-05"]),
            "closed_at": pd.to_datetime(["2025-01-12", None, "2025-02-03"]),
            "status": ["closed", "open", "closed"],
            "category": ["defect", "outage", "how_to"],
            "priority": ["high", "urgent", "low"],
            "first_response_at": pd.to_datetime(["2025-01-10 06:00", None, "2025-01-05 02:00"]),
            "satisfaction": [2.0, None, 5.0],
            "escalated": [True, False, False],
        }
    )
    nps_responses = pd.DataFrame(
        {
            "account_id": ["acc_a", "acc_a", "acc_b"],
            "responded_at": pd.to_datetime(["2024-10-01", "2025-01-15", "2025-01-02"]),
            "score": [8, 4, 9],
        }
    )
    return {
        "accounts": accounts,
        "subscriptions": subscriptions,
        "usage_events": usage_events,
        "support_tickets": support_tickets,
        "nps_responses": nps_responses,
    }


def tables(data: dict[str, pd.DataFrame] | None = None) -> dict[str, ibis.Table]:
    return {name: ibis.memtable(frame) for name, frame in (data or frames()).items()}
