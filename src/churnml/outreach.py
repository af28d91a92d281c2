"""From calibrated probabilities to what a CSM does: health, tiers, ARR at stake, touch, play.

Health score (0-100): ``100 * (0.8 * (1 - p_churn) + 0.2 * p_upsell)``, rounded. Retention
risk dominates; expansion readiness lifts healthy accounts. A score of 80 means a low churn
risk, below 50 a churn risk of at least about 40%.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnml.config import OutreachConfig, PlayRule


def tier(probability: pd.Series, thresholds: tuple[float, float]) -> pd.Series:
    """low / medium / high by two thresholds on a calibrated probability (empty when missing)."""
    low, high = thresholds
    values = np.where(probability >= high, "high", np.where(probability >= low, "medium", "low"))
    return pd.Series(values, index=probability.index, dtype="str").where(probability.notna())


def health_score(p_churn: pd.Series, p_upsell: pd.Series) -> pd.Series:
    """Weighted as in the module docstring. A target without a model drops out and the other's
    weight becomes 1: churn alone gives ``100 * (1 - p_churn)``, upsell alone ``100 * p_upsell``."""
    retention = (1 - p_churn) * 0.8
    expansion = p_upsell * 0.2
    weight = 0.8 * p_churn.notna() + 0.2 * p_upsell.notna()
    total = retention.fillna(0.0) + expansion.fillna(0.0)
    return (100 * total / weight.where(weight > 0)).fillna(0.0).round().astype("int64")


def touch_model(arr: pd.Series, cfg: OutreachConfig) -> pd.Series:
    """high-touch for the largest accounts, low-touch for the middle, tech-touch for the rest
    (and for accounts whose ARR is unknown)."""
    values = np.where(
        arr >= cfg.high_touch_min_arr, "high", np.where(arr >= cfg.low_touch_min_arr, "low", "tech")
    )
    return pd.Series(values, index=arr.index, dtype="str")


def recommend_play(
    churn_tier: pd.Series,
    upsell_tier: pd.Series,
    touch: pd.Series,
    top_driver_family: pd.Series,
    playbook: list[PlayRule],
) -> pd.DataFrame:
    """The first playbook rule each account matches: play name, action, owner rule and due days.

    Rules are evaluated as vectorised masks in order, so a 100k-account run costs a few
    comparisons per rule, not a Python loop per account.
    """
    n = len(churn_tier)
    chosen = np.full(n, -1, dtype=np.int64)
    facts = {
        "churn_tier": churn_tier.to_numpy(dtype=object),
        "upsell_tier": upsell_tier.to_numpy(dtype=object),
        "touch_model": touch.to_numpy(dtype=object),
        "top_driver_family": top_driver_family.to_numpy(dtype=object),
    }
    for k, rule in enumerate(playbook):
        match = chosen < 0
        for field, values in facts.items():
            allowed = getattr(rule, field)
            if allowed is not None:
                match &= np.isin(values, allowed)
        chosen[match] = k
    if (chosen < 0).any():  # the config validator requires a catch-all last rule
        raise ValueError(
            "no playbook rule matched some accounts; end the playbook with a catch-all"
        )
    rules = [playbook[k] for k in chosen]
    return pd.DataFrame(
        {
            "play_name": [r.name for r in rules],
            "recommended_play": [r.action for r in rules],
            "play_owner_rule": [r.owner for r in rules],
            "play_queue": [r.queue or "" for r in rules],
            "play_due_days": [r.due_in_days for r in rules],
        },
        index=churn_tier.index,
    )


def play_owner(csm_owner: pd.Series, plays: pd.DataFrame, touch: pd.Series) -> pd.Series:
    """The account's CSM for CSM-owned plays; otherwise (or without a CSM) the play's queue."""
    queue = plays["play_queue"].where(plays["play_queue"] != "", "CS " + touch + "-touch queue")
    csm = csm_owner.astype("object").where(csm_owner.notna() & (csm_owner.astype("str") != ""))
    owner = csm.where(plays["play_owner_rule"] == "csm").fillna(queue)
    return owner.astype("str")


def outreach_fields(
    scores: pd.DataFrame,
    arr: pd.Series,
    cfg: OutreachConfig,
    top_driver_family: pd.Series | None = None,
    expansion_share: float | None = None,
) -> pd.DataFrame:
    """Tiers, health, ARR at risk, expected expansion, touch model and the playbook's play.

    ``expansion_share`` is the ARR growth of an expansion measured on the history (the
    forecast's, forecast.expansion_share_from_history); None falls back to
    ``cfg.expected_expansion_share``."""
    out = pd.DataFrame(index=scores.index)
    out["churn_tier"] = tier(scores["p_churn"], cfg.churn_tier_thresholds)
    out["upsell_tier"] = tier(scores["p_upsell"], cfg.upsell_tier_thresholds)
    out["health_score"] = health_score(scores["p_churn"], scores["p_upsell"])
    out["arr"] = arr.astype("float64")  # NaN: no MRR mapped for the account, money unknown
    out["arr_at_risk"] = (scores["p_churn"] * out["arr"]).round(2)
    out["expected_expansion_arr"] = (
        scores["p_upsell"]
        * out["arr"]
        * (cfg.expected_expansion_share if expansion_share is None else expansion_share)
    ).round(2)
    out["touch_model"] = touch_model(out["arr"], cfg)
    family = (
        top_driver_family
        if top_driver_family is not None
        else pd.Series("", index=scores.index, dtype="str")
    )
    plays = recommend_play(
        out["churn_tier"], out["upsell_tier"], out["touch_model"], family, cfg.playbook
    )
    return pd.concat([out, plays], axis=1)
