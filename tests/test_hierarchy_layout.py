"""Layout (n) of tests/foreign_layouts.py, a CRM with account hierarchies and merged duplicates,
read by its config alone: every subsidiary's usage and tickets reach the customer holding the
contract, and a merge is neither a churn nor an upsell. The mapping and the labels are checked
against the generator; the CLI run is benchmarks/layouts.py's (docs/foreign-layouts.md)."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

import foreign_layouts as fl
from churnml.config import load_config
from churnml.io.sources import connect_warehouse, load_sources
from churnml.labels import build_labels
from churnml.snapshots import active_accounts, as_of_table
from churnml.validation import validate_sources

pytestmark = pytest.mark.slow

ACCOUNTS = 150


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    folder = tmp_path_factory.mktemp("crm-hierarchy")
    path = fl.write_config(folder, fl.write_crm_hierarchy(folder, accounts=ACCOUNTS))
    cfg = load_config(path)
    mapped = load_sources(connect_warehouse(cfg), cfg)
    draws = fl.hierarchy_draws(np.random.default_rng(fl.HIERARCHY_SEED), ACCOUNTS)
    return folder, cfg, mapped, draws


def test_the_views_pass_the_data_checks(layout):
    _, cfg, mapped, draws = layout
    problems = validate_sources(mapped, settings=cfg.validation, plan_order=cfg.labels.plan_order)
    assert [p for p in problems if p.severity == "error"] == []
    (overlap,) = [p for p in problems if "same plan" in p.check]  # the merged duplicates
    assert overlap.failing_rows == len(draws.merged) > 0


def test_subsidiaries_usage_and_tickets_reach_the_contracting_customer(layout):
    folder, _, mapped, draws = layout
    customer = dict(enumerate(draws.ids))
    crm = pd.read_csv(folder / "accounts.csv")
    assert crm.ParentAccountNumber.notna().sum() > ACCOUNTS / 2  # subsidiaries and their units
    usage = mapped["usage_events"].table.to_pandas()
    events = pd.read_csv(folder / "events.csv")
    workspaces = pd.read_csv(folder / "workspaces.csv").set_index("workspace_id")
    owner = (
        crm.assign(
            top=[
                customer[c]
                for c in draws.records.customer.tolist() + draws.merged.customer.tolist()
            ]
        )
        .set_index("AccountNumber")
        .top
    )
    want = events.workspace_id.map(workspaces.crm_account).map(owner).value_counts()
    assert usage.account_id.value_counts().sort_index().equals(want.sort_index())
    tickets = mapped["support_tickets"].table.to_pandas()
    raw = pd.read_csv(folder / "tickets.csv")
    free_mail = raw.requester_email.str.endswith("@gmail.com")
    assert free_mail.sum() > 0 and len(tickets) == (~free_mail).sum()
    assert set(tickets.account_id) <= set(draws.ids)


def _truth(draws: fl.HierarchyDraws, k: int) -> tuple[set, set]:
    """Customers churning, and expanding, within 90 days of month k's start among those active
    then (those starting at it included: they grow from their first contract)."""
    life, starts = draws.life, fl.month_starts()
    end = starts[k] + pd.Timedelta(days=fl.HORIZON_DAYS)
    active = (life.start <= k) & (life.last >= k)
    gone = np.array([j + 1 < fl.MONTHS and starts[j + 1] <= end for j in life.last])
    ahead = [j for j in range(k, fl.MONTHS) if starts[j] < end]
    grew = active & life.expanded[:, ahead].any(axis=1)
    return set(draws.ids[active & life.churned & gone]), set(draws.ids[grew])


def test_merges_are_no_churn_and_no_upsell(layout):
    """Labels at every month start whose horizon is over equal the generator's: the merged
    duplicates' contracts end at the merge, their seats move to the survivor, and neither
    counts."""
    _, cfg, mapped, draws = layout
    subs = mapped["subscriptions"].table
    starts = fl.month_starts()
    observed = datetime(2026, 4, 30, 23, 59)
    merge_months = set(draws.merged.month)
    checked = set()
    for k in range(1, 12):
        spine = active_accounts(subs, as_of_table([starts[k].date()]))
        got = build_labels(subs, spine, cfg.labels, observed).to_pandas()
        churned, expanded = _truth(draws, k)
        assert set(got.account_id[got.churn_label == 1]) == churned, starts[k]
        assert set(got.account_id[got.upsell_label == 1]) == expanded, starts[k]
        checked |= {m for m in merge_months if k <= m < k + 3}
    assert checked == merge_months  # every merge fell inside a checked horizon
