"""The demo dataset's entry points: every table for a seed, usage in chunks for big sizes.

The generators live in ``churnml.demo`` (one module per table; docs/demo-data.md tells the causal
story). The same seed always gives the same tables, byte for byte.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pyarrow as pa

from churnml.demo.accounts import accounts_and_latent
from churnml.demo.base import (
    DEFAULT_END,
    DEFAULT_EVENTS_PER_USER_DAY,
    DEFAULT_TICKETS_PER_ACCOUNT_MONTH,
    EVENT_TYPES,
    MILESTONES,
    demo_window,
    str_series,
)
from churnml.demo.contracts import contract_rows, simulate_contracts
from churnml.demo.nps import nps_responses
from churnml.demo.tickets import support_tickets
from churnml.demo.usage import iter_usage_event_batches, iter_usage_events

__all__ = [
    "DEFAULT_END",
    "DEFAULT_EVENTS_PER_USER_DAY",
    "DEFAULT_TICKETS_PER_ACCOUNT_MONTH",
    "EVENT_TYPES",
    "MILESTONES",
    "demo_window",
    "generate_accounts_and_contracts",
    "generate_demo_data",
    "iter_usage_event_batches",
    "iter_usage_events",
]


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
    accounts, latent, start = accounts_and_latent(n_accounts, months, seed, end)
    subscriptions = simulate_contracts(latent, start, months, seed, end)
    current = subscriptions.drop_duplicates("account_id", keep="last").set_index("account_id")
    accounts["plan"] = str_series(accounts["account_id"].map(current["plan"]).to_numpy())
    rows = contract_rows(subscriptions, latent["account_id"])
    tickets = support_tickets(latent, rows, months, seed, end, tickets_per_account_month)
    nps = nps_responses(latent, start["segment_idx"], rows, months, seed, end)
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
