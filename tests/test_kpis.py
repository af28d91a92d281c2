"""The KPI board on the hand-worked book of tests/kpi_book.py."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from churnml.kpis import BOARD_COLUMNS, account_months, kpi_board, unavailable_kpis
from kpi_book import book, config

T = pd.Timestamp


@pytest.fixture(scope="module")
def board() -> pd.DataFrame:
    return kpi_board(book(), config())


def row(board: pd.DataFrame, month: str, segment: str = "all") -> pd.Series:
    hit = board[(board["month"] == T(month)) & (board["segment"] == segment)]
    assert len(hit) == 1, (month, segment)
    return hit.iloc[0]


def test_board_shape_months_and_segments(board):
    assert list(board.columns) == BOARD_COLUMNS
    assert sorted(board["segment"].unique()) == ["ENT", "SMB", "all"]
    months = sorted(board["month"].unique())
    assert [pd.Timestamp(m) for m in months] == list(
        pd.date_range("2025-01-01", periods=6, freq="MS")
    )
    # A churn near the end can still be undone by a return within the gap (data end 15 Jul).
    assert row(board, "2025-05-01")["settled"] and not row(board, "2025-06-01")["settled"]


def test_opening_mrr_and_identity(board):
    expected = [1680.0, 1630.0, 1630.0, 2130.0, 2190.0, 2340.0]
    got = [row(board, f"2025-{m:02d}-01")["opening_mrr"] for m in range(1, 7)]
    assert got == expected
    assert row(board, "2025-06-01")["closing_mrr"] == 1340.0
    flows = (
        board["opening_mrr"]
        + board["new_mrr"]
        + board["reactivation_mrr"]
        + board["expansion_mrr"]
        - board["contraction_mrr"]
        - board["churned_mrr"]
    )
    np.testing.assert_allclose(flows, board["closing_mrr"])


def test_reactivation_is_a_churn_then_a_return(board):
    jan, apr = row(board, "2025-01-01", "SMB"), row(board, "2025-04-01", "SMB")
    assert jan["churned_accounts"] == 1 and jan["churned_mrr"] == 50.0
    assert jan["active_accounts"] == 4  # steady, down, react, blip (blip's gap is no churn)
    assert jan["logo_churn_rate"] == pytest.approx(1 / 4)
    assert apr["reactivated_accounts"] == 1 and apr["reactivation_mrr"] == 60.0
    assert apr["new_accounts"] == 0 and apr["new_mrr"] == 0.0
    assert row(board, "2025-01-01")["grr"] == pytest.approx(1630 / 1680)


def test_downgrade_is_contraction_not_churn(board):
    mar = row(board, "2025-03-01")
    assert mar["contraction_mrr"] == 80.0 and mar["churned_mrr"] == 0.0
    assert mar["churned_accounts"] == 0
    assert mar["new_accounts"] == 2 and mar["new_mrr"] == 580.0
    assert mar["grr"] == pytest.approx(1550 / 1630)
    assert mar["nrr"] == pytest.approx(1550 / 1630)  # new accounts are not retained revenue


def test_annual_contract_churns_once_at_its_end(board):
    ent = board[board["segment"] == "ENT"].set_index("month")
    assert ent.loc[T("2025-06-01"), "churned_mrr"] == 1000.0
    assert ent.loc[T("2025-06-01"), "churned_accounts"] == 1
    assert ent.loc[: T("2025-05-01"), "churned_accounts"].sum() == 0
    assert row(board, "2025-06-01")["grr"] == pytest.approx(1340 / 2340)
    assert row(board, "2025-06-01")["logo_churn_rate"] == pytest.approx(1 / 8)


def test_expansion_counts_in_nrr_not_grr(board):
    may = row(board, "2025-05-01")
    assert may["expansion_mrr"] == 150.0
    assert may["grr"] == 1.0
    assert may["nrr"] == pytest.approx(2340 / 2190)


def test_a_month_with_no_activity(board):
    feb = row(board, "2025-02-01")
    for column in ["new_accounts", "reactivated_accounts", "churned_accounts"]:
        assert feb[column] == 0
    for column in ["new_mrr", "reactivation_mrr", "expansion_mrr", "contraction_mrr"]:
        assert feb[column] == 0.0
    assert feb["churned_mrr"] == 0.0
    assert feb["grr"] == 1.0 and feb["nrr"] == 1.0
    assert feb["active_accounts"] == 5 and feb["arpa"] == pytest.approx(1630 / 5)
    assert feb["nps_responses"] == 0 and np.isnan(feb["nps"])


def test_arpa_and_ltv_from_trailing_revenue_churn(board):
    mar = row(board, "2025-03-01")
    assert mar["arpa"] == pytest.approx(1630 / 5)
    rate = (50 + 0 + 80) / (1680 + 1630 + 1630)
    assert mar["revenue_churn_rate_12m"] == pytest.approx(rate)
    assert mar["ltv"] == pytest.approx((1630 / 5) / rate)


def test_nps_per_month_and_segment(board):
    assert row(board, "2025-05-01")["nps_responses"] == 4
    assert row(board, "2025-05-01")["nps"] == pytest.approx(25.0)  # 2 promoters, 1 detractor
    assert row(board, "2025-05-01", "SMB")["nps"] == pytest.approx(0.0)
    assert row(board, "2025-05-01", "ENT")["nps"] == pytest.approx(50.0)
    assert row(board, "2025-06-01", "ENT")["nps"] == pytest.approx(-100.0)


def test_onboarding_completion_within_the_window(board):
    mar = row(board, "2025-03-01")
    assert mar["onboarding_accounts"] == 2 and mar["onboarding_completed"] == 1
    assert mar["onboarding_completion_rate"] == pytest.approx(0.5)
    assert row(board, "2025-03-01", "ENT")["onboarding_completion_rate"] == 1.0
    assert row(board, "2025-03-01", "SMB")["onboarding_completion_rate"] == 0.0
    assert row(board, "2025-02-01")["onboarding_accounts"] == 0
    # June's starters would still be onboarding on the data end (15 Jul): no figure yet.
    assert pd.isna(row(board, "2025-06-01")["onboarding_accounts"])
    assert row(board, "2025-05-01")["onboarding_accounts"] == 0


def test_trailing_twelve_months_retention():
    board = kpi_board(book(), config(months=12))
    assert board["month"].min() == T("2024-07-01")
    jun = row(board, "2025-06-01")
    # Paying on 1 Jul 2024: steady 100, annual 1000, grow 300; on 1 Jul 2025: 100, 0, 450.
    assert jun["grr_12m"] == pytest.approx(400 / 1400)
    assert jun["nrr_12m"] == pytest.approx(550 / 1400)
    assert np.isnan(row(board, "2025-05-01")["nrr_12m"])


def test_same_rule_as_the_labels_gap():
    """With a 10-day gap acc_blip's 16-day pause is a churn and a reactivation."""
    board = kpi_board(book(), config(reactivation_gap_days=10))
    jan, feb = row(board, "2025-01-01", "SMB"), row(board, "2025-02-01", "SMB")
    assert jan["churned_accounts"] == 2 and jan["churned_mrr"] == 80.0
    assert feb["reactivated_accounts"] == 1 and feb["reactivation_mrr"] == 30.0


