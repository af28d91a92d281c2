"""The demo generator: contract columns, determinism, consistent histories, real causes."""

from __future__ import annotations

import pandas as pd
import pytest

from churnml.contract import TABLES
from churnml.demo import DemoShape, generate_demo_data

SHAPE = DemoShape(n_accounts=400, months=14, seed=3, events_per_user_day=0.02)


@pytest.fixture(scope="module")
def demo() -> dict[str, pd.DataFrame]:
    return generate_demo_data(SHAPE)


def test_every_contract_column_is_present(demo):
    for name, table in TABLES.items():
        assert set(table.column_names) <= set(demo[name].columns), name


def test_same_seed_same_data():
    a = generate_demo_data(DemoShape(n_accounts=60, months=6, seed=5, events_per_user_day=0.02))
    b = generate_demo_data(DemoShape(n_accounts=60, months=6, seed=5, events_per_user_day=0.02))
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name])


def test_subscription_rows_do_not_overlap(demo):
    s = demo["subscriptions"].sort_values(["account_id", "start_at"])
    nxt = s.groupby("account_id").start_at.shift(-1)
    ends = s.end_at
    assert not ((nxt.notna()) & (ends.isna() | (ends > nxt))).any()
    assert (s.mrr >= 0).all() and (s.seats >= 1).all()


def test_ticket_timestamps_are_ordered(demo):
    t = demo["support_tickets"]
    closed = t.closed_at.notna()
    assert (t.loc[closed, "closed_at"] >= t.loc[closed, "opened_at"]).all()
    assert set(t.status) <= {"open", "pending", "closed"}
    assert ((t.status == "closed") == closed).all()


def test_churners_have_worse_hidden_drivers(demo):
    s = demo["subscriptions"]
    last_end = s.groupby("account_id").end_at.apply(lambda e: e.notna().all())
    truth = demo["demo_latent_truth"].set_index("account_id")
    churned = truth.loc[last_end[last_end].index]
    stayed = truth.loc[last_end[~last_end].index]
    assert churned.product_fit.mean() < stayed.product_fit.mean()
    assert churned.support_pain.mean() > stayed.support_pain.mean()


def test_usage_fades_before_most_cancellations(demo):
    s = demo["subscriptions"]
    ev = demo["usage_events"]
    window_start = ev.occurred_at.min() + pd.Timedelta(days=120)
    ended = s.groupby("account_id").end_at.max()
    ended = ended[
        s.groupby("account_id").end_at.apply(lambda e: e.notna().all()) & (ended > window_start)
    ]
    assert len(ended) >= 10
    ratios = []
    for account_id, end in ended.items():
        mine = ev[ev.account_id == account_id].occurred_at
        last30 = ((mine >= end - pd.Timedelta(days=30)) & (mine < end)).sum()
        before = (
            (mine >= end - pd.Timedelta(days=120)) & (mine < end - pd.Timedelta(days=90))
        ).sum()
        if before:
            ratios.append(last30 / before)
    assert pd.Series(ratios).median() < 0.8
