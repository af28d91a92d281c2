from datetime import date, datetime

import ibis
import pandas as pd
import pytest

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


def _subs(rows: list[tuple[str, str, str | None]]) -> ibis.Table:
    """Subscription rows (account_id, start_at, end_at) with the other columns filled in."""
    return ibis.memtable(
        pd.DataFrame(
            {
                "subscription_id": [f"s{i}" for i in range(len(rows))],
                "account_id": [r[0] for r in rows],
                "start_at": pd.to_datetime([r[1] for r in rows], format="ISO8601"),
                "end_at": pd.to_datetime([r[2] for r in rows], format="ISO8601"),
                "mrr": [100.0] * len(rows),
                "plan": ["growth"] * len(rows),
                "seats": [5] * len(rows),
                "billing_period": ["monthly"] * len(rows),
            }
        )
    )


BOUNDARY = date(2025, 3, 1)


def test_population_boundaries_are_half_open():
    subs = _subs(
        [
            ("ends_at_as_of", "2024-01-01", "2025-03-01"),
            ("starts_at_as_of", "2025-03-01", None),
            ("ends_just_after", "2024-01-01", "2025-03-01 00:00:01"),
            ("starts_just_after", "2025-03-01 00:00:01", None),
        ]
    )
    spine = active_accounts(subs, as_of_table([BOUNDARY])).to_pandas()
    assert sorted(spine.account_id) == ["ends_just_after", "starts_at_as_of"]


def test_churn_at_the_horizon_end_counts_and_at_the_as_of_does_not():
    cfg = LabelConfig(churn_horizon_days=31, reactivation_gap_days=1)
    subs = _subs(
        [
            ("ends_at_horizon_end", "2024-01-01", "2025-04-01"),  # as-of + 31 days exactly
            ("ends_after_horizon", "2024-01-01", "2025-04-01 00:00:01"),
            ("starts_at_as_of", "2025-03-01", "2025-03-20"),
        ]
    )
    out = labels_at({"subscriptions": subs}, BOUNDARY, cfg)
    assert out.loc["ends_at_horizon_end", "churn_label"] == 1
    assert out.loc["ends_after_horizon", "churn_label"] == 0
    assert out.loc["starts_at_as_of", "churn_label"] == 1
    assert out.loc["starts_at_as_of", "churn_at"] == pd.Timestamp("2025-03-20")


def _churns(rows: list[tuple[str, str]]) -> ibis.Table:
    frame = pd.DataFrame(rows, columns=["account_id", "churned_at"])
    return ibis.memtable(
        frame.assign(churned_at=pd.to_datetime(frame.churned_at, format="ISO8601"))
    )


def test_churn_from_churn_events_with_the_reactivation_rule():
    # every account keeps an open subscription row: only the events say who left
    subs = _subs(
        [
            ("leaves", "2024-01-01", None),
            ("leaves_at_horizon_end", "2024-01-01", None),
            ("back_in_a_week", "2024-01-01", None),
            ("back_in_a_week", "2025-04-22", None),
            ("left_before", "2024-01-01", None),
            ("left_and_returned", "2024-01-01", None),
            ("left_and_returned", "2025-02-01", None),
            ("stays", "2024-01-01", None),
        ]
    )
    churns = _churns(
        [
            ("leaves", "2025-04-10"),
            ("leaves_at_horizon_end", "2025-05-30"),  # as-of + 90 days exactly
            ("back_in_a_week", "2025-04-15"),
            ("left_before", "2025-03-01"),  # exactly at the as-of: already gone
            ("left_and_returned", "2025-01-10"),
        ]
    )
    spine = active_accounts(subs, as_of_table([BOUNDARY]), churns)
    assert sorted(spine.to_pandas().account_id) == [
        "back_in_a_week",
        "leaves",
        "leaves_at_horizon_end",
        "left_and_returned",
        "stays",
    ]
    out = (
        build_labels(subs, spine, DEFAULT_LABELS, OBSERVED, churns=churns)
        .to_pandas()
        .set_index("account_id")
    )
    assert out.loc["leaves", "churn_label"] == 1
    assert out.loc["leaves", "churn_at"] == pd.Timestamp("2025-04-10")
    assert out.loc["leaves_at_horizon_end", "churn_label"] == 1
    assert out.loc["back_in_a_week", "churn_label"] == 0  # back within the 30-day gap
    strict = LabelConfig(reactivation_gap_days=5)
    strict_out = build_labels(subs, spine, strict, OBSERVED, churns=churns).to_pandas()
    assert strict_out.set_index("account_id").loc["back_in_a_week", "churn_label"] == 1
    assert out.loc["stays", "churn_label"] == 0
    assert out.loc["left_and_returned", "churn_label"] == 0
    immature = build_labels(subs, spine, DEFAULT_LABELS, datetime(2025, 5, 1), churns=churns)
    assert immature.to_pandas().churn_label.isna().all()


