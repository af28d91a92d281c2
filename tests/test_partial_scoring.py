"""Scoring with one champion: the other target's columns stay empty, the rest still works."""

from __future__ import annotations

import json
import re
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from churnml.config import OutreachConfig, default_config
from churnml.outreach import health_score, outreach_fields
from churnml.report import render_report
from churnml.schemas import validate_scored
from churnml.scoring import score_accounts
from report_data import scored_frame
from test_train import labelled_frame


@pytest.fixture(scope="module")
def bundle():
    from churnml.train import train_target

    cfg = default_config()
    cfg = cfg.model_copy(update={"training": cfg.training.model_copy(update={"n_estimators": 40})})
    return train_target(labelled_frame(n_accounts=200), "churn", {}, cfg).bundle


def features_and_accounts() -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = labelled_frame(n_accounts=30, snapshots=1).drop(columns=["churn_label"])
    frame["contract_arr"] = np.linspace(1_000, 90_000, len(frame))
    accounts = pd.DataFrame({"account_id": frame.account_id, "name": "Acme " + frame.account_id})
    return frame, accounts


def test_health_and_tiers_use_the_model_that_exists():
    p_churn = pd.Series([0.1, 0.5, np.nan])
    p_upsell = pd.Series([np.nan, np.nan, 0.3])
    assert health_score(p_churn, p_upsell).tolist() == [90, 50, 30]
    out = outreach_fields(
        pd.DataFrame({"p_churn": p_churn, "p_upsell": p_upsell}),
        pd.Series([10_000.0] * 3),
        OutreachConfig(),
    )
    assert out.churn_tier.isna().tolist() == [False, False, True]
    assert out.upsell_tier.isna().tolist() == [True, True, False]
    assert out.arr_at_risk.isna().tolist() == [False, False, True]
    assert (out.recommended_play.str.len() > 0).all()  # every account still gets a play


@pytest.mark.parametrize("missing", ["churn", "upsell"])
def test_a_target_without_champion_leaves_its_columns_empty(bundle, missing):
    features, accounts = features_and_accounts()
    models = {"churn": bundle, "upsell": bundle, missing: None}
    versions = {t: "1" for t in models if models[t] is not None}
    scored = score_accounts(
        features,
        accounts,
        models["churn"],
        models["upsell"],
        versions,
        OutreachConfig(),
        datetime(2026, 12, 1),
    ).written()
    scored = validate_scored(scored)
    present = "upsell" if missing == "churn" else "churn"
    assert scored[f"p_{missing}"].isna().all() and scored[f"{missing}_tier"].isna().all()
    assert scored[f"p_{present}"].between(0, 1).all() and scored[f"{present}_tier"].notna().all()
    assert (scored[f"{missing}_model_version"] == "").all()
    if missing == "churn":
        assert scored.health_score.tolist() == (100 * scored.p_upsell).round().astype(int).tolist()
        assert all(json.loads(d) == {"risk": [], "protective": []} for d in scored.drivers_json)
        assert (scored.change_summary == "").all() and scored.arr_at_risk.isna().all()
    else:
        expected = (100 * (1 - scored.p_churn)).round().astype(int)
        assert scored.health_score.tolist() == expected.tolist()
        assert scored.expected_expansion_arr.isna().all()
    assert (scored.play_owner.str.len() > 0).all()


def test_report_shows_empty_scores_as_null_never_nan():
    scored = scored_frame(8)
    scored["p_churn"] = np.nan
    scored["churn_tier"] = pd.Series([None] * len(scored), dtype="str")
    scored["arr_at_risk"] = np.nan
    html = render_report(scored)
    block = re.search(r'id="churnml-data">(.*?)</script>', html, re.S).group(1)
    assert "NaN" not in block  # a browser's JSON.parse refuses NaN
    accounts = json.loads(block)["accounts"]
    assert all(a["p"] is None and a["risk_arr"] is None for a in accounts)


def test_without_contract_arr_money_comes_from_accounts_mrr_or_stays_empty(bundle):
    from churnml.report.sections import unknown_money_section

    features, accounts = features_and_accounts()
    features = features.drop(columns=[c for c in features if c.startswith("contract_")])
    accounts["mrr"] = [100.0 * (i + 1) for i in range(len(accounts))]
    accounts.loc[0, "mrr"] = None  # unknown for this one account only
    args = (bundle, None, {"churn": "1"}, OutreachConfig(), datetime(2026, 12, 1))
    scored = validate_scored(score_accounts(features, accounts, *args).written())
    by_id = scored.set_index("account_id")
    mrr = accounts.set_index("account_id").mrr
    assert np.isnan(by_id.loc[mrr.index[0], "arr"])
    assert np.isnan(by_id.loc[mrr.index[0], "arr_at_risk"])
    known = mrr.index[1:]
    assert np.allclose(by_id.loc[known, "arr"], 12 * mrr[known])
    assert by_id.loc[mrr.index[0], "touch_model"] == "tech"

    scored = validate_scored(
        score_accounts(features, accounts.drop(columns="mrr"), *args).written()
    )
    assert scored.arr.isna().all() and scored.arr_at_risk.isna().all()
    assert scored.p_churn.notna().all() and (scored.touch_model == "tech").all()
    # ranked by churn risk when no money is known
    assert scored.p_churn.is_monotonic_decreasing
    html = render_report(scored, extra_sections=[unknown_money_section()])
    block = re.search(r'id="churnml-data">(.*?)</script>', html, re.S).group(1)
    assert "NaN" not in block
    assert all(a["arr"] is None and a["risk_arr"] is None for a in json.loads(block)["accounts"])
    assert "ARR unknown" in html and "accounts.mrr" in html
