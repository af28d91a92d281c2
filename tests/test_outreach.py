import json

import numpy as np
import pandas as pd

from churnml.catalogue import sentence
from churnml.config import OutreachConfig
from churnml.explain import account_drivers
from churnml.outreach import health_score, outreach_fields, tier
from churnml.report import render_report


def test_tiers_health_and_touch():
    cfg = OutreachConfig(high_touch_min_arr=50_000, low_touch_min_arr=10_000)
    scores = pd.DataFrame({"p_churn": [0.05, 0.2, 0.6], "p_upsell": [0.5, 0.1, 0.0]})
    out = outreach_fields(scores, pd.Series([80_000.0, 20_000.0, 5_000.0]), cfg)
    assert list(out.churn_tier) == ["low", "medium", "high"]
    assert list(out.touch_model) == ["high", "low", "tech"]
    assert list(out.health_score) == [86, 66, 32]
    assert out.arr_at_risk.tolist() == [4000.0, 4000.0, 3000.0]
    assert (
        "rescue" in out.recommended_play.iloc[2].lower()
        or "re-engagement" in out.recommended_play.iloc[2].lower()
    )


def test_health_score_bounds():
    h = health_score(pd.Series([0.0, 1.0]), pd.Series([1.0, 0.0]))
    assert h.tolist() == [100, 0]
    assert tier(pd.Series([0.35]), (0.15, 0.35)).iloc[0] == "high"


def test_drivers_group_by_family_and_read_as_sentences():
    features = [
        "usage_events_30d",
        "usage_trend_ratio",
        "support_open_tickets",
        "contract_tenure_days",
    ]
    values = pd.Series(
        {
            "usage_events_30d": 12,
            "usage_trend_ratio": 0.4,
            "support_open_tickets": 3,
            "contract_tenure_days": 900,
        }
    )
    d = account_drivers(values, np.array([0.3, 0.5, 0.2, -0.4]), features)
    assert [x["family"] for x in d["risk"]] == ["usage", "support"]
    assert d["risk"][0]["sentence"] == "Usage is at 40% of the previous period"
    assert d["protective"][0]["sentence"] == "Customer for 900 days"
    ja = account_drivers(values, np.array([0.3, 0.5, 0.2, -0.4]), features, lang="ja")
    assert ja["risk"][1]["sentence"] == "未解決の問い合わせが3件"
    assert sentence("support_open_tickets", 3) == "3 tickets still open"


def test_report_escapes_text_from_data():
    drivers = json.dumps({"risk": [{"sentence": "<img src=x onerror=alert(1)>"}], "protective": []})
    scored = pd.DataFrame(
        {
            "account_name": ["<script>alert('x')</script>"],
            "csm_owner": ["Kim"],
            "segment": ["SMB"],
            "as_of": [pd.Timestamp("2025-01-01")],
            "p_churn": [0.5],
            "p_upsell": [0.1],
            "churn_tier": ["high"],
            "health_score": [40],
            "arr_at_risk": [100.0],
            "expected_expansion_arr": [1.0],
            "touch_model": ["tech"],
            "recommended_play": ["Call"],
            "drivers_json": [drivers],
        }
    )
    html = render_report(scored)
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    assert "<img src=x" not in html
