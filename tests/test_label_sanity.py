"""Label sanity: rates per snapshot, and mapping mistakes caught with their likely cause."""

from __future__ import annotations

import json
from datetime import date, datetime

import ibis
import pandas as pd
import pytest

from churnml.config import LabelConfig
from churnml.label_sanity import (
    LabelSanityError,
    check_labels,
    label_rates,
    raise_for_implausible,
    rates_records,
    rates_text,
)
from churnml.labels import build_labels
from churnml.snapshots import active_accounts, as_of_table, snapshot_grid

OBSERVED = datetime(2025, 7, 1)
AS_OFS = snapshot_grid(date(2025, 1, 1), 10)


def monthly_rows_with_one_day_gaps(accounts: int = 30) -> pd.DataFrame:
    """Each account renews every month as a new row that ends the day before the month ends."""
    months = pd.date_range("2024-01-01", "2025-06-01", freq="MS")
    rows = [
        (f"acc_{a}", start, start + pd.offsets.MonthEnd(0))  # next row starts a day later
        for a in range(accounts)
        for start in months
    ]
    frame = pd.DataFrame(rows, columns=["account_id", "start_at", "end_at"])
    return frame.assign(
        subscription_id=[f"s{i}" for i in range(len(frame))],
        mrr=100.0,
        plan="growth",
        seats=5,
        billing_period="monthly",
    )


def labelled(subs: pd.DataFrame, cfg: LabelConfig) -> pd.DataFrame:
    t = ibis.memtable(subs)
    spine = active_accounts(t, as_of_table(AS_OFS))
    return build_labels(t, spine, cfg, OBSERVED).to_pandas()


def test_rates_per_snapshot():
    frame = pd.DataFrame(
        {
            "account_id": ["a", "b", "c", "a", "b"],
            "as_of": pd.to_datetime(["2025-01-01"] * 3 + ["2025-02-01"] * 2),
            "churn_label": pd.array([1, 0, 0, None, None], dtype="Int64"),
            "churn_at": pd.to_datetime(["2025-02-10", None, None, None, None]),
            "upsell_label": pd.array([0, 1, 1, 0, None], dtype="Int64"),
        }
    )
    rates = label_rates(frame).set_index("as_of")
    jan, feb = rates.loc["2025-01-01"], rates.loc["2025-02-01"]
    assert (jan.accounts, jan.churn_labelled, jan.churn_positives) == (3, 3, 1)
    assert jan.churn_rate == pytest.approx(1 / 3) and jan.upsell_rate == pytest.approx(2 / 3)
    assert feb.churn_labelled == 0 and pd.isna(feb.churn_rate) and feb.upsell_rate == 0
    assert "2025-01-01" in rates_text(label_rates(frame))
    records = rates_records(label_rates(frame))["snapshots"]
    assert records[1]["as_of"] == "2025-02-01" and records[1]["churn_rate"] is None
    assert json.loads(json.dumps(records))[0]["churn_positives"] == 1


def test_renewal_rows_with_one_day_gaps_counted_as_churn_are_stopped():
    subs = monthly_rows_with_one_day_gaps()
    starts = subs[["account_id", "start_at"]]
    frame = labelled(subs, LabelConfig(reactivation_gap_days=1))
    check = check_labels(frame, starts, LabelConfig(reactivation_gap_days=1))
    assert check.rates.churn_rate.max() == 1.0
    text = " ".join(check.explanations)
    assert "churn rate above 50%" in text
    assert "raise labels.reactivation_gap_days (now 1)" in text.lower()
    with pytest.raises(LabelSanityError, match="reactivation_gap_days"):
        raise_for_implausible(check)
    # the same data with a gap wider than a day: no churn, nothing to explain
    fixed = labelled(subs, LabelConfig(reactivation_gap_days=3))
    assert check_labels(fixed, starts, LabelConfig()).problems == []
    assert fixed.churn_label.dropna().eq(0).all()


def test_churns_that_mostly_come_back_later_are_explained():
    subs = monthly_rows_with_one_day_gaps(accounts=12)
    # half the accounts pause in September and October 2024, and come back in November
    away = subs.account_id.isin([f"acc_{a}" for a in range(6)]) & subs.start_at.between(
        "2024-09-01", "2024-10-01"
    )
    subs = subs[~away]
    starts = subs[["account_id", "start_at"]]
    cfg = LabelConfig(reactivation_gap_days=3)
    frame = labelled(subs, cfg)
    problems = check_labels(frame, starts, cfg).problems
    assert len(problems) == 1
    assert "come back later" in problems[0].check and problems[0].examples


def test_plausible_labels_pass(tiny_tables):
    spine = active_accounts(tiny_tables["subscriptions"], as_of_table([date(2025, 2, 1)]))
    frame = build_labels(
        tiny_tables["subscriptions"], spine, LabelConfig(), datetime(2025, 12, 31)
    ).to_pandas()
    starts = tiny_tables["subscriptions"].select("account_id", "start_at").to_pandas()
    assert check_labels(frame, starts, LabelConfig()).problems == []


def test_training_step_prints_the_rates_and_stops_on_implausible_labels(monkeypatch):
    from flows import tasks

    from churnml.config import default_config
    from churnml.validation import DataValidationError

    logged: list[str] = []

    class Logger:
        def info(self, message, *args):
            logged.append(message % args)

    monkeypatch.setattr(tasks, "get_run_logger", Logger)
    subs = monthly_rows_with_one_day_gaps()
    cfg = default_config().model_copy(update={"labels": LabelConfig(reactivation_gap_days=1)})
    tables = {"subscriptions": ibis.memtable(subs)}
    # a subclass of the data errors the CLI shows in one line, without a traceback
    with pytest.raises(DataValidationError, match="Raise labels.reactivation_gap_days"):
        tasks.label_sanity.fn(labelled(subs, cfg.labels), tables, cfg)
    assert "label rates per snapshot" in logged[0] and "2025-01-01" in logged[0]
    fine = labelled(subs, LabelConfig(reactivation_gap_days=3))
    assert tasks.label_sanity.fn(fine, tables, default_config()).problems == []
