from datetime import date

import ibis
import pandas as pd
import pytest

from churnml.catalogue import feature_entry
from churnml.config import default_config
from churnml.features import FeatureSpec, build_features, derive_spec
from churnml.snapshots import active_accounts, as_of_table

AS_OF = date(2025, 2, 1)


@pytest.fixture
def spec(tiny_tables) -> FeatureSpec:
    return derive_spec(tiny_tables, default_config())


def features_at(tables, spec, as_of=AS_OF) -> pd.DataFrame:
    spine = active_accounts(tables["subscriptions"], as_of_table([as_of]))
    return build_features(tables, spine, spec).to_pandas().set_index("account_id").sort_index()


def test_usage_windows_exclude_the_as_of_instant(tiny_tables, spec):
    f = features_at(tiny_tables, spec)
    a = f.loc["acc_a"]
    assert a["usage_events_7d"] == 1
    assert a["usage_events_30d"] == 2  # 2025-02-01 00:00 is not before the as-of
    assert a["usage_events_90d"] == 3
    assert a["usage_active_users_30d"] == 2
    assert a["usage_login_30d"] == 1
    assert a["usage_days_since_last_activity"] == 1
    assert a["usage_active_users_per_seat"] == pytest.approx(0.2)
    assert f.loc["acc_c", "usage_active_users_30d"] == 0  # events without user_id


def test_lifetime_counts_reach_before_the_windows(tiny_frames, spec):
    data = dict(tiny_frames)
    old = pd.DataFrame(
        {
            "account_id": ["acc_a"],
            "occurred_at": pd.to_datetime(["2024-03-01 09:00"]),  # 337 days before the as-of
            "event_type": ["login"],
            "user_id": ["u1"],
            "quantity": [1.0],
        }
    )
    data["usage_events"] = pd.concat([tiny_frames["usage_events"], old], ignore_index=True)
    a = features_at({k: ibis.memtable(v) for k, v in data.items()}, spec).loc["acc_a"]
    assert a["usage_events_90d"] == 3  # the old event is in no window ...
    assert a["usage_events_lifetime"] == 4  # ... but in the lifetime (not the as-of instant)
    assert a["usage_login_lifetime"] == 3
    assert a["usage_report_created_lifetime"] == 1
    assert a["usage_active_days_lifetime"] == 4
    months = 397 / 30.4375  # created 2024-01-01
    assert a["usage_events_per_month"] == pytest.approx(4 / months)
    assert a["usage_active_days_per_month"] == pytest.approx(4 / months)


def test_every_event_type_in_every_window_with_trends_and_ratios(tiny_tables, spec):
    f = features_at(tiny_tables, spec)
    a = f.loc["acc_a"]
    assert (a["usage_login_7d"], a["usage_login_30d"], a["usage_login_90d"]) == (0, 1, 2)
    assert (a["usage_report_created_7d"], a["usage_report_created_90d"]) == (1, 1)
    assert a["usage_login_trend_ratio"] == pytest.approx(1.0)  # 1 login now, 1 the month before
    assert a["usage_report_created_trend_ratio"] == pytest.approx(2.0)  # (1 + 1) / (0 + 1)
    assert a["usage_events_per_active_day_90d"] == pytest.approx(1.0)
    assert a["usage_events_per_active_user_30d"] == pytest.approx(1.0)  # 2 events, 2 users
    assert a["contract_mrr_per_seat"] == pytest.approx(50.0)
    assert f.loc["acc_b", "usage_events_per_active_user_30d"] == pytest.approx(1.5)
    assert pd.isna(f.loc["acc_c", "usage_events_per_active_user_30d"])  # no user ids: unknown
    assert f.loc["acc_c", "usage_events_per_active_day_7d"] == 0.0  # no activity: none per day


