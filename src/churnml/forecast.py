"""Next quarter's churned and expansion ARR, and so GRR and NRR, from the champions' scores.

Each scored account churns within the quarter with its calibrated churn probability and
expands with its upsell probability (both rescaled from the model horizon to the quarter, see
``quarter_probability``). The churned ARR is then a sum of independent Bernoulli terms,
``sum(X_i * arr_i)``: its mean is ``sum(p_i * arr_i)`` and its variance
``sum(p_i * (1 - p_i) * arr_i**2)``; the same holds for expansion with the expected amount of
an expansion in place of the ARR. The interval is the normal approximation of those sums
(docs/kpis.md, "Forecast").

That interval is only the luck of which accounts churn: it takes the probabilities as exact.
Miscalibration and churn that moves together (a bad quarter for everyone) are not in it. Once
``churnml evaluate`` has put past forecasts beside what happened (the track record), the
standard deviation is widened to at least the error those forecasts made
(``backtest_rate_errors``).
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pandas as pd

from churnml.config import ChurnmlConfig

ALL_SEGMENTS = "all"
QUARTER_MONTHS = 3
FORECAST_COLUMNS = [
    "as_of",
    "quarter_end",
    "segment",
    "accounts",
    "base_arr",
    "churned_arr",
    "churned_arr_low",
    "churned_arr_high",
    "expansion_arr",
    "expansion_arr_low",
    "expansion_arr_high",
    "grr",
    "grr_low",
    "grr_high",
    "nrr",
    "nrr_low",
    "nrr_high",
    "interval",
    "churn_horizon_days",
    "upsell_horizon_days",
    "quarter_days",
    "expansion_share",
    "expansion_basis",
    "backtest_as_ofs",
    "backtest_churn_rate_error",
    "backtest_expansion_rate_error",
]


def quarter_probability(p: pd.Series, horizon_days: float, quarter_days: float) -> pd.Series:
    """A probability over the model's horizon rescaled to the quarter, assuming a constant
    hazard: ``1 - (1 - p) ** (quarter_days / horizon_days)`` (the same p when they match)."""
    p = p.astype("float64").clip(0.0, 1.0)
    return 1.0 - (1.0 - p) ** (quarter_days / horizon_days)


def expansion_share_from_history(moves: pd.DataFrame, cfg: ChurnmlConfig) -> float | None:
    """The relative MRR rise of an expansion over the board's last 12 months: the MRR the
    expansions added over the MRR the expanding accounts paid before (so a 50 -> 500 jump of a
    small account weighs by its money, not as a 900% rise). Only rises the upsell label counts
    are taken (at least ``labels.upsell_min_mrr_share`` and ``upsell_min_mrr_amount`` of the
    MRR before). ``moves`` is kpis.account_months; None when no expansion happened (or no
    subscriptions give MRR)."""
    if moves.empty or moves["opening_mrr"].isna().all():
        return None
    recent = moves[moves["month"] >= moves["month"].max() - pd.DateOffset(months=11)]
    before, after = recent["opening_mrr"], recent["closing_mrr"]
    rise = after - before
    counted = (
        (before > 0)
        & (rise > 0)
        & (rise >= before * cfg.labels.upsell_min_mrr_share)
        & (rise >= cfg.labels.upsell_min_mrr_amount)
    )
    if not counted.any():
        return None
    return float(rise[counted].sum() / before[counted].sum())


def _bernoulli_sum(p: pd.Series, amount: pd.Series) -> tuple[float, float]:
    """Mean and variance of ``sum(X_i * amount_i)`` with independent ``X_i ~ Bernoulli(p_i)``."""
    return float((p * amount).sum()), float((p * (1.0 - p) * amount**2).sum())


def backtest_rate_errors(
    history: pd.DataFrame | None, known_by=None, outcome_days: int = 0
) -> dict[str, float]:
    """The error past forecasts made, from the track record (one row per evaluated as-of with
    the forecast written then, ``forecast_grr`` and ``forecast_nrr``, beside the actuals):
    the root mean square, over those as-ofs, of actual minus forecast churned ARR and
    expansion ARR as shares of the base ARR. ``{"as_ofs": 0}`` when no forecast was evaluated.
    With ``known_by`` only as-ofs whose outcomes were known then (``outcome_days`` later)
    count: a rerun of a past as-of does not learn from its future.

    Shares, not amounts: the actuals are measured on the evaluated accounts' ARR
    (``arr_evaluated``), the forecast on every scored account's."""
    needed = ("as_of", "forecast_grr", "forecast_nrr", "arr_churned", "arr_evaluated")
    if history is None or any(c not in history.columns for c in needed):
        return {"as_ofs": 0}
    h = history.drop_duplicates("as_of", keep="last")
    if known_by is not None:
        known = pd.to_datetime(h["as_of"]) + pd.Timedelta(days=outcome_days)
        h = h[known <= pd.Timestamp(known_by)]
    base = pd.to_numeric(h["arr_evaluated"], errors="coerce")
    grr, nrr = (pd.to_numeric(h[c], errors="coerce") for c in ("forecast_grr", "forecast_nrr"))
    churn_error = pd.to_numeric(h["arr_churned"], errors="coerce") / base - (1.0 - grr)
    realised = h.get("expansion_arr_realised", np.nan)
    expansion_error = pd.to_numeric(realised, errors="coerce") / base - (nrr - grr)
    churn_error = churn_error[(base > 0) & churn_error.notna()]
    expansion_error = expansion_error[(base > 0) & expansion_error.notna()]
    if churn_error.empty:
        return {"as_ofs": 0}
    out = {"as_ofs": len(churn_error), "churned_arr": float(np.sqrt((churn_error**2).mean()))}
    if len(expansion_error):
        out["expansion_arr"] = float(np.sqrt((expansion_error**2).mean()))
    return out


