"""What changed since the last run: each account's score move and the drivers that moved it.

Driver impacts are compared family by family (log-odds from the drivers JSON of both runs), so
"risk up 12 points, mostly support experience" is read off the same explanations CSMs see.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd


def _family_impacts(drivers_json: str | float | None) -> dict[str, float]:
    if not isinstance(drivers_json, str):
        return {}
    d = json.loads(drivers_json)
    return {x["family"]: float(x["impact"]) for x in d.get("risk", []) + d.get("protective", [])}


def _labels(drivers_json: str | float | None) -> dict[str, str]:
    if not isinstance(drivers_json, str):
        return {}
    d = json.loads(drivers_json)
    return {
        x["family"]: x.get("label", x["family"])
        for x in d.get("risk", []) + d.get("protective", [])
    }


def score_changes(
    current: pd.DataFrame, previous: pd.DataFrame | None, lang: str = "en"
) -> pd.DataFrame:
    """Per current account: previous as-of and p_churn, the change in points, and what moved it."""
    out = pd.DataFrame(index=current.index)
    if previous is None or previous.empty:
        out["previous_as_of"] = pd.Series(pd.NaT, index=current.index, dtype="datetime64[us]")
        out["p_churn_previous"] = np.nan
        out["p_churn_change"] = np.nan
        out["change_summary"] = ""
        return out
    prev = previous.drop_duplicates("account_id", keep="last").set_index("account_id")
    ids = current["account_id"]
    out["previous_as_of"] = ids.map(prev["as_of"]).astype("datetime64[us]")
    out["p_churn_previous"] = ids.map(prev["p_churn"]).astype("float64")
    out["p_churn_change"] = (current["p_churn"] - out["p_churn_previous"]).round(6)
    summaries = []
    for account_id, now_json, change in zip(
        ids, current["drivers_json"], out["p_churn_change"], strict=True
    ):
        if pd.isna(change):
            summaries.append("新規スコア" if lang == "ja" else "first score")
            continue
        before = _family_impacts(prev.at[account_id, "drivers_json"])
        after = _family_impacts(now_json)
        labels = {**_labels(prev.at[account_id, "drivers_json"]), **_labels(now_json)}
        moves = {f: after.get(f, 0.0) - before.get(f, 0.0) for f in set(before) | set(after)}
        # the families that moved the score in its direction, largest first
        direction = np.sign(change) or 1.0
        top = sorted(
            (f for f in moves if moves[f] * direction > 0.01), key=lambda f: -abs(moves[f])
        )[:2]
        points = f"{change * 100:+.0f}"
        if lang == "ja":
            head = f"解約リスク {points} pt"
            tail = "、".join(labels.get(f, f) for f in top)
            summaries.append(f"{head}（主な要因: {tail}）" if top else head)
        else:
            head = f"churn risk {points} pts"
            tail = ", ".join(labels.get(f, f) for f in top)
            summaries.append(f"{head}, mostly {tail}" if top else head)
    out["change_summary"] = summaries
    return out
