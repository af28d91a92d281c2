"""Score active accounts as of a date: calibrated probabilities, outreach fields and drivers."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

import numpy as np
import pandas as pd

from churnml.changes import score_changes
from churnml.config import OutreachConfig
from churnml.explain import (
    driver_frame,
    driver_text,
    empty_drivers,
    top_family,
    with_driver_json,
)
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


DRIVER_JSON_COLUMNS = ("drivers_json", "upsell_drivers_json")


class ScoredAccounts(NamedTuple):
    """A scoring run: one row per account, and the drivers of both models as a long frame
    (``churnml.explain.DRIVER_COLUMNS``) that becomes the JSON columns only when written."""

    table: pd.DataFrame  # SCORED_COLUMNS without the driver JSON columns
    drivers: pd.DataFrame

    def written(self) -> pd.DataFrame:
        """The scored_accounts table as sinks write it (drivers serialised to JSON)."""
        return with_driver_json(self.table, self.drivers)[SCORED_COLUMNS]


def _predictions(bundle: ModelBundle | None, features: pd.DataFrame) -> pd.Series:
    """Calibrated probabilities, or an empty (NULL) column when the target has no champion."""
    if bundle is None:
        return pd.Series(np.nan, index=features.index, dtype="float64")
    return pd.Series(bundle.predict(features), index=features.index, dtype="float64")


def _drivers(
    bundle: ModelBundle | None, features: pd.DataFrame, model: str, lang: str, threads: int
) -> pd.DataFrame:
    if bundle is None:
        return empty_drivers()
    contrib = bundle.contributions(features, threads)
    return driver_frame(features, contrib, bundle.features, model, lang)


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
    previous_drivers: pd.DataFrame | None = None,
    threads: int = 1,
    expansion_share: float | None = None,
) -> ScoredAccounts:
    """One row per account in the feature frame, and its drivers; `previous` is the last run's
    output (with `previous_drivers` its drivers, else read from its JSON columns), for the score
    change and what moved it. A target without a champion (None) leaves its probability, tier,
    money and driver columns empty; health and plays use the other. `threads`: TreeSHAP threads;
    `expansion_share`: the ARR growth of an expansion for `expected_expansion_arr`
    (outreach_fields)."""
    columns = [c for c in SCORED_COLUMNS if c not in DRIVER_JSON_COLUMNS]
    if features.empty:
        return ScoredAccounts(pd.DataFrame(columns=columns), empty_drivers())
    features = features.reset_index(drop=True)
    scores = pd.DataFrame(
        {"p_churn": _predictions(churn, features), "p_upsell": _predictions(upsell, features)}
    )
    arr = account_arr(features, accounts)
    churn_drivers = _drivers(churn, features, "churn", lang, threads)
    upsell_drivers = _drivers(upsell, features, "upsell", lang, threads)
    both = [d for d in (churn_drivers, upsell_drivers) if len(d)]
    drivers = pd.concat(both, ignore_index=True) if both else empty_drivers()
    family = top_family(churn_drivers, features["account_id"])
    fields = outreach_fields(scores, arr, cfg, family, expansion_share)
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
    out["drivers_text"] = (
        driver_text(churn_drivers, out["account_id"], "churn", lang) if churn is not None else ""
    )
    changes = score_changes(out, previous, lang, churn_drivers, previous_drivers)
    if churn is None:  # no churn score, so no change to explain
        changes["change_summary"] = ""
    out = pd.concat([out, changes], axis=1)
    out = out[columns].sort_values(["arr_at_risk", "p_churn"], ascending=False, kind="stable")
    return ScoredAccounts(out.reset_index(drop=True), drivers)
