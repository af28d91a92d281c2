"""A small scored frame shaped like the scoring flow's output, for report tests."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

PAYLOAD = "<script>window.__pwned = 1</script>"


def _drivers(families: list[str], impacts: list[float], sentences: list[str]) -> str:
    risk = [
        {"family": f, "label": f, "impact": i, "feature": f + "_x", "value": 1, "sentence": s}
        for f, i, s in zip(families, impacts, sentences, strict=True)
        if i > 0
    ]
    protective = [
        {"family": f, "label": f, "impact": i, "feature": f + "_x", "value": 1, "sentence": s}
        for f, i, s in zip(families, impacts, sentences, strict=True)
        if i < 0
    ]
    return json.dumps({"risk": risk, "protective": protective}, ensure_ascii=False)


def scored_frame(n: int = 40, seed: int = 0, as_of: str = "2026-11-01") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.01, 0.7, n)
    tiers = np.where(p >= 0.35, "high", np.where(p >= 0.15, "medium", "low"))
    arr = rng.choice([6_000.0, 24_000.0, 120_000.0], n)
    names = [f"Account {i:02d}" for i in range(n)]
    if n:
        names[0] = PAYLOAD  # customer input must never run
    categories = ["usage", "support", "contract"]
    drivers = [
        _drivers(
            [categories[i % 3], categories[(i + 1) % 3], "nps"],
            [0.4 + 0.01 * i, 0.2, -0.3],
            [f"Active users fell from {40 + i} to 17", "3 high-priority tickets open", "NPS 9"],
        )
        for i in range(n)
    ]
    if n > 1:
        drivers[1] = _drivers(["support"], [0.5], ["Category <img src=x onerror=alert(1)> open"])
    return pd.DataFrame(
        {
            "account_id": [f"acc_{i:03d}" for i in range(n)],
            "account_name": names,
            "segment": rng.choice(["SMB", "Mid-Market", "Enterprise"], n),
            "csm_owner": rng.choice(["Kim", "Lee", "佐藤"], n),
            "as_of": pd.Timestamp(as_of),
            "p_churn": p,
            "p_upsell": rng.uniform(0.0, 0.5, n),
            "churn_tier": tiers,
            "upsell_tier": np.where(rng.uniform(size=n) > 0.7, "high", "low"),
            "health_score": (100 * (1 - p)).round().astype(int),
            "arr": arr,
            "arr_at_risk": (p * arr).round(2),
            "expected_expansion_arr": (0.1 * arr).round(2),
            "touch_model": np.where(arr >= 50_000, "high", np.where(arr >= 10_000, "low", "tech")),
            "play_name": np.where(tiers == "high", "Executive rescue", "Office hours"),
            "recommended_play": "Call the sponsor",
            "play_owner": rng.choice(["Kim", "Lee", "CS tech-touch queue"], n),
            "play_due": pd.Timestamp(as_of) + pd.Timedelta(days=7),
            "drivers_json": drivers,
            "upsell_drivers_json": [_drivers(["usage"], [0.3], ["Seats nearly full"])] * n,
            "p_churn_change": rng.normal(0, 0.05, n),
            "change_summary": "churn risk up 3.0 pt: product usage",
        }
    )