def test_recorded_churns_when_the_labels_read_them():
    tables = book()
    tables["churn_events"] = pd.DataFrame(
        {
            "account_id": ["acc_steady"],
            "churned_at": pd.to_datetime(["2025-04-20"]).astype("datetime64[us]"),
        }
    )
    board = kpi_board(tables, config(churn_source="churn_events"))
    apr = row(board, "2025-04-01", "SMB")
    assert apr["churned_accounts"] == 1 and apr["churned_mrr"] == 100.0
    assert row(board, "2025-01-01", "SMB")["churned_accounts"] == 0  # period ends do not count
    assert row(board, "2025-05-01", "SMB")["active_accounts"] == 4


def test_without_subscriptions_mrr_is_unavailable_not_a_crash():
    tables = book()
    del tables["subscriptions"]
    board = kpi_board(tables, config())
    assert board["opening_mrr"].isna().all() and board["grr"].isna().all()
    assert board["active_accounts"].isna().all()
    assert "mrr" in unavailable_kpis(tables, config())
    assert row(board, "2025-05-01")["nps"] == pytest.approx(25.0)


def test_account_months_from_recorded_churns_without_subscriptions():
    tables = book()
    del tables["subscriptions"]
    tables["churn_events"] = pd.DataFrame(
        {
            "account_id": ["acc_annual"],
            "churned_at": pd.to_datetime(["2025-06-15"]).astype("datetime64[us]"),
        }
    )
    board = kpi_board(tables, config(churn_source="churn_events"))
    jun = row(board, "2025-06-01")
    assert jun["churned_accounts"] == 1
    assert row(board, "2025-03-01")["new_accounts"] == 2
    assert jun["active_accounts"] == 8
    assert np.isnan(jun["opening_mrr"])
    moves = account_months(tables, config(churn_source="churn_events"))
    assert moves["reactivated"].isna().all()


