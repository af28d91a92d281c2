"""The evaluate headline says plainly when a target cannot be judged, never "nan"."""

from __future__ import annotations

import pytest

from churnml.report import headline
from churnml.track_record import track_record
from test_track_record import OBSERVED, happened, mrr, scores


def summary(scored=None, outcome=None) -> dict:
    scored = scores() if scored is None else scored
    outcome = happened() if outcome is None else outcome
    return track_record(scored, outcome, mrr(), 1, OBSERVED, calibration_bins=2).summary


def no_upsell_scores():
    return scores().assign(p_upsell=float("nan"), upsell_tier=None, expected_expansion_arr=None)


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_both_targets_judged_give_both_roc_aucs(lang):
    text = headline(summary(), lang)
    assert "0.750" in text and "1.000" in text and "nan" not in text.lower()


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_a_target_no_model_scored_says_so_instead_of_nan(lang):
    text = headline(summary(no_upsell_scores()), lang)
    assert "nan" not in text.lower()
    assert "0.750" in text  # churn still judged
    if lang == "en":
        assert "Upsell: nothing to judge: no upsell model scored this run." in text
    else:
        assert "アップセルモデルがスコアを付けていない" in text


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_churn_only_data_says_upsell_has_no_outcomes(lang):
    churn_only = happened().assign(upsell_label=None)
    text = headline(summary(no_upsell_scores(), churn_only), lang)
    assert "nan" not in text.lower()
    if lang == "en":
        assert "Upsell: nothing to judge: the data records no upsell outcomes." in text
        assert "expansion ARR" not in text
    else:
        assert "データにアップセルの結果がない" in text


def test_one_outcome_for_every_account_is_named_not_printed_as_nan():
    nobody_expanded = happened().assign(upsell_label=0)
    text = headline(summary(outcome=nobody_expanded))
    assert "nan" not in text.lower()
    assert "every evaluated account had the same upsell outcome (0 expanded)" in text