def _segment_forecast(
    segment: str, part: pd.DataFrame, share: float, z: float, backtest: dict[str, float]
) -> dict:
    """One segment's expected churned and expansion ARR with their intervals, GRR and NRR;
    a target without a champion (any NULL probability) leaves its figures NaN. Each standard
    deviation is at least the backtest's error share of the segment's base ARR."""
    base = float(part["arr"].sum())
    churned, churned_var = _bernoulli_sum(part["p_churn"], part["arr"])
    grown, grown_var = _bernoulli_sum(part["p_upsell"], part["arr"] * share)
    churned_var = max(churned_var, (backtest.get("churned_arr", 0.0) * base) ** 2)
    grown_var = max(grown_var, (backtest.get("expansion_arr", 0.0) * base) ** 2)
    churned_sd, grown_sd = np.sqrt(churned_var), np.sqrt(grown_var)
    # Churn and expansion sums taken as independent: the NRR variance is their sum.
    net_sd = np.sqrt(churned_var + grown_var)
    row = {
        "segment": segment,
        "accounts": len(part),
        "base_arr": base,
        "churned_arr": churned,
        "churned_arr_low": max(churned - z * churned_sd, 0.0),
        "churned_arr_high": min(churned + z * churned_sd, base),
        "expansion_arr": grown,
        "expansion_arr_low": max(grown - z * grown_sd, 0.0),
        "expansion_arr_high": grown + z * grown_sd,
    }
    if base > 0:
        row["grr"] = 1.0 - churned / base
        row["grr_low"] = 1.0 - row["churned_arr_high"] / base
        row["grr_high"] = 1.0 - row["churned_arr_low"] / base
        row["nrr"] = 1.0 + (grown - churned) / base
        row["nrr_low"] = max(row["nrr"] - z * net_sd / base, 0.0)
        row["nrr_high"] = row["nrr"] + z * net_sd / base
    churn_known = part["p_churn"].notna().all()
    upsell_known = part["p_upsell"].notna().all()
    unknown = []
    if not churn_known:
        unknown += [
            "churned_arr",
            "churned_arr_low",
            "churned_arr_high",
            "grr",
            "grr_low",
            "grr_high",
        ]
    if not upsell_known:
        unknown += ["expansion_arr", "expansion_arr_low", "expansion_arr_high"]
    if unknown:
        unknown += ["nrr", "nrr_low", "nrr_high"]
    return row | dict.fromkeys(unknown, np.nan)


