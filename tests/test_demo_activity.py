"""The demo's CS activity log: its Executive rescue program has a known effect, and churnml's
plays measurement recovers it within its stated uncertainty."""

from __future__ import annotations

import ibis
import pandas as pd
import pytest

from churnml.config import LabelConfig
from churnml.demo.activity import HAZARD_CUT, PLAY_NAME
from churnml.demo_data import demo_window, generate_accounts_and_contracts
from churnml.labels import build_labels
from churnml.plays import play_completion, play_effects
from churnml.snapshots import active_accounts, as_of_table

MONTHS = 24  # `make demo`: 3000 accounts, 24 months, seed 7


@pytest.fixture(scope="module")
def demo() -> dict[str, pd.DataFrame]:
    return generate_accounts_and_contracts(3000, MONTHS, seed=7)


def test_the_program_changes_only_the_contracts_it_saved(demo):
    simulated, played = demo["simulated_subscriptions"], demo["subscriptions"]
    assert simulated.drop(columns="end_at").equals(played.drop(columns="end_at"))
    moved = simulated["end_at"].fillna(pd.Timestamp(0)) != played["end_at"].fillna(pd.Timestamp(0))
    saved = set(demo["extension_subscriptions"]["account_id"])
    assert moved.any() and set(played.loc[moved, "account_id"]) == saved
    truth = demo["demo_play_truth"]
    assert set(truth.loc[truth["prevented_churn"], "account_id"]) <= saved
    log = demo["cs_activities"]
    checkins = log[log["play"] == PLAY_NAME]
    assert len(checkins) == int(truth["done"].sum())
    assert {"email", "call", "meeting", "qbr", "in_app", "webinar"} <= set(log["kind"])
    _, until = demo_window(MONTHS)
    assert log["occurred_at"].max() < until


def test_the_measurement_recovers_the_programs_effect(demo):
    _, until = demo_window(MONTHS)
    truth = demo["demo_play_truth"]
    horizon = LabelConfig().churn_horizon_days + LabelConfig().reactivation_gap_days
    truth = truth[truth["as_of"] + pd.Timedelta(days=horizon) <= until]
    subscriptions = ibis.memtable(demo["subscriptions"])
    spine = active_accounts(subscriptions, as_of_table(sorted(truth["as_of"].dt.date.unique())))
    labels = build_labels(subscriptions, spine, LabelConfig(), until.to_pydatetime()).to_pandas()
    labels["as_of"] = labels["as_of"].astype("datetime64[us]")
    recommended = truth[["account_id", "as_of", "play_name", "play_due", "segment"]]
    # only check-ins logged with the play count: routine meetings prevent nothing
    done = play_completion(recommended, demo["cs_activities"], {})
    assert done["play_done"].tolist() == truth["done"].tolist()
    evaluated = done.merge(labels, on=["account_id", "as_of"], validate="one_to_one")
    effect = play_effects(evaluated).set_index("play_name").loc[PLAY_NAME]
    # the effect on the accounts where it was done: the churns their check-ins prevented
    true_effect = -truth["prevented_churn"].sum() / truth["done"].sum()
    assert effect.churn_low <= true_effect <= effect.churn_high
    assert effect.churn_high < 0  # at this size and seed the effect is also clearly seen
    # the documented size: 30% of the churn that would have happened
    would = truth.loc[truth["done"], "would_churn"].mean()
    assert true_effect == pytest.approx(-HAZARD_CUT * would, abs=0.01)
    assert effect.matched_done > 500 and effect.churn_events_done > 20
