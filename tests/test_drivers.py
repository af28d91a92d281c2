"""Drivers as a long frame: the written JSON and text are those of the JSON-per-account code."""

import json

import numpy as np
import pandas as pd

from churnml.changes import score_changes
from churnml.explain import (
    DRIVER_COLUMNS,
    driver_frame,
    driver_json,
    driver_text,
    drivers_from_json,
    stored_drivers,
    top_family,
    with_driver_json,
)

FEATURES = [
    "usage_events_30d",
    "usage_trend_ratio",
    "support_open_tickets",
    "contract_tenure_days",
    "nps_last_score",
]
FRAME = pd.DataFrame(
    {
        "account_id": ["a", "b", "c"],
        "usage_events_30d": [12, np.nan, 3],
        "usage_trend_ratio": [0.4, 1.2, 0.123456],
        "support_open_tickets": [3, 0, 1],
        "contract_tenure_days": [900, 30, 400],
        "nps_last_score": [9, np.nan, 2],
    }
)
CONTRIB = np.array(
    [[0.3, 0.5, 0.2, -0.4, -0.01], [-0.1, -0.2, 0.0, 0.7, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0]]
)
IDS = ["a", "b", "c"]
# written by the code that kept drivers as one JSON string per account
JSON_EN = [
    '{"risk": [{"family": "usage", "label": "product usage", "impact": 0.8, "feature": "usage_trend_ratio", "value": 0.4, "sentence": "Usage is at 40% of the previous period"}, {"family": "support", "label": "support experience", "impact": 0.2, "feature": "support_open_tickets", "value": 3, "sentence": "3 tickets still open"}], "protective": [{"family": "contract", "label": "contract and billing", "impact": -0.4, "feature": "contract_tenure_days", "value": 900, "sentence": "Customer for 900 days"}, {"family": "nps", "label": "survey sentiment (NPS)", "impact": -0.01, "feature": "nps_last_score", "value": 9.0, "sentence": "Last NPS answer was 9"}]}',  # noqa: E501
    '{"risk": [{"family": "contract", "label": "contract and billing", "impact": 0.7, "feature": "contract_tenure_days", "value": 30, "sentence": "Customer for 30 days"}], "protective": [{"family": "usage", "label": "product usage", "impact": -0.3, "feature": "usage_trend_ratio", "value": 1.2, "sentence": "Usage is at 120% of the previous period"}]}',  # noqa: E501
    '{"risk": [], "protective": []}',
]
TEXT_EN = [
    "Risk: Usage is at 40% of the previous period; 3 tickets still open. "
    "Protective: Customer for 900 days; Last NPS answer was 9.",
    "Risk: Customer for 30 days. Protective: Usage is at 120% of the previous period.",
    "Risk: none. Protective: none.",
]
JSON_JA_FIRST = '{"risk": [{"family": "usage", "label": "製品の利用状況", "impact": 0.8, "feature": "usage_trend_ratio", "value": 0.4, "sentence": "利用量は前期間の40%です"}, {"family": "support", "label": "サポート対応", "impact": 0.2, "feature": "support_open_tickets", "value": 3, "sentence": "未解決の問い合わせが3件"}], "protective": [{"family": "contract", "label": "契約・請求", "impact": -0.4, "feature": "contract_tenure_days", "value": 900, "sentence": "契約期間は900日"}, {"family": "nps", "label": "NPS（顧客推奨度）", "impact": -0.01, "feature": "nps_last_score", "value": 9.0, "sentence": "直近のNPS回答は9"}]}'  # noqa: E501
TEXT_JA_FIRST = "リスク要因: 利用量は前期間の40%です; 未解決の問い合わせが3件 / 好材料: 契約期間は900日; 直近のNPS回答は9"  # noqa: E501


def test_long_frame_is_written_as_the_same_json_and_text():
    drivers = driver_frame(FRAME, CONTRIB, FEATURES, "churn")
    assert list(drivers.columns) == DRIVER_COLUMNS
    assert len(drivers) == 6 and set(drivers["account_id"]) == {"a", "b"}
    assert driver_json(drivers, IDS, "churn") == JSON_EN
    assert driver_text(drivers, IDS, "churn") == TEXT_EN
    ja = driver_frame(FRAME, CONTRIB, FEATURES, "churn", lang="ja")
    assert driver_json(ja, IDS, "churn")[0] == JSON_JA_FIRST
    assert driver_text(ja, IDS, "churn", lang="ja")[0] == TEXT_JA_FIRST


def test_stored_json_reads_back_to_the_same_frame_and_json():
    drivers = driver_frame(FRAME, CONTRIB, FEATURES, "churn")
    back = drivers_from_json(IDS, JSON_EN, "churn")
    pd.testing.assert_frame_equal(back, drivers)
    assert driver_json(back, IDS, "churn") == JSON_EN
    table = with_driver_json(pd.DataFrame({"account_id": IDS}), drivers)
    assert table["drivers_json"].tolist() == JSON_EN
    assert table["upsell_drivers_json"].tolist() == ['{"risk": [], "protective": []}'] * 3
    assert len(stored_drivers(table.assign(drivers_json=[None, "", JSON_EN[2]]))) == 0


def test_top_family_is_the_strongest_risk_driver():
    drivers = driver_frame(FRAME, CONTRIB, FEATURES, "churn")
    assert top_family(drivers, pd.Series(["c", "b", "a"])).tolist() == ["", "contract", "usage"]


def test_score_changes_reads_the_long_frames_like_the_stored_json():
    drivers = driver_frame(FRAME, CONTRIB, FEATURES, "churn")
    later = driver_frame(FRAME, CONTRIB[[1, 0, 2]], FEATURES, "churn")
    previous = pd.DataFrame(
        {
            "account_id": IDS,
            "as_of": pd.to_datetime(["2025-01-01"] * 3),
            "p_churn": [0.2, 0.5, 0.1],
            "drivers_json": JSON_EN,
        }
    )
    current = pd.DataFrame({"account_id": IDS, "p_churn": [0.4, 0.3, 0.1]})
    from_frames = score_changes(current, previous, drivers=later, previous_drivers=drivers)
    stored = current.assign(drivers_json=driver_json(later, IDS, "churn"))
    from_json = score_changes(stored, previous)
    pd.testing.assert_frame_equal(from_frames, from_json)
    assert from_frames["change_summary"].tolist() == [
        "churn risk +20 pts, mostly contract and billing",
        "churn risk -20 pts, mostly contract and billing",
        "churn risk +0 pts",
    ]
    assert json.loads(JSON_EN[2]) == {"risk": [], "protective": []}
