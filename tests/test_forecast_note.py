"""The KPI section says what the forecast covers and what its interval counts, in both languages."""

from __future__ import annotations

import pytest

from churnml.forecast import forecast_quarter
from churnml.kpis import kpi_board
from churnml.report.kpis import kpi_section
from kpi_book import book
from kpi_book import config as board_config
from report_data import scored_frame


def section_html(lang: str, backtest=None) -> str:
    cfg = board_config(months=12)
    forecast = forecast_quarter(scored_frame(12), cfg, 0.3, backtest)
    return kpi_section(kpi_board(book(), cfg), forecast, lang).html


def test_the_note_names_the_population_and_the_bernoulli_interval():
    html = section_html("en")
    assert "Expected values for the accounts active at 2026-11-01, at their ARR then" in html
    assert "the interval counts only which accounts happen to churn" in html
    assert "another quarter and another set of accounts" in html


def test_the_note_gives_the_backtest_error_once_forecasts_were_judged():
    html = section_html("en", {"as_ofs": 3, "churned_arr": 0.012, "expansion_arr": 0.008})
    assert "at least as wide as the misses of the 3 past forecast(s)" in html
    assert "churned ARR 1.2% of ARR, expansion ARR 0.8%" in html
    assert "counts only which accounts happen to churn" not in html


@pytest.mark.parametrize("backtest", [None, {"as_ofs": 2, "churned_arr": 0.01}])
def test_japanese_note_has_no_raw_placeholder(backtest):
    html = section_html("ja", backtest)
    assert "2026-11-01 時点のアクティブアカウント" in html
    assert "{" not in html.split("<svg")[0]
    assert ("過去 2 回の予測" in html) == (backtest is not None)