def test_churn_from_account_status(tiny_frames):
    from churnml.labels import outcome_churns

    accounts = tiny_frames["accounts"].assign(
        status=["Churned", "active", "cancelled"],
        churned_at=pd.to_datetime(["2025-03-15", "2025-03-15", None]),
    )
    tables = {"accounts": ibis.memtable(accounts)}
    cfg = LabelConfig(churn_source="account_status")
    churns = outcome_churns(tables, cfg).to_pandas()
    # acc_b is active (status wins over a stray date); acc_c has no date to label with
    assert churns.account_id.tolist() == ["acc_a"]
    assert churns.churned_at.tolist() == [pd.Timestamp("2025-03-15")]
    assert outcome_churns(tables, LabelConfig()) is None


def test_upsell_from_expansion_events():
    subs = _subs([("x", "2024-01-01", None), ("y", "2024-01-01", None), ("z", "2024-01-01", None)])
    events = pd.DataFrame(
        {
            "account_id": ["x", "y", "z", "z"],
            "occurred_at": pd.to_datetime(["2025-03-01", "2025-05-30", "2025-03-05", "2025-04-01"]),
            "amount": [None, 500.0, 5.0, -50.0],
        }
    )
    spine = active_accounts(subs, as_of_table([BOUNDARY]))
    out = (
        build_labels(subs, spine, DEFAULT_LABELS, OBSERVED, expansions=ibis.memtable(events))
        .to_pandas()
        .set_index("account_id")
    )
    assert out.loc["x", "upsell_label"] == 1  # at the as-of, no amount: counts
    assert out.loc["y", "upsell_label"] == 0  # as-of + 90 days exactly: after the horizon
    assert out.loc["z", "upsell_label"] == 0  # +5 on 100 MRR is under 10%; a negative amount
    loose = LabelConfig(upsell_min_mrr_share=0.05)
    loose_out = build_labels(subs, spine, loose, OBSERVED, expansions=ibis.memtable(events))
    assert loose_out.to_pandas().set_index("account_id").loc["z", "upsell_label"] == 1


def _monthly(account: str, rows: list[tuple[str, str | None, float]]) -> pd.DataFrame:
    """One account's renewal rows (start_at, end_at, mrr), 5 seats on a monthly growth plan."""
    return pd.DataFrame(
        {
            "subscription_id": [f"{account}{i}" for i in range(len(rows))],
            "account_id": account,
            "start_at": pd.to_datetime([r[0] for r in rows]),
            "end_at": pd.to_datetime([r[1] for r in rows]),
            "mrr": [r[2] for r in rows],
            "plan": "growth",
            "seats": 5,
            "billing_period": "monthly",
        }
    )


def test_upsell_base_is_read_across_a_one_day_renewal_gap():
    # renewals stored as [Jan 1, Jan 31), [Feb 1, Feb 28), ...: the as-of falls in a gap
    gap_rows = [("2025-01-01", "2025-01-31"), ("2025-02-01", "2025-02-28")]
    tail = [("2025-03-01", "2025-03-31"), ("2025-04-01", None)]
    subs = pd.concat(
        [
            _monthly(
                "upgrades", [(s, e, 100.0) for s, e in gap_rows] + [(s, e, 200.0) for s, e in tail]
            ),
            _monthly("flat", [(s, e, 100.0) for s, e in gap_rows + tail]),
            # gone for two months (longer than the 30-day gap), back at three times the MRR
            _monthly(
                "came_back", [("2024-10-01", "2024-12-01", 100.0), ("2025-02-01", None, 300.0)]
            ),
        ]
    )
    tables = {"subscriptions": ibis.memtable(subs)}
    out = labels_at(tables, date(2025, 2, 1))
    assert out.loc["upgrades", "upsell_label"] == 1  # 100 (January row) -> 200 on March 1
    assert out.loc["flat", "upsell_label"] == 0
    assert out.loc["came_back", "upsell_label"] == 0  # a new customer: no state before the as-of
    assert labels_at(tables, date(2025, 3, 1)).loc["upgrades", "upsell_label"] == 1


