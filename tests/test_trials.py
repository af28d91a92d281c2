"""Free trials in a subscription history (labels.trials, churnml.trials)."""

from __future__ import annotations

from datetime import date, datetime

import ibis
import pandas as pd
import pytest
import yaml

from churnml.config import load_config
from churnml.io.sources import connect_warehouse, load_sources
from churnml.labels import build_labels
from churnml.matrix import observed_until
from churnml.snapshots import active_accounts, as_of_table
from churnml.trials import paid_periods
from churnml.validation import validate_sources

ROWS = [  # account, start, trial end, end
    ("no_trial", "2025-01-01", None, None),
    ("converted", "2025-01-01", "2025-01-15", None),
    ("never_converted", "2025-02-01", "2025-02-15", "2025-02-15"),
    ("left_mid_trial", "2025-02-01", "2025-02-15", "2025-02-10"),
    ("paid_then_left", "2025-01-01", "2025-01-15", "2025-03-20"),
    ("trial_end_before_start", "2025-01-10", "2025-01-01", None),
    ("zero_length_without_trial", "2025-01-05", None, "2025-01-05"),
]


def subscriptions(rows=ROWS) -> pd.DataFrame:
    stamp = lambda values: pd.to_datetime(list(values), format="ISO8601")  # noqa: E731
    return pd.DataFrame(
        {
            "subscription_id": [f"s{i}" for i in range(len(rows))],
            "account_id": [r[0] for r in rows],
            "start_at": stamp(r[1] for r in rows),
            "trial_end_at": stamp(r[2] for r in rows),
            "end_at": stamp(r[3] for r in rows),
            "mrr": 100.0,
            "plan": "growth",
            "seats": 5,
            "billing_period": "monthly",
        }
    )


def test_a_row_is_paid_from_its_trial_end_and_an_unconverted_trial_is_no_customer_time():
    paid = paid_periods(ibis.memtable(subscriptions())).to_pandas().set_index("account_id")
    assert sorted(paid.index) == [
        "converted",
        "no_trial",
        "paid_then_left",
        "trial_end_before_start",
        "zero_length_without_trial",  # not a trial: left as exported
    ]
    assert paid.start_at.to_dict() == {
        "no_trial": pd.Timestamp("2025-01-01"),
        "converted": pd.Timestamp("2025-01-15"),
        "paid_then_left": pd.Timestamp("2025-01-15"),
        "trial_end_before_start": pd.Timestamp("2025-01-10"),
        "zero_length_without_trial": pd.Timestamp("2025-01-05"),
    }


def test_an_account_on_trial_is_not_active_and_an_unconverted_trial_is_not_churn():
    subs = paid_periods(ibis.memtable(subscriptions()))
    on_trial = active_accounts(subs, as_of_table([date(2025, 1, 10)])).to_pandas()
    assert sorted(on_trial.account_id) == ["no_trial", "trial_end_before_start"]
    from churnml.config import LabelConfig

    spine = active_accounts(subs, as_of_table([date(2025, 2, 1)]))
    labels = build_labels(subs, spine, LabelConfig(), datetime(2025, 12, 31)).to_pandas()
    churned = labels.set_index("account_id").churn_label
    assert churned.to_dict() == {
        "no_trial": 0,
        "converted": 0,
        "paid_then_left": 1,
        "trial_end_before_start": 0,
    }


def write_source(tmp_path, rows, trials: str | None = None, mrr=None, zero_mrr: str | None = None):
    frame = subscriptions(rows).rename(columns={"trial_end_at": "trial_end"})
    if mrr is not None:
        frame["mrr"] = mrr
    frame.to_csv(tmp_path / "subscriptions.csv", index=False)
    accounts = pd.DataFrame({"account_id": sorted({r[0] for r in rows})})
    accounts.to_csv(tmp_path / "accounts.csv", index=False)
    raw = {
        "sources": {
            "accounts": {"source": {"kind": "file", "path": "accounts.csv"}},
            "subscriptions": {
                "source": {"kind": "file", "path": "subscriptions.csv"},
                "columns": {"trial_end_at": "trial_end"},
            },
        },
        "warehouse": {"path": "wh.duckdb"},
    }
    raw["labels"] = {"trials": trials} if trials else {}
    if zero_mrr:
        raw["labels"]["zero_mrr"] = zero_mrr
    path = tmp_path / "churnml.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    cfg = load_config(path)
    return load_sources(connect_warehouse(cfg), cfg)


