"""The demo dataset's entry points: every table for a seed, usage in chunks for big sizes.

The generators live in ``churnml.demo`` (one module per table; docs/demo-data.md tells the causal
story). The same seed always gives the same tables, byte for byte.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pyarrow as pa

from churnml.demo.accounts import accounts_and_latent
from churnml.demo.activity import activity_log, extension_seed, extension_subscriptions
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
    "usage_event_batches",
]


def generate_accounts_and_contracts(
    n_accounts: int,
    months: int,
    seed: int,
    end: date = DEFAULT_END,
    tickets_per_account_month: float = DEFAULT_TICKETS_PER_ACCOUNT_MONTH,
) -> dict[str, pd.DataFrame]:
    """Every table but usage: accounts, subscriptions, support_tickets, nps_responses,
    cs_activities, latent, demo_play_truth.

    ``latent`` holds the hidden drivers and mechanics per account (the ground truth, written
    as ``demo_latent_truth``); pass the result to ``usage_event_batches`` for the usage log.
    The CS team's plays (churnml.demo.activity) move a few cancellations; the tables are
    generated for the simulated contracts, plus the contract time the plays added
    (``extension_subscriptions``) on streams of their own.
    """
    accounts, latent, start = accounts_and_latent(n_accounts, months, seed, end)
    simulated = simulate_contracts(latent, start, months, seed, end)
    played = activity_log(accounts, latent, simulated, months, seed, end)
    subscriptions = played["subscriptions"]
    current = subscriptions.drop_duplicates("account_id", keep="last").set_index("account_id")
    accounts["plan"] = str_series(accounts["account_id"].map(current["plan"]).to_numpy())
    rows = contract_rows(simulated, latent["account_id"])
    tickets = support_tickets(latent, rows, months, seed, end, tickets_per_account_month)
    nps = nps_responses(latent, start["segment_idx"], rows, months, seed, end)
    added = extension_subscriptions(simulated, played["extensions"])
    if len(added):
        mask = latent["account_id"].isin(added["account_id"]).to_numpy()
        latent_added = latent[mask].reset_index(drop=True)
        rows_added = contract_rows(added, latent_added["account_id"])
        more = support_tickets(
            latent_added,
            rows_added,
            months,
            extension_seed(seed),
            end,
            tickets_per_account_month,
        )
        more["ticket_id"] = str_series(("tkt_r" + more["ticket_id"].str[4:]).to_numpy())
        tickets = pd.concat([tickets, more], ignore_index=True)
        nps = pd.concat(
            [
                nps,
                nps_responses(
                    latent_added,
                    start["segment_idx"][mask],
                    rows_added,
                    months,
                    extension_seed(seed),
                    end,
                ),
            ],
            ignore_index=True,
        )
    return {
        "accounts": accounts,
        "subscriptions": subscriptions,
        "support_tickets": tickets,
        "nps_responses": nps,
        "cs_activities": played["cs_activities"],
        "latent": latent,
        "demo_play_truth": played["demo_play_truth"],
        "simulated_subscriptions": simulated,
        "extension_subscriptions": added,
    }


def usage_event_batches(
    tables: dict[str, pd.DataFrame],
    months: int,
    seed: int,
    end: date = DEFAULT_END,
    events_per_user_day: float = DEFAULT_EVENTS_PER_USER_DAY,
):
    """Usage of ``generate_accounts_and_contracts``' tables: for the simulated contracts, then
    for the contract time the plays added (its own streams)."""
    latent = tables["latent"]
    yield from iter_usage_event_batches(
        latent,
        tables["simulated_subscriptions"],
        months,
        seed,
        end,
        events_per_user_day=events_per_user_day,
    )
    added = tables["extension_subscriptions"]
    if len(added):
        mask = latent["account_id"].isin(added["account_id"]).to_numpy()
        yield from iter_usage_event_batches(
            latent[mask].reset_index(drop=True),
            added,
            months,
            extension_seed(seed),
            end,
            events_per_user_day=events_per_user_day,
        )


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
        usage_event_batches(tables, months, seed, end, events_per_user_day=events_per_user_day)
    )
    tables["usage_events"] = pa.concat_tables(chunks).to_pandas()
    return tables
