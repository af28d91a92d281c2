from datetime import date, datetime

import ibis
import pandas as pd

from churnml.config import LabelConfig
from churnml.labels import active_periods, build_labels
from churnml.snapshots import active_accounts, as_of_table, snapshot_grid

OBSERVED = datetime(2025, 12, 31)
DEFAULT_LABELS = LabelConfig()


def labels_at(
    tables, as_of: date, cfg: LabelConfig = DEFAULT_LABELS, observed=OBSERVED
) -> pd.DataFrame:
    spine = active_accounts(tables["subscriptions"], as_of_table([as_of]))
    out = build_labels(tables["subscriptions"], spine, cfg, observed).to_pandas()
    return out.set_index("account_id").sort_index()


def test_snapshot_grid_monthly_and_weekly():
    assert snapshot_grid(date(2025, 3, 17), 3) == [
        date(2025, 1, 1),
        date(2025, 2, 1),
        date(2025, 3, 1),
    ]
    assert snapshot_grid(date(2025, 3, 17), 2, "weekly") == [date(2025, 3, 10), date(2025, 3, 17)]


def test_active_accounts_follow_half_open_periods(tiny_tables):
    spine = active_accounts(
        tiny_tables["subscriptions"], as_of_table([date(2025, 2, 15)])
    ).to_pandas()
    # acc_c cancelled on 2025-02-10 and came back on 2025-02-20: not active on the 15th
    assert sorted(spine.account_id) == ["acc_a", "acc_b"]


def test_churn_within_horizon(tiny_tables):
    out = labels_at(tiny_tables, date(2025, 2, 1))
    assert out.loc["acc_a", "churn_label"] == 1  # ends 2025-04-15, within 90 days
    assert out.loc["acc_a", "churn_at"] == pd.Timestamp("2025-04-15")
    assert out.loc["acc_b", "churn_label"] == 0


def test_churn_outside_horizon_is_not_churn(tiny_tables):
    out = labels_at(tiny_tables, date(2025, 2, 1), LabelConfig(churn_horizon_days=30))
    assert out.loc["acc_a", "churn_label"] == 0


def test_comeback_within_gap_is_not_churn_but_beyond_gap_is(tiny_tables):
    # acc_c: ends 2025-02-10, returns 2025-02-20 (10 days later)
    assert labels_at(tiny_tables, date(2025, 2, 1)).loc["acc_c", "churn_label"] == 0
    strict = LabelConfig(reactivation_gap_days=5)
    assert labels_at(tiny_tables, date(2025, 2, 1), strict).loc["acc_c", "churn_label"] == 1


def test_immature_horizon_has_no_label(tiny_tables):
    out = labels_at(tiny_tables, date(2025, 2, 1), observed=datetime(2025, 4, 1))
    assert out["churn_label"].isna().all()
    assert out["upsell_label"].isna().all()


def test_upsell_on_mrr_and_seats(tiny_tables):
    out = labels_at(tiny_tables, date(2025, 2, 1))
    assert out.loc["acc_b", "upsell_label"] == 1  # 1000 -> 1500 on 2025-03-10
    assert out.loc["acc_a", "upsell_label"] == 0
    assert (
        labels_at(tiny_tables, date(2025, 3, 15)).loc["acc_b", "upsell_label"] == 0
    )  # already expanded


def test_upsell_threshold_share():
    subs = pd.DataFrame(
        {
            "subscription_id": ["a", "b"],
            "account_id": ["x", "x"],
            "start_at": pd.to_datetime(["2024-01-01", "2025-02-10"]),
            "end_at": pd.to_datetime(["2025-02-10", None]),
            "mrr": [1000.0, 1050.0],
            "plan": ["growth", "growth"],
            "seats": [10, 10],
            "billing_period": ["monthly", "monthly"],
        }
    )
    tables = {"subscriptions": ibis.memtable(subs)}
    assert labels_at(tables, date(2025, 2, 1)).loc["x", "upsell_label"] == 0  # +5% < 10%
    loose = LabelConfig(upsell_min_mrr_share=0.04)
    assert labels_at(tables, date(2025, 2, 1), loose).loc["x", "upsell_label"] == 1


def test_active_periods_merge_short_gaps(tiny_tables):
    periods = active_periods(tiny_tables["subscriptions"], 30).to_pandas()
    c = periods[periods.account_id == "acc_c"]
    assert len(c) == 1 and pd.isna(c.period_end.iloc[0])
    periods = active_periods(tiny_tables["subscriptions"], 5).to_pandas()
    assert len(periods[periods.account_id == "acc_c"]) == 2