# a trial still running at the export ends after today: a scheduled date, not a future row
RUNNING = (
    "still_on_trial",
    "2025-03-01",
    (pd.Timestamp.now() + pd.Timedelta(days=9)).isoformat(),
    None,
)


def test_the_mapping_counts_from_trial_ends_and_a_trial_running_today_is_no_error(tmp_path):
    mapped = write_source(tmp_path, [*ROWS, RUNNING])
    assert validate_sources(mapped) == []
    table = mapped["subscriptions"].table
    assert sorted(table.to_pandas().account_id) == [
        "converted",
        "no_trial",
        "paid_then_left",
        "still_on_trial",
        "trial_end_before_start",
        "zero_length_without_trial",
    ]
    # the data end is the latest start observed, not the running trial's scheduled end (nor
    # the ends of trials, which may lie ahead as well)
    assert observed_until({"subscriptions": table}) == datetime(2025, 1, 10)


def test_the_profile_says_how_many_rows_trials_cut(tmp_path):
    from churnml.io.profile import profile_sources

    profile = profile_sources(write_source(tmp_path, ROWS))
    assert "subscriptions: 5 rows" in profile
    assert (
        "  not customer time (labels.trials: not_customers): 4 rows began with a trial; 2 of "
        "the 7 rows exported are left out (the others count from the trial's end)"
    ) in profile
    assert "not customer time" not in profile_sources(write_source(tmp_path, ROWS, "customers"))


def test_the_profile_dates_subscriptions_as_exported_not_by_scheduled_paid_starts(tmp_path):
    """A trial running today starts paying after today: the start_at range is the export's."""
    from churnml.io.profile import profile_sources

    profile = profile_sources(write_source(tmp_path, [*ROWS, RUNNING]))
    line = next(x for x in profile.splitlines() if x.startswith("subscriptions: "))
    assert line.endswith(".. 2025-03-01 00:00:00"), line


def test_trials_as_customers_keeps_the_rows_as_exported(tmp_path):
    mapped = write_source(tmp_path, ROWS, trials="customers")
    frame = mapped["subscriptions"].table.to_pandas().set_index("account_id")
    assert len(frame) == len(ROWS)
    assert frame.loc["converted", "start_at"] == pd.Timestamp("2025-01-01")


@pytest.mark.parametrize("value", ["paying", "Customers", ""])
def test_labels_trials_takes_one_of_two_values(tmp_path, value):
    from churnml.config import ConfigError

    with pytest.raises(ConfigError, match="trials"):
        write_source(tmp_path, ROWS, trials=value or "none")


FREE_THEN_PAID = [  # a free or trial row at MRR 0, then the paid one; a free row never paid
    ("converted", "2025-01-01", None, "2025-01-15"),
    ("converted", "2025-01-15", None, None),
    ("free_only", "2025-01-01", None, "2025-02-01"),
    ("paying", "2025-01-01", None, None),
]


def test_rows_at_mrr_0_are_customer_time_unless_said_otherwise(tmp_path):
    from churnml.config import LabelConfig
    from churnml.io.profile import profile_sources

    mrr = [0.0, 100.0, 0.0, 50.0]
    as_exported = write_source(tmp_path, FREE_THEN_PAID, mrr=mrr)["subscriptions"].table
    assert as_exported.count().to_pyarrow().as_py() == 4
    mapped = write_source(tmp_path, FREE_THEN_PAID, mrr=mrr, zero_mrr="not_customers")
    paid = mapped["subscriptions"].table
    assert sorted(paid.to_pandas().account_id) == ["converted", "paying"]
    assert (
        "not customer time (labels.trials: not_customers, labels.zero_mrr: not_customers): "
        "2 rows are at MRR 0; 2 of the 4 rows exported are left out"
    ) in profile_sources(mapped)
    # paying is becoming a customer, not an expansion from 0; a free account never churns
    spine = active_accounts(paid, as_of_table([date(2025, 1, 10)]))
    assert sorted(spine.to_pandas().account_id) == ["paying"]
    cfg = LabelConfig()
    for table, upsell, churned in ((as_exported, 1, 1), (paid, None, None)):
        spine = active_accounts(table, as_of_table([date(2025, 1, 10)]))
        labels = build_labels(table, spine, cfg, datetime(2025, 12, 31)).to_pandas()
        labels = labels.set_index("account_id")
        if upsell is None:
            assert "converted" not in labels.index and "free_only" not in labels.index
        else:
            assert labels.loc["converted", "upsell_label"] == upsell
            assert labels.loc["free_only", "churn_label"] == churned
