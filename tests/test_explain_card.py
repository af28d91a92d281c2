"""`churnml explain`'s card reads stored drivers through the pipeline's one parser."""

from __future__ import annotations

import json

import pandas as pd

from churnml import explain
from churnml.cli import account_card
from report_data import scored_frame


def row_with(drivers: dict) -> dict:
    row = scored_frame(3).iloc[2].to_dict()
    row["drivers_json"] = json.dumps(drivers)
    return row


def test_the_card_lists_what_the_stored_driver_parser_reads():
    row = scored_frame(3).iloc[2].to_dict()
    parsed = explain.stored_drivers(pd.DataFrame([row]))
    card = account_card(row)
    for d in parsed.itertuples():
        assert f"  {d.label}: {d.sentence} ({d.impact:+.3f})" in card
    risk = parsed[(parsed["model"] == "churn") & (parsed["direction"] == "risk")]
    shown = card.split("churn risk, pushing up:\n")[1].splitlines()[: len(risk)]
    assert shown == [f"  {d.label}: {d.sentence} ({d.impact:+.3f})" for d in risk.itertuples()]


def test_a_stored_driver_without_label_shows_its_family_as_the_report_does():
    """An older run's JSON lacks "label" and holds the impact as text: the parser fills the
    family in and reads the number; the card shows the same instead of failing."""
    row = row_with({"risk": [{"family": "usage", "impact": "0.25", "sentence": "fewer logins"}]})
    card = account_card(row)
    assert "  usage: fewer logins (+0.250)" in card
    assert "holding it down: none" in card


def test_the_card_calls_the_one_parser(monkeypatch):
    seen = []
    real = explain.drivers_from_json

    def spy(account_ids, stored, model):
        seen.append(model)
        return real(account_ids, stored, model)

    monkeypatch.setattr(explain, "drivers_from_json", spy)
    account_card(scored_frame(3).iloc[0].to_dict())
    assert set(seen) == {"churn", "upsell"}