def test_a_customer_starting_at_the_as_of_grows_from_its_first_row():
    """Contracts that start on the 1st and monthly as-ofs: the month's new customers are in the
    population with no row before the as-of; one that adds seats within the horizon expanded."""
    subs = pd.concat(
        [
            _monthly("grows", [("2025-02-01", "2025-03-01", 100.0), ("2025-03-01", None, 180.0)]),
            _monthly("stays", [("2025-02-01", None, 100.0)]),
            _monthly("shrinks", [("2025-02-01", "2025-03-01", 100.0), ("2025-03-01", None, 60.0)]),
        ]
    )
    tables = {"subscriptions": ibis.memtable(subs)}
    out = labels_at(tables, date(2025, 2, 1))
    assert out.upsell_label.to_dict() == {"grows": 1, "shrinks": 0, "stays": 0}


def _created(rows: list[tuple[str, str | None]]) -> ibis.Table:
    frame = pd.DataFrame(rows, columns=["account_id", "created_at"])
    return ibis.memtable(
        frame.assign(created_at=pd.to_datetime(frame.created_at, format="ISO8601"))
    )


def test_population_without_subscriptions_runs_from_creation_to_the_first_churn():
    from churnml.snapshots import population

    accounts = _created(
        [
            ("created_at_as_of", "2025-03-01"),
            ("created_just_after", "2025-03-01 00:00:01"),
            ("churned_at_as_of", "2024-06-01"),
            ("churned_just_after", "2024-06-01"),
            ("churned_twice", "2024-06-01"),  # nothing records the return in between
            ("no_creation_date", None),
            ("stays", "2024-06-01"),
        ]
    )
    churns = _churns(
        [
            ("churned_at_as_of", "2025-03-01"),
            ("churned_just_after", "2025-03-01 00:00:01"),
            ("churned_twice", "2025-01-10"),
            ("churned_twice", "2025-04-10"),
        ]
    )
    spine = population({"accounts": accounts}, as_of_table([BOUNDARY]), churns).to_pandas()
    assert sorted(spine.account_id) == ["churned_just_after", "created_at_as_of", "stays"]
    with pytest.raises(ValueError, match="churn source"):
        population({"accounts": accounts}, as_of_table([BOUNDARY]), None)


def test_labels_without_subscriptions_come_from_the_churn_source_alone():
    from churnml.snapshots import population

    accounts = _created(
        [("leaves", "2024-01-01"), ("at_end", "2024-01-01"), ("stays", "2024-01-01")]
    )
    churns = _churns([("leaves", "2025-04-10"), ("at_end", "2025-05-30")])  # +90 days exactly
    spine = population({"accounts": accounts}, as_of_table([BOUNDARY]), churns)
    out = build_labels(None, spine, DEFAULT_LABELS, OBSERVED, churns=churns).to_pandas()
    out = out.set_index("account_id").sort_index()
    assert out.churn_label.to_dict() == {"at_end": 1, "leaves": 1, "stays": 0}
    assert out.loc["leaves", "churn_at"] == pd.Timestamp("2025-04-10")
    # nothing records an upsell: the label is unknown, not "no upsell"
    assert out.upsell_label.isna().all()
    immature = build_labels(None, spine, DEFAULT_LABELS, datetime(2025, 5, 1), churns=churns)
    assert immature.to_pandas().churn_label.isna().all()


def test_upsell_from_expansion_events_without_subscriptions_has_no_mrr_share_to_check():
    from churnml.snapshots import population

    accounts = _created([("x", "2024-01-01"), ("y", "2024-01-01")])
    churns = _churns([("y", "2025-09-01")])
    events = pd.DataFrame(
        {
            "account_id": ["x", "y"],
            "occurred_at": pd.to_datetime(["2025-03-05", "2025-04-01"]),
            "amount": [5.0, -50.0],
        }
    )
    spine = population({"accounts": accounts}, as_of_table([BOUNDARY]), churns)
    out = build_labels(
        None, spine, DEFAULT_LABELS, OBSERVED, churns=churns, expansions=ibis.memtable(events)
    ).to_pandas()
    assert out.set_index("account_id").upsell_label.to_dict() == {"x": 1, "y": 0}


def test_upsell_is_unmeasured_without_subscriptions_or_expansion_events():
    from churnml.labels import unmeasured_targets

    plain = LabelConfig(churn_source="account_status")
    reason = unmeasured_targets({"accounts", "usage_events"}, plain)["upsell"]
    assert reason.startswith("upsell_label: ") and "expansion_events" in reason
    assert unmeasured_targets({"accounts", "subscriptions"}, plain) == {}
    events = LabelConfig(churn_source="account_status", upsell_source="expansion_events")
    assert unmeasured_targets({"accounts", "expansion_events"}, events) == {}