def forecast_quarter(
    scored: pd.DataFrame,
    cfg: ChurnmlConfig,
    expansion_share: float | None = None,
    backtest: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Next quarter (the three calendar months from the as-of) per segment and ``all``.

    ``scored`` is the scoring output (account_id, segment, as_of, p_churn, p_upsell, arr).
    ``expansion_share`` is the expected ARR growth of an account that expands, as a share of
    its ARR (expansion_share_from_history); None falls back to
    ``outreach.expected_expansion_share``. ``backtest`` (backtest_rate_errors) widens the
    intervals to at least the error past forecasts made. GRR leaves contraction out: the
    models do not predict downgrades, so it is the churn part of GRR. A target without a
    champion leaves its columns NULL.
    """
    backtest = backtest or {"as_ofs": 0}
    if scored.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in FORECAST_COLUMNS})
    as_of = pd.Timestamp(scored["as_of"].iloc[0])
    quarter_end = as_of + pd.DateOffset(months=QUARTER_MONTHS)
    quarter_days = (quarter_end - as_of) / pd.Timedelta(days=1)
    basis = "history" if expansion_share is not None else "outreach.expected_expansion_share"
    share = (
        expansion_share if expansion_share is not None else cfg.outreach.expected_expansion_share
    )
    arr = scored["arr"].astype("float64").fillna(0.0)
    frame = pd.DataFrame(
        {
            "segment": scored["segment"].astype("object").fillna("unassigned").astype("str")
            if "segment" in scored
            else "unassigned",
            "arr": arr,
            "p_churn": quarter_probability(
                scored["p_churn"], cfg.labels.churn_horizon_days, quarter_days
            ),
            "p_upsell": quarter_probability(
                scored["p_upsell"], cfg.labels.upsell_horizon_days, quarter_days
            ),
        }
    )
    frame = pd.concat([frame.assign(segment=ALL_SEGMENTS), frame], ignore_index=True)
    z = NormalDist().inv_cdf(0.5 + cfg.kpis.forecast_interval / 2)
    rows = [
        _segment_forecast(segment, part, share, z, backtest)
        for segment, part in frame.groupby("segment", sort=True)
    ]
    out = pd.DataFrame(rows)
    out["as_of"] = as_of.as_unit("us")
    out["quarter_end"] = pd.Timestamp(quarter_end).as_unit("us")
    out["interval"] = cfg.kpis.forecast_interval
    out["churn_horizon_days"] = cfg.labels.churn_horizon_days
    out["upsell_horizon_days"] = cfg.labels.upsell_horizon_days
    out["quarter_days"] = quarter_days
    out["expansion_share"] = share
    out["expansion_basis"] = basis
    out["backtest_as_ofs"] = int(backtest.get("as_ofs", 0))
    out["backtest_churn_rate_error"] = backtest.get("churned_arr", np.nan)
    out["backtest_expansion_rate_error"] = backtest.get("expansion_arr", np.nan)
    for column in FORECAST_COLUMNS:
        if column not in out.columns:
            out[column] = np.nan
    return out[FORECAST_COLUMNS]


def forecast_vs_actual(forecast: pd.DataFrame, summary: dict) -> pd.DataFrame:
    """A past as-of's forecast (segment ``all``) beside what happened, from the track record's
    summary of the same as-of: churned ARR (``arr_churned``), realised expansion ARR
    (``expansion_arr_realised``), and GRR and NRR on the evaluated accounts' ARR
    (``arr_evaluated``). The actuals cover the models' horizons, the forecast the quarter
    (the same span within a few days with the default 90-day horizons)."""
    rows = forecast[forecast["segment"] == ALL_SEGMENTS]
    if rows.empty:
        raise ValueError("the forecast has no row for the segment 'all'")
    f = rows.iloc[0]
    base = float(summary["arr_evaluated"])
    churned = float(summary["arr_churned"])
    grown = float(summary["expansion_arr_realised"])
    actual = {
        "churned_arr": churned,
        "expansion_arr": grown,
        "grr": 1.0 - churned / base if base > 0 else np.nan,
        "nrr": 1.0 + (grown - churned) / base if base > 0 else np.nan,
    }
    out = []
    for measure, value in actual.items():
        low, high = f[f"{measure}_low"], f[f"{measure}_high"]
        inside = (
            np.nan
            if pd.isna(low) or pd.isna(high) or pd.isna(value)
            else bool(low <= value <= high)
        )
        out.append(
            {
                "measure": measure,
                "forecast": f[measure],
                "low": low,
                "high": high,
                "actual": value,
                "inside": inside,
            }
        )
    return pd.DataFrame(out)


__all__ = [
    "FORECAST_COLUMNS",
    "backtest_rate_errors",
    "expansion_share_from_history",
    "forecast_quarter",
    "forecast_vs_actual",
    "quarter_probability",
]