def test_support_state_read_from_timestamps(tiny_tables, spec):
    a = features_at(tiny_tables, spec).loc["acc_a"]
    assert a["support_open_tickets"] == 1
    assert a["support_open_high_priority_tickets"] == 1
    assert a["support_oldest_open_ticket_days"] == pytest.approx(12)
    assert a["support_escalations_90d"] == 1
    assert a["support_satisfaction_90d"] == pytest.approx(2.0)
    assert a["support_first_response_hours_90d"] == pytest.approx(6.0)
    b = features_at(tiny_tables, spec).loc["acc_b"]
    # t3 closes after the as-of: still open then, and its CSAT is not yet known
    assert b["support_open_tickets"] == 1
    assert pd.isna(b["support_satisfaction_90d"])


def test_contract_and_nps(tiny_tables, spec):
    f = features_at(tiny_tables, spec)
    a = f.loc["acc_a"]
    assert a["contract_mrr"] == 500.0
    assert a["contract_arr"] == 6000.0
    assert a["contract_plan_rank"] == 2
    assert a["nps_last_score"] == 4
    assert a["nps_score_change"] == -4
    assert a["attr_segment"] == "SMB"
    assert a["attr_employee_count"] == 40.0


def test_one_row_per_active_account(tiny_tables, spec):
    f = features_at(tiny_tables, spec)
    assert sorted(f.index) == ["acc_a", "acc_b", "acc_c"]


def test_records_at_or_after_the_as_of_change_nothing(tiny_frames, spec):
    before = features_at({k: ibis.memtable(v) for k, v in tiny_frames.items()}, spec)
    later = dict(tiny_frames)
    extra_events = pd.DataFrame(
        {
            "account_id": ["acc_a", "acc_b"],
            "occurred_at": pd.to_datetime(["2025-02-01 00:00", "2025-03-01 00:00"]),
            "event_type": ["login", "export"],
            "user_id": ["u9", "u9"],
            "quantity": [1.0, 1.0],
        }
    )
    later["usage_events"] = pd.concat(
        [tiny_frames["usage_events"], extra_events], ignore_index=True
    )
    tickets = tiny_frames["support_tickets"].copy()
    tickets.loc[tickets.ticket_id == "t2", "closed_at"] = pd.Timestamp("2025-02-05")
    later["support_tickets"] = tickets
    after = features_at({k: ibis.memtable(v) for k, v in later.items()}, spec)
    pd.testing.assert_frame_equal(before, after)


def test_every_feature_is_in_the_catalogue(tiny_tables, spec):
    f = features_at(tiny_tables, spec)
    for col in f.columns:
        if col == "as_of":
            continue
        entry = feature_entry(col)
        assert entry.family in {"usage", "support", "contract", "nps", "account"}
        assert entry.description != col.replace("_", " "), f"{col} has no catalogue entry"


def test_absent_usage_and_support_tables_drop_their_families(tiny_tables):
    tables = {k: v for k, v in tiny_tables.items() if k not in ("usage_events", "support_tickets")}
    spec = derive_spec(tables, default_config())
    assert spec.families == ("contract", "account", "nps")
    assert FeatureSpec.from_dict(spec.to_dict()) == spec
    f = features_at(tables, spec)
    assert not [c for c in f.columns if c.startswith(("usage_", "support_"))]
    assert f.loc["acc_a", "contract_mrr"] == 500.0
    assert f.loc["acc_a", "nps_last_score"] == 4
    from churnml.schemas import validate_features

    validate_features(f.reset_index())  # the schema does not ask for absent families


def test_a_contract_starting_at_the_as_of_puts_the_account_in_with_no_mrr_yet(tiny_tables, spec):
    from churnml.schemas import validate_features

    subs = tiny_tables["subscriptions"].to_pandas()
    new = subs.iloc[[0]].assign(
        subscription_id="s_new", account_id="acc_new", start_at=pd.Timestamp(AS_OF)
    )
    tables = {**tiny_tables, "subscriptions": ibis.memtable(pd.concat([subs, new]))}
    f = features_at(tables, spec)
    assert f.loc["acc_new", "contract_mrr"] == 0.0  # nothing before the as-of
    validate_features(f.reset_index())