def test_a_past_as_of_ends_the_board_before_it():
    board = kpi_board(book(), config(), as_of=date(2025, 4, 15))
    assert board["month"].max() == T("2025-03-01")
    assert row(board, "2025-03-01")["contraction_mrr"] == 80.0


def test_segment_names():
    from churnml.kpis import segment_names

    named = segment_names(pd.Series(["SMB", None, "", "all"], dtype="str"))
    assert named.tolist() == ["SMB", "unassigned", "unassigned", "all (segment)"]


def test_a_missing_contract_column_is_named():
    tables = book()
    tables["subscriptions"] = tables["subscriptions"].drop(columns=["mrr"])
    with pytest.raises(
        ValueError, match=r"table subscriptions lacks the contract column\(s\) \['mrr'\]"
    ):
        kpi_board(tables, config())


def test_accounts_gone_before_the_board_add_no_rows():
    tables = book()
    old = pd.DataFrame(
        {
            "account_id": ["acc_old"],
            "created_at": pd.to_datetime(["2020-01-01"]).astype("datetime64[us]"),
            "segment": ["SMB"],
        }
    )
    tables["accounts"] = pd.concat([tables["accounts"], old], ignore_index=True)
    sub = (
        tables["subscriptions"]
        .iloc[[0]]
        .assign(
            subscription_id="s_old",
            account_id="acc_old",
            start_at=pd.Timestamp("2020-01-01").as_unit("us"),
            end_at=pd.Timestamp("2021-01-01").as_unit("us"),
        )
    )
    tables["subscriptions"] = pd.concat([tables["subscriptions"], sub], ignore_index=True)
    moves = account_months(tables, config())
    assert "acc_old" not in set(moves["account_id"])
    assert len(moves) == 8 * 6


def test_no_complete_month_is_an_empty_board_with_its_types():
    board = kpi_board(book(), config(), as_of=date(2024, 5, 10))
    assert board.empty and list(board.columns) == BOARD_COLUMNS
    assert str(board["month"].dtype) == "datetime64[us]" and board["settled"].dtype == bool


def test_onboarding_milestones_count_whatever_their_spelling():
    """`Setup Done` and `SETUP-DONE` are the milestone `setup_done`, as for the features; two
    spellings of one milestone do not make two milestones."""
    tables = book()
    usage = tables["usage_events"]
    spelt = {"setup_done": "Setup Done", "invite": "INVITE"}
    usage["event_type"] = usage["event_type"].map(lambda v: spelt.get(v, v))
    extra = usage[usage["event_type"] == "Setup Done"].assign(event_type="setup-done")
    tables["usage_events"] = pd.concat([usage, extra], ignore_index=True)
    board = kpi_board(tables, config())
    mar = row(board, "2025-03-01")
    assert mar["onboarding_accounts"] == 2 and mar["onboarding_completed"] == 1
