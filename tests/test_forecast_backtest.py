"""The forecast interval is widened to the error past forecasts made (the track record)."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

from churnml.forecast import backtest_rate_errors, forecast_quarter
from test_forecast import config, scored

Z90 = NormalDist().inv_cdf(0.95)


def history() -> pd.DataFrame:
    """Two evaluated as-ofs: forecast churn 4% and expansion 3% of ARR each time; actually
    2% and 6% churned, 3% and 1% expanded."""
    return pd.DataFrame(
        {
            "as_of": pd.to_datetime(["2025-01-01", "2025-02-01"]),
            "forecast_grr": [0.96, 0.96],
            "forecast_nrr": [0.99, 0.99],
            "arr_evaluated": [100_000.0, 200_000.0],
            "arr_churned": [2_000.0, 12_000.0],
            "expansion_arr_realised": [3_000.0, 2_000.0],
        }
    )


def test_rate_errors_are_the_root_mean_square_of_the_misses():
    errors = backtest_rate_errors(history())
    assert errors["as_ofs"] == 2
    assert errors["churned_arr"] == pytest.approx(math.sqrt((0.02**2 + 0.02**2) / 2))
    assert errors["expansion_arr"] == pytest.approx(math.sqrt((0.0**2 + 0.02**2) / 2))


def test_only_outcomes_known_by_the_as_of_count():
    errors = backtest_rate_errors(history(), pd.Timestamp("2025-05-01").date(), 90)
    assert errors["as_ofs"] == 1  # 2025-02-01 + 90 days is after 2025-05-01
    assert errors["churned_arr"] == pytest.approx(0.02)
    assert backtest_rate_errors(history(), pd.Timestamp("2025-03-01").date(), 90) == {"as_ofs": 0}


def test_no_evaluated_forecast_leaves_the_bernoulli_interval():
    assert backtest_rate_errors(None) == {"as_ofs": 0}
    no_forecast = history().drop(columns=["forecast_grr", "forecast_nrr"])
    assert backtest_rate_errors(no_forecast) == {"as_ofs": 0}
    unscored = history().assign(forecast_grr=np.nan, forecast_nrr=np.nan)
    assert backtest_rate_errors(unscored) == {"as_ofs": 0}
    frame = scored([0.1, 0.5, 0.0], [0.0, 0.2, 0.5], [1000.0, 2000.0, 3000.0])
    plain = forecast_quarter(frame, config(), 0.5)
    same = forecast_quarter(frame, config(), 0.5, {"as_ofs": 0})
    pd.testing.assert_frame_equal(plain, same)
    assert (plain["backtest_as_ofs"] == 0).all() and plain["backtest_churn_rate_error"].isna().all()


def test_the_interval_is_at_least_the_backtest_error():
    # many small accounts: the Bernoulli spread is narrow, the past misses were not
    n = 400
    frame = scored([0.05] * n, [0.1] * n, [1000.0] * n)
    plain = forecast_quarter(frame, config(), 0.5).set_index("segment").loc["all"]
    errors = {"as_ofs": 2, "churned_arr": 0.02, "expansion_arr": 0.001}
    wide = forecast_quarter(frame, config(), 0.5, errors).set_index("segment").loc["all"]
    base = 400_000.0
    bernoulli_sd = math.sqrt(n * 0.05 * 0.95 * 1000.0**2)
    assert bernoulli_sd < 0.02 * base
    assert wide["churned_arr"] == plain["churned_arr"] == pytest.approx(20_000)
    assert wide["churned_arr_high"] == pytest.approx(20_000 + Z90 * 0.02 * base)
    assert wide["churned_arr_low"] == pytest.approx(max(20_000 - Z90 * 0.02 * base, 0.0))
    assert plain["churned_arr_high"] == pytest.approx(20_000 + Z90 * bernoulli_sd)
    # the expansion error is smaller than its own Bernoulli spread: that interval stays
    assert wide["expansion_arr_high"] == pytest.approx(plain["expansion_arr_high"])
    assert wide["grr_low"] == pytest.approx(1 - wide["churned_arr_high"] / base)
    grown_sd = (plain["expansion_arr_high"] - plain["expansion_arr"]) / Z90
    net_sd = math.sqrt((0.02 * base) ** 2 + grown_sd**2)
    assert wide["nrr_high"] == pytest.approx(wide["nrr"] + Z90 * net_sd / base)
    assert (wide["backtest_as_ofs"], wide["backtest_churn_rate_error"]) == (2, 0.02)
