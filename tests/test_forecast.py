"""Next quarter's forecast: hand-computed sums, horizon scaling, and the variance by simulation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnml.config import default_config
from churnml.forecast import (
    expansion_share_from_history,
    forecast_quarter,
    forecast_vs_actual,
    quarter_probability,
)
from churnml.kpis import account_months
from kpi_book import book
from kpi_book import config as board_config


def config(churn_horizon: int = 90, upsell_horizon: int = 90, share: float = 0.2):
    cfg = default_config()
    return cfg.model_copy(
        update={
            "labels": cfg.labels.model_copy(
                update={
                    "churn_horizon_days": churn_horizon,
                    "upsell_horizon_days": upsell_horizon,
                }
            ),
            "outreach": cfg.outreach.model_copy(update={"expected_expansion_share": share}),
        }
    )


def scored(p_churn, p_upsell, arr, segments=None, as_of="2025-01-01") -> pd.DataFrame:
    n = len(arr)
    return pd.DataFrame(
        {
            "account_id": [f"acc_{i}" for i in range(n)],
            "segment": segments or ["SMB"] * n,
            "as_of": pd.Timestamp(as_of),
            "p_churn": p_churn,
            "p_upsell": p_upsell,
            "arr": arr,
        }
    )


def test_hand_computed_quarter():
    # 1 Jan to 1 Apr 2025 is 90 days: the 90-day model horizon needs no rescaling.
    frame = scored([0.1, 0.5, 0.0], [0.0, 0.2, 0.5], [1000.0, 2000.0, 3000.0])
    out = forecast_quarter(frame, config(), expansion_share=0.5).set_index("segment")
    smb = out.loc["SMB"]
    assert smb["quarter_days"] == 90.0
    assert smb["quarter_end"] == pd.Timestamp("2025-04-01")
    assert smb["base_arr"] == 6000.0 and smb["accounts"] == 3
    assert smb["churned_arr"] == pytest.approx(100 + 1000)
    assert smb["expansion_arr"] == pytest.approx(0.2 * 1000 + 0.5 * 1500)
    assert smb["grr"] == pytest.approx(1 - 1100 / 6000)
    assert smb["nrr"] == pytest.approx(1 + (950 - 1100) / 6000)
    churn_sd = np.sqrt(0.1 * 0.9 * 1000**2 + 0.25 * 2000**2)
    z = 1.6448536269514722  # 90% two-sided
    assert smb["churned_arr_high"] == pytest.approx(1100 + z * churn_sd)
    assert smb["grr_low"] == pytest.approx(1 - (1100 + z * churn_sd) / 6000)
    net_sd = np.sqrt(churn_sd**2 + 0.16 * 1000**2 + 0.25 * 1500**2)
    assert smb["nrr_high"] == pytest.approx(smb["nrr"] + z * net_sd / 6000)
    assert smb["expansion_basis"] == "history"
    assert out.loc["all", "churned_arr"] == smb["churned_arr"]  # one segment: all is the same
    assert out.loc["all", "nrr"] == smb["nrr"]


def test_model_horizon_is_rescaled_to_the_quarter():
    # A 30-day model: staying three 30-day spells in a row, at a constant hazard.
    p = quarter_probability(pd.Series([0.1, 0.0, 1.0]), 30, 90)
    np.testing.assert_allclose(p, [1 - 0.9**3, 0.0, 1.0])
    out = forecast_quarter(scored([0.1], [0.1], [1200.0]), config(churn_horizon=30), 0.5)
    assert out.iloc[0]["churned_arr"] == pytest.approx((1 - 0.9**3) * 1200)
    assert out.iloc[0]["expansion_arr"] == pytest.approx(0.1 * 600)


def test_variance_formula_matches_a_simulation():
    rng = np.random.default_rng(7)
    n = 300
    p_churn, p_upsell = rng.beta(1, 8, n), rng.beta(1, 5, n)
    arr = rng.lognormal(9, 1, n)
    out = forecast_quarter(scored(p_churn, p_upsell, arr), config(), 0.3).iloc[0]
    draws = 20_000
    churned = (rng.random((draws, n)) < p_churn) @ arr
    grown = (rng.random((draws, n)) < p_upsell) @ (0.3 * arr)
    assert churned.mean() == pytest.approx(out["churned_arr"], rel=0.01)
    z = 1.6448536269514722
    sd = (out["churned_arr_high"] - out["churned_arr"]) / z
    assert churned.std() == pytest.approx(sd, rel=0.03)
    inside = (churned >= out["churned_arr_low"]) & (churned <= out["churned_arr_high"])
    assert inside.mean() == pytest.approx(0.9, abs=0.02)
    nrr = 1 + (grown - churned) / arr.sum()
    inside = (nrr >= out["nrr_low"]) & (nrr <= out["nrr_high"])
    assert inside.mean() == pytest.approx(0.9, abs=0.02)


def test_segments_and_a_missing_upsell_champion():
    frame = scored([0.2, 0.4], [np.nan, np.nan], [1000.0, 500.0], segments=["SMB", None])
    out = forecast_quarter(frame, config(), None).set_index("segment")
    assert sorted(out.index) == ["SMB", "all", "unassigned"]
    assert out.loc["unassigned", "churned_arr"] == pytest.approx(200.0)
    assert out.loc["all", "grr"] == pytest.approx(1 - 400 / 1500)
    assert np.isnan(out.loc["all", "nrr"]) and np.isnan(out.loc["all", "expansion_arr"])
    assert out.loc["all", "expansion_basis"] == "outreach.expected_expansion_share"


def test_expansion_share_from_the_board_history():
    tables = book()
    cfg = board_config()
    moves = account_months(tables, cfg)
    # Only acc_grow expanded (300 -> 450); accounts starting to pay are new, not expansions.
    assert expansion_share_from_history(moves, cfg) == pytest.approx(0.5)
    strict = cfg.model_copy(
        update={"labels": cfg.labels.model_copy(update={"upsell_min_mrr_share": 0.6})}
    )
    assert expansion_share_from_history(moves, strict) is None


def test_forecast_beside_what_happened():
    frame = scored([0.1, 0.5, 0.0], [0.0, 0.2, 0.5], [1000.0, 2000.0, 3000.0])
    forecast = forecast_quarter(frame, config(), expansion_share=0.5)
    summary = {"arr_evaluated": 6000.0, "arr_churned": 2000.0, "expansion_arr_realised": 600.0}
    out = forecast_vs_actual(forecast, summary).set_index("measure")
    assert out.loc["churned_arr", "actual"] == 2000.0
    assert out.loc["churned_arr", "forecast"] == pytest.approx(1100.0)
    assert out.loc["grr", "actual"] == pytest.approx(1 - 2000 / 6000)
    assert out.loc["nrr", "actual"] == pytest.approx(1 + (600 - 2000) / 6000)
    high = out.loc["churned_arr", "high"]
    assert out.loc["churned_arr", "inside"] == (high >= 2000.0)
    assert out.loc["expansion_arr", "inside"]


def test_expansion_share_weighs_expansions_by_their_money():
    moves = pd.DataFrame(
        {
            "month": pd.to_datetime(["2025-01-01", "2025-02-01", "2025-02-01"]),
            "opening_mrr": [50.0, 1000.0, 100.0],
            "closing_mrr": [500.0, 1100.0, 100.0],
        }
    )
    # (450 + 100) / (50 + 1000), not the mean of 900% and 10%
    assert expansion_share_from_history(moves, config()) == pytest.approx(550 / 1050)
