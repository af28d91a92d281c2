"""Score active accounts as of a date: calibrated probabilities, outreach fields and drivers."""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import pandas as pd

from churnml.changes import score_changes
from churnml.config import OutreachConfig
from churnml.explain import drivers_for_frame
from churnml.model import ModelBundle
from churnml.outreach import outreach_fields, play_owner

SCORED_COLUMNS = [
    "account_id",
    "account_name",
    "segment",
    "csm_owner",
    "as_of",
    "scored_at",
    "churn_model_version",
    "upsell_model_version",
    "p_churn",
    "p_upsell",
    "churn_tier",
    "upsell_tier",
    "health_score",
    "arr",
    "arr_at_risk",
    "expected_expansion_arr",
    "touch_model",
    "play_name",
    "recommended_play",
    "play_owner",
    "play_due",
    "drivers_json",
    "drivers_text",
    "upsell_drivers_json",
    "previous_as_of",
    "p_churn_previous",
    "p_churn_change",
    "change_summary",
]


def top_risk_family(drivers_json: list[str]) -> pd.Series:
    """Family of each account's strongest churn driver ("" when nothing pushes risk up)."""
    families = []
    for entry in drivers_json:
        risk = json.loads(entry)["risk"]
        families.append(risk[0]["family"] if risk else "")
    return pd.Series(families, dtype="str")


NO_DRIVERS = json.dumps({"risk": [], "protective": []})


def _predictions(bundle: ModelBundle | None, features: pd.DataFrame) -> pd.Series:
    """Calibrated probabilities, or an empty (NULL) column when the target has no champion."""
    if bundle is None:
        return pd.Series(np.nan, index=features.index, dtype="float64")
    return pd.Series(bundle.predict(features), index=features.index, dtype="float64")


def _drivers(
    bundle: ModelBundle | None, features: pd.DataFrame, lang: str
) -> tuple[list[str], list[str]]:
    if bundle is None:
        return [NO_DRIVERS] * len(features), [""] * len(features)
    return drivers_for_frame(features, bundle.contributions(features), bundle.features, lang)


def account_arr(features: pd.DataFrame, accounts: pd.DataFrame) -> pd.Series:
    """ARR per scored account: the contract's ARR at the as-of; without subscriptions, 12 times
    the accounts' current ``mrr`` where it is mapped; else unknown (NaN: money columns empty)."""
    if "contract_arr" in features.columns:
        return features["contract_arr"].astype("float64")
    if "mrr" in accounts.columns:
        mrr = features["account_id"].map(accounts.set_index("account_id")["mrr"])
        return pd.to_numeric(mrr, errors="coerce").astype("float64") * 12.0
    return pd.Series(float("nan"), index=features.index)


def score_accounts(
    features: pd.DataFrame,
    accounts: pd.DataFrame,
    churn: ModelBundle | None,
    upsell: ModelBundle | None,
    versions: dict[str, str],
    cfg: OutreachConfig,
    scored_at: datetime,
    lang: str = "en",
    previous: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per account in the feature frame, ready for write-back; `previous` is the last
    run's output, for the score change and what moved it. A target without a champion (None)
    leaves its probability, tier, money and driver columns empty; health and plays use the other."""
    if features.empty:
        return pd.DataFrame(columns=SCORED_COLUMNS)
    features = features.reset_index(drop=True)
    scores = pd.DataFrame(
        {"p_churn": _predictions(churn, features), "p_upsell": _predictions(upsell, features)}
    )
    arr = account_arr(features, accounts)
    churn_json, churn_text = _drivers(churn, features, lang)
    fields = outreach_fields(scores, arr, cfg, top_risk_family(churn_json))
    upsell_json, _ = _drivers(upsell, features, lang)
    meta = accounts.set_index("account_id")
    out = pd.DataFrame(
        {
            "account_id": features["account_id"].astype("str"),
            "account_name": features["account_id"].map(meta["name"]).astype("str"),
            "segment": features["account_id"].map(meta["segment"]) if "segment" in meta else None,
            "csm_owner": features["account_id"].map(meta["csm_owner"])
            if "csm_owner" in meta
            else None,
            "as_of": pd.to_datetime(features["as_of"]).astype("datetime64[us]"),
            "scored_at": pd.Timestamp(scored_at).as_unit("us"),
            "churn_model_version": versions.get("churn", ""),
            "upsell_model_version": versions.get("upsell", ""),
            "p_churn": scores["p_churn"].round(6),
            "p_upsell": scores["p_upsell"].round(6),
        }
    )
    out = pd.concat([out, fields], axis=1)
    out["play_owner"] = play_owner(out["csm_owner"], out, out["touch_model"])
    out["play_due"] = (out["as_of"] + pd.to_timedelta(out["play_due_days"], unit="D")).astype(
        "datetime64[us]"
    )
    out["drivers_json"] = churn_json
    out["drivers_text"] = churn_text
    out["upsell_drivers_json"] = upsell_json
    changes = score_changes(out, previous, lang)
    if churn is None:  # no churn score, so no change to explain
        changes["change_summary"] = ""
    out = pd.concat([out, changes], axis=1)
    out = out[SCORED_COLUMNS].sort_values(
        ["arr_at_risk", "p_churn"], ascending=False, kind="stable"
    )
    return out.reset_index(drop=True)
