import json

import pandas as pd

from churnml.changes import score_changes


def drivers(**impacts) -> str:
    risk = [
        {"family": f, "label": f"{f} label", "impact": v, "sentence": ""}
        for f, v in impacts.items()
        if v > 0
    ]
    prot = [
        {"family": f, "label": f"{f} label", "impact": v, "sentence": ""}
        for f, v in impacts.items()
        if v < 0
    ]
    return json.dumps({"risk": risk, "protective": prot})


def test_score_change_and_the_families_that_moved_it():
    previous = pd.DataFrame(
        {
            "account_id": ["a", "b"],
            "as_of": pd.to_datetime(["2025-01-01"] * 2),
            "p_churn": [0.10, 0.50],
            "drivers_json": [drivers(usage=0.2, support=0.1), drivers(usage=0.9, contract=-0.2)],
        }
    )
    current = pd.DataFrame(
        {
            "account_id": ["a", "b", "c"],
            "p_churn": [0.30, 0.40, 0.2],
            "drivers_json": [
                drivers(usage=0.25, support=0.9),
                drivers(usage=0.5, contract=-0.2),
                drivers(usage=0.1),
            ],
        }
    )
    out = score_changes(current, previous)
    assert out.p_churn_change.round(2).tolist()[:2] == [0.2, -0.1]
    assert out.change_summary[0] == "churn risk +20 pts, mostly support label, usage label"
    assert out.change_summary[1] == "churn risk -10 pts, mostly usage label"
    assert out.change_summary[2] == "first score" and pd.isna(out.p_churn_previous[2])
    assert (
        score_changes(current, previous, lang="ja")
        .change_summary[0]
        .startswith("解約リスク +20 pt")
    )


def test_no_previous_run():
    current = pd.DataFrame(
        {"account_id": ["a"], "p_churn": [0.3], "drivers_json": [drivers(usage=0.1)]}
    )
    out = score_changes(current, None)
    assert out.p_churn_change.isna().all() and out.change_summary.tolist() == [""]