def test_observed_until_uses_the_tables_that_exist(tiny_tables):
    from datetime import datetime

    from churnml.matrix import observed_until

    only = {k: tiny_tables[k] for k in ("accounts", "subscriptions")}
    assert observed_until(only) == datetime(2025, 3, 10)
    churns = pd.DataFrame({"account_id": ["acc_a"], "churned_at": pd.to_datetime(["2025-04-15"])})
    with_events = {**only, "churn_events": ibis.memtable(churns)}
    assert observed_until(with_events) == datetime(2025, 4, 15)


def test_contract_state_is_read_across_a_one_day_renewal_gap(tiny_tables, spec):
    from churnml.features import contract_features

    def rows(account, periods):
        return pd.DataFrame(
            {
                "subscription_id": [f"{account}{i}" for i in range(len(periods))],
                "account_id": account,
                "start_at": pd.to_datetime([p[0] for p in periods]),
                "end_at": pd.to_datetime([p[1] for p in periods]),
                "mrr": [p[2] for p in periods],
                "plan": "growth",
                "seats": [p[3] for p in periods],
                "billing_period": "monthly",
            }
        )

    subs = pd.concat(
        [
            # monthly renewals stored with a one-day gap at each month end
            rows(
                "renews",
                [
                    ("2024-11-01", "2024-11-30", 80.0, 4),
                    ("2024-12-01", "2024-12-31", 100.0, 5),
                    ("2025-01-01", "2025-01-31", 100.0, 5),
                    ("2025-02-01", "2025-02-28", 150.0, 6),
                    ("2025-03-01", None, 150.0, 6),
                ],
            ),
            # gone from December 1 to February 1: longer than the 30-day reactivation gap
            rows(
                "came_back",
                [("2024-10-01", "2024-12-01", 100.0, 5), ("2025-02-01", None, 300.0, 9)],
            ),
        ]
    )
    accounts = pd.DataFrame(
        {"account_id": ["renews", "came_back"], "created_at": pd.to_datetime(["2024-11-01"] * 2)}
    )
    tables = {"subscriptions": ibis.memtable(subs), "accounts": ibis.memtable(accounts)}

    def contract(as_of):
        spine = active_accounts(tables["subscriptions"], as_of_table([as_of]))
        out = contract_features(tables["subscriptions"], tables["accounts"], spine, spec)
        return out.to_pandas().set_index("account_id")

    feb = contract(date(2025, 2, 1))
    assert feb.loc["renews", "contract_mrr"] == 100.0  # the January row, not nothing
    assert feb.loc["renews", "contract_seats"] == 5.0
    assert feb.loc["renews", "contract_days_to_renewal"] == pytest.approx(365.25 / 12 * 2 - 31)
    assert pd.isna(feb.loc["came_back", "contract_mrr"])  # a real churn: no state before it
    mar = contract(date(2025, 3, 1))
    assert mar.loc["renews", "contract_mrr"] == 150.0
    # 90 days before March 1 is December 1, inside the November-December gap: November's MRR
    assert mar.loc["renews", "contract_mrr_change_90d"] == pytest.approx(70.0)
    short = contract_features(
        tables["subscriptions"],
        tables["accounts"],
        active_accounts(tables["subscriptions"], as_of_table([date(2025, 2, 1)])),
        FeatureSpec.from_dict({**spec.to_dict(), "reactivation_gap_days": 1}),
    ).to_pandas()
    # with a 1-day gap rule even a one-day pause is a churn (the instant before Feb 1 is in it)
    assert short.contract_mrr.isna().all()


def test_specs_stored_without_the_reactivation_gap_still_load(spec):
    raw = spec.to_dict()
    raw.pop("reactivation_gap_days")
    assert FeatureSpec.from_dict(raw).reactivation_gap_days == 30
