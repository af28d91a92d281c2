import numpy as np
import pandas as pd

from churnml.catalogue import sentence
from churnml.config import OutreachConfig
from churnml.explain import account_drivers
from churnml.outreach import health_score, outreach_fields, tier


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


def test_expected_expansion_uses_the_measured_expansion_share_else_the_configured_one():
    """An expansion that adds 90% of ARR in the history is sized as such, not at the
    configured 20% (which only stands in when the history has no expansion)."""
    cfg = OutreachConfig(expected_expansion_share=0.2)
    scores = pd.DataFrame({"p_churn": [0.1, 0.1], "p_upsell": [0.5, 0.25]})
    arr = pd.Series([10_000.0, 4_000.0])
    measured = outreach_fields(scores, arr, cfg, expansion_share=0.9)
    assert measured.expected_expansion_arr.tolist() == [4500.0, 900.0]
    assert outreach_fields(scores, arr, cfg).expected_expansion_arr.tolist() == [1000.0, 200.0]


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


def test_a_count_of_one_reads_in_the_singular():
    assert sentence("contract_days_to_renewal", 1) == "Renewal in 1 day"
    assert sentence("contract_days_to_renewal", 2) == "Renewal in 2 days"
    assert sentence("support_open_tickets", 1) == "1 ticket still open"
    assert sentence("support_high_priority_tickets_30d", 1) == (
        "1 high-priority ticket in the last 30 days"
    )
    assert sentence("usage_report_created_7d", 1) == "1 'report created' event in the last 7 days"
    assert sentence("activity_human_touches_30d", 1) == "1 personal CS touch in the last 30 days"
    assert sentence("usage_active_days_30d", 1) == "Active on 1 of the last 30 days"  # the window
    assert sentence("contract_days_to_renewal", 1, lang="ja") == "更新まで1日"


def _fields(p_churn, p_upsell, arr, family, cfg=None):
    cfg = cfg or OutreachConfig()
    scores = pd.DataFrame({"p_churn": p_churn, "p_upsell": p_upsell})
    return outreach_fields(scores, pd.Series(arr, dtype=float), cfg, pd.Series(family))


def test_playbook_first_matching_rule_wins_and_uses_the_top_driver_family():
    out = _fields(
        [0.6, 0.6, 0.6, 0.25, 0.05, 0.05],
        [0.0, 0.0, 0.0, 0.0, 0.5, 0.0],
        [80_000, 20_000, 20_000, 20_000, 80_000, 5_000],
        ["usage", "support", "usage", "contract", "usage", ""],
    )
    assert out.play_name.tolist() == [
        "Executive rescue",  # high risk, high touch: before the support rule
        "Support recovery",
        "Re-onboarding",
        "Renewal preparation",
        "Expansion conversation",
        "Automated nurture",  # the catch-all
    ]
    assert out.play_due_days.tolist() == [5, 3, 7, 14, 14, 30]


def test_play_owner_is_the_csm_or_the_queue():
    from churnml.outreach import play_owner

    cfg = OutreachConfig()
    out = _fields([0.6, 0.6, 0.05], [0.0, 0.0, 0.0], [20_000, 5_000, 20_000], ["usage"] * 3, cfg)
    owners = play_owner(pd.Series(["Kim", "Lee", None]), out, out.touch_model)
    # a CSM-owned play goes to the CSM; a queue play (tech-touch re-engagement) to the queue;
    # a CSM-owned play on an account without a CSM falls back to the touch model's queue
    assert owners.tolist() == ["Kim", "CS tech-touch queue", "CS low-touch queue"]


def test_playbook_from_config_replaces_the_default():
    cfg = OutreachConfig(
        playbook=[
            {
                "name": "Call now",
                "action": "Call",
                "churn_tier": ["high"],
                "queue": "Rescue team",
                "owner": "queue",
                "due_in_days": 1,
            },
            {"name": "Wait", "action": "Nothing", "due_in_days": 60},
        ]
    )
    out = _fields([0.9, 0.01], [0.0, 0.0], [1.0, 1.0], ["usage", "usage"], cfg)
    assert out.play_name.tolist() == ["Call now", "Wait"]
    assert out.play_queue.tolist() == ["Rescue team", ""]


def test_playbook_config_errors_are_clear():
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="unknown touch_model"):
        OutreachConfig(playbook=[{"name": "x", "action": "y", "touch_model": ["medium-touch"]}])
    with pytest.raises(ValidationError, match="last rule must match every account"):
        OutreachConfig(playbook=[{"name": "x", "action": "y", "churn_tier": ["high"]}])
    with pytest.raises(ValidationError, match="unknown top_driver_family"):
        OutreachConfig(
            playbook=[
                {"name": "x", "action": "y", "top_driver_family": ["usage_decline"]},
                {"name": "z", "action": "w"},
            ]
        )
