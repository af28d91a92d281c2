"""From calibrated probabilities to what a CSM does: health, tiers, ARR at stake, touch, play.

Health score (0-100): ``100 * (0.8 * (1 - p_churn) + 0.2 * p_upsell)``, rounded. Retention
risk dominates; expansion readiness lifts healthy accounts. A score of 80 means a low churn
risk, below 50 a churn risk of at least about 40%.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnml.config import OutreachConfig

TIERS = ("low", "medium", "high")


def tier(probability: pd.Series, thresholds: tuple[float, float]) -> pd.Series:
    """low / medium / high by two thresholds on a calibrated probability."""
    low, high = thresholds
    values = np.where(probability >= high, "high", np.where(probability >= low, "medium", "low"))
    return pd.Series(values, index=probability.index, dtype="str")


def health_score(p_churn: pd.Series, p_upsell: pd.Series) -> pd.Series:
    return (100 * (0.8 * (1 - p_churn) + 0.2 * p_upsell)).round().astype("int64")


def touch_model(arr: pd.Series, cfg: OutreachConfig) -> pd.Series:
    """high-touch for the largest accounts, low-touch for the middle, tech-touch for the rest."""
    values = np.where(
        arr >= cfg.high_touch_min_arr, "high", np.where(arr >= cfg.low_touch_min_arr, "low", "tech")
    )
    return pd.Series(values, index=arr.index, dtype="str")


DEFAULT_PLAYS = {
    (
        "high",
        "high",
    ): "Executive business review within a week: agree a rescue plan with the sponsor",
    ("high", "low"): "1:1 call with the admin; fix the top issue and book a training session",
    ("high", "tech"): "Automated re-engagement sequence and an in-app guide to the unused features",
    ("medium", "high"): "Schedule a health check call and review adoption goals",
    ("medium", "low"): "Invite to the next webinar and send a usage review",
    ("medium", "tech"): "Send best-practice content matched to the account's usage",
    ("expand", "high"): "Expansion conversation: propose more seats or the next plan",
    (
        "expand",
        "low",
    ): "Share upgrade benefits in a group session and offer a trial of the next plan",
    ("expand", "tech"): "In-app upgrade offer",
    ("low", "high"): "Keep the cadence: quarterly business review",
    ("low", "low"): "Keep the cadence: monthly newsletter and office hours",
    ("low", "tech"): "No action: automated nurture",
}


def recommend_play(churn_tier: pd.Series, upsell_tier: pd.Series, touch: pd.Series) -> pd.Series:
    """Rescue first, then expansion, then cadence; the touch model decides how."""
    keys = np.where(
        churn_tier.isin(["high", "medium"]),
        churn_tier,
        np.where(upsell_tier == "high", "expand", "low"),
    )
    plays = [DEFAULT_PLAYS[(k, t)] for k, t in zip(keys, touch, strict=True)]
    return pd.Series(plays, index=churn_tier.index, dtype="str")


def outreach_fields(scores: pd.DataFrame, arr: pd.Series, cfg: OutreachConfig) -> pd.DataFrame:
    """Tiers, health, ARR at risk, expected expansion, touch model, play and due date."""
    out = pd.DataFrame(index=scores.index)
    out["churn_tier"] = tier(scores["p_churn"], cfg.churn_tier_thresholds)
    out["upsell_tier"] = tier(scores["p_upsell"], cfg.upsell_tier_thresholds)
    out["health_score"] = health_score(scores["p_churn"], scores["p_upsell"])
    out["arr"] = arr.fillna(0.0).astype("float64")
    out["arr_at_risk"] = (scores["p_churn"] * out["arr"]).round(2)
    out["expected_expansion_arr"] = (
        scores["p_upsell"] * out["arr"] * cfg.expected_expansion_share
    ).round(2)
    out["touch_model"] = touch_model(out["arr"], cfg)
    out["recommended_play"] = recommend_play(
        out["churn_tier"], out["upsell_tier"], out["touch_model"]
    )
    return out
