"""The figures of the outreach report: portfolio sums, the drivers digest, the account list."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnml.explain import driver_dicts, family_label, stored_drivers

__all__ = ["accounts_payload", "driver_digest", "family_label", "portfolio"]


def portfolio(scored: pd.DataFrame, by: str) -> pd.DataFrame:
    """Accounts, ARR, ARR at risk and expected expansion per value of one column."""
    key = scored[by].astype("object").where(scored[by].notna(), "-").astype(str)
    grouped = scored.assign(_key=key).groupby("_key", sort=False)
    out = pd.DataFrame(
        {
            "accounts": grouped.size(),
            "arr": grouped["arr"].sum(),
            "arr_at_risk": grouped["arr_at_risk"].sum(),
            "expected_expansion_arr": grouped["expected_expansion_arr"].sum(),
        }
    )
    return out.sort_values("arr_at_risk", ascending=False).rename_axis(by).reset_index()


def _digest_summary(frame: pd.DataFrame, drivers: pd.DataFrame) -> pd.DataFrame:
    segment = frame["segment"].astype("object").where(frame["segment"].notna(), "-").astype(str)
    risk = drivers[(drivers["model"] == "churn") & (drivers["direction"] == "risk")]
    seg_of = pd.Series(segment.to_numpy(), index=frame["account_id"].astype("str").to_numpy())
    risk = risk[risk["account_id"].isin(seg_of.index)]
    if not len(risk):
        return pd.DataFrame(columns=["segment", "family", "top_share", "mean_push"])
    long = pd.DataFrame(
        {
            "segment": risk["account_id"].map(seg_of.groupby(level=0).last()),
            "family": risk["family"],
            "top": risk["rank"] == 0,
            "impact": risk["impact"].astype("float64"),
        }
    )
    sizes = segment.value_counts()
    agg = long.groupby(["segment", "family"]).agg(top=("top", "sum"), push=("impact", "mean"))
    agg["top_share"] = agg["top"] / agg.index.get_level_values(0).map(sizes).to_numpy()
    return agg.rename(columns={"push": "mean_push"})[["top_share", "mean_push"]].reset_index()


def driver_digest(
    scored: pd.DataFrame,
    previous: pd.DataFrame | None = None,
    drivers: pd.DataFrame | None = None,
    previous_drivers: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per segment and driver family: share of accounts where it is the top churn driver and its
    average push on churn risk, now and in the previous run. Drivers are the long frames
    (``churnml.explain``); without them the stored JSON columns are read."""
    now = _digest_summary(scored, stored_drivers(scored) if drivers is None else drivers)
    if previous is not None and len(previous) and "drivers_json" in previous:
        if previous_drivers is None:
            previous_drivers = stored_drivers(previous)
        before = _digest_summary(previous, previous_drivers).rename(
            columns={"top_share": "top_share_previous", "mean_push": "mean_push_previous"}
        )
        now = now.merge(before, on=["segment", "family"], how="left")
    return now.sort_values(["segment", "top_share"], ascending=[True, False]).reset_index(drop=True)


def accounts_payload(
    scored: pd.DataFrame, limit: int, drivers: pd.DataFrame | None = None
) -> list[dict]:
    """The report's JSON payload rows of the first `limit` accounts, drivers as nested lists."""
    shown = scored.head(limit)
    if drivers is None:
        drivers = stored_drivers(shown)
    ids = shown["account_id"].astype("str")
    churn_drivers = driver_dicts(drivers, ids, "churn")
    upsell_drivers = driver_dicts(drivers, ids, "upsell")

    def text(v) -> str:
        return "" if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA else str(v)

    def number(v, digits: int) -> float | None:  # None (JSON null) for a target without a model
        return None if v is None or pd.isna(v) else round(float(v), digits)

    rows = []
    for i, r in enumerate(shown.itertuples(index=False)):
        change = getattr(r, "p_churn_change", None)
        rows.append(
            {
                "id": text(r.account_id),
                "name": text(r.account_name),
                "owner": text(getattr(r, "play_owner", "") or getattr(r, "csm_owner", "")),
                "segment": text(r.segment) or "-",
                "p": number(r.p_churn, 4),
                "tier": text(r.churn_tier),
                "u": number(r.p_upsell, 4),
                "utier": text(getattr(r, "upsell_tier", "")),
                "health": int(r.health_score),
                "arr": number(r.arr, 2),
                "risk_arr": number(r.arr_at_risk, 2),
                "touch": text(r.touch_model),
                "play_name": text(getattr(r, "play_name", "")),
                "play": text(r.recommended_play),
                "due": f"{pd.Timestamp(r.play_due):%Y-%m-%d}"
                if pd.notna(getattr(r, "play_due", None))
                else "",
                "change": None if change is None or pd.isna(change) else round(float(change), 4),
                "change_text": text(getattr(r, "change_summary", "")),
                "drivers": churn_drivers[i],
                "upsell_drivers": upsell_drivers[i],
            }
        )
    return rows
