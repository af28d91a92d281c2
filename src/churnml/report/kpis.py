"""The KPI board and the forecast in the report: small trend charts as inline SVG, the latest
month by segment, next quarter's forecast beside the actual trend, and the forecast against
what happened on the track-record page. Pure functions: frames in, markup or sections out."""

from __future__ import annotations

import math

import pandas as pd

from churnml.report.render import ExtraSection, money, render, table
from churnml.report.text import text

ALL = "all"
QUARTER_MONTHS = 3
# (board column, how its values read): the charts of the board, segment "all", in this order.
CHARTS = (
    ("active_accounts", "count"),
    ("logo_churn_rate", "percent"),
    ("opening_mrr", "money"),
    ("nrr_12m", "percent"),
    ("grr_12m", "percent"),
    ("arpa", "money"),
    ("ltv", "money"),
    ("onboarding_completion_rate", "percent"),
    ("nps", "score"),
)
LATEST_COLUMNS = {
    "active_accounts": "count",
    "logo_churn_rate": "percent",
    "opening_mrr": "money",
    "grr_12m": "percent",
    "nrr_12m": "percent",
    "arpa": "money",
    "nps": "score",
}
WIDTH, HEIGHT, PAD = 240, 64, 6


def formatted(value, kind: str) -> str:
    if value is None or pd.isna(value):
        return "-"
    if kind == "percent":
        return f"{100 * float(value):.1f}%"
    if kind == "count":
        return f"{int(value):,}"
    if kind == "score":
        return f"{float(value):+.0f}"
    return money(value)


def sparkline(values: list, forecast: tuple[float, float, float] | None = None) -> dict:
    """Coordinates of one small chart: the line through the months with a value, the last
    point, and a forecast point with its interval two months after the last (the quarter that
    ends there). Numbers only: the template writes them into an <svg>."""
    n = len(values) + (QUARTER_MONTHS if forecast is not None else 0)
    known = [float(v) for v in values if v is not None and not pd.isna(v)]
    if forecast is not None:
        known += [float(v) for v in forecast if v is not None and not pd.isna(v)]
    if not known:
        return {"runs": [], "last": None, "forecast": None, "width": WIDTH, "height": HEIGHT}
    low, high = min(known), max(known)
    if math.isclose(low, high):
        low, high = low - 1.0, high + 1.0

    def x(i: float) -> float:
        return round(PAD + (WIDTH - 2 * PAD) * i / max(n - 1, 1), 1)

    def y(v: float) -> float:
        return round(HEIGHT - PAD - (HEIGHT - 2 * PAD) * (v - low) / (high - low), 1)

    # One line through the months that have a value (NPS answers come in survey waves).
    run = [
        f"{x(i)},{y(float(v))}" for i, v in enumerate(values) if v is not None and not pd.isna(v)
    ]
    runs = [run] if run else []
    last_i = max(
        (i for i, v in enumerate(values) if v is not None and not pd.isna(v)), default=None
    )
    out = {
        "runs": [" ".join(r) for r in runs],
        "last": None if last_i is None else (x(last_i), y(float(values[last_i]))),
        "forecast": None,
        "width": WIDTH,
        "height": HEIGHT,
    }
    if forecast is not None and not pd.isna(forecast[0]):
        mid, lo, hi = forecast
        at = x(n - 1)
        out["forecast"] = {"x": at, "y": y(mid), "y_low": y(lo), "y_high": y(hi)}
    return out


def _series(board: pd.DataFrame, column: str) -> list:
    return [None if pd.isna(v) else float(v) for v in board[column]]


def _quarterly(board: pd.DataFrame, column: str) -> list:
    """ARR of a monthly MRR movement over the quarter ending with each month (12 x the sum of
    three months; NULL for the first two)."""
    annual = 12.0 * board[column].astype("float64")
    return _series(board.assign(q=annual.rolling(QUARTER_MONTHS).sum()), "q")


def _chart(title: str, series: list, kind: str, months: list[str], forecast=None, words=None):
    last = next((v for v in reversed(series) if v is not None), None)
    chart = {
        "title": title,
        "value": formatted(last, kind),
        "first": months[0] if months else "",
        "last_month": months[-1] if months else "",
        "svg": sparkline(series, forecast),
        "forecast_text": "",
    }
    if forecast is not None and words is not None and not pd.isna(forecast[0]):
        chart["forecast_text"] = words["forecast_point"].format(
            value=formatted(forecast[0], kind),
            low=formatted(forecast[1], kind),
            high=formatted(forecast[2], kind),
        )
    return chart


def _forecast_row(forecast: pd.DataFrame | None) -> pd.Series | None:
    if forecast is None or forecast.empty:
        return None
    rows = forecast[forecast["segment"] == ALL]
    return rows.iloc[0] if len(rows) else None


def kpi_headline(board: pd.DataFrame, forecast: pd.DataFrame | None, lang: str = "en") -> str:
    """One line a CS lead can repeat: NRR and GRR over the trailing 12 months, and next
    quarter's forecast NRR with its interval."""
    t = text(lang)["kpis"]
    overall = board[board["segment"] == ALL].sort_values("month")
    parts = []
    if len(overall):
        latest = overall.iloc[-1]
        parts.append(
            t["headline_actual"].format(
                month=f"{pd.Timestamp(latest['month']):%Y-%m}",
                nrr=formatted(latest["nrr_12m"], "percent"),
                grr=formatted(latest["grr_12m"], "percent"),
            )
        )
    f = _forecast_row(forecast)
    if f is not None:
        parts.append(
            t["headline_forecast"].format(
                quarter_end=f"{pd.Timestamp(f['quarter_end']):%Y-%m-%d}",
                nrr=formatted(f["nrr"], "percent"),
                low=formatted(f["nrr_low"], "percent"),
                high=formatted(f["nrr_high"], "percent"),
                level=f"{100 * float(f['interval']):.0f}%",
                churned=money(f["churned_arr"]),
            )
        )
    return " · ".join(parts) if parts else t["no_data"]


def _latest_table(board: pd.DataFrame, t: dict) -> pd.DataFrame:
    month = board["month"].max()
    latest = board[board["month"] == month].copy()
    latest["order"] = latest["segment"] != ALL
    latest = latest.sort_values(["order", "segment"])
    names = t["latest_columns"]
    out = pd.DataFrame({names["segment"]: latest["segment"].replace({ALL: t["all"]})})
    for column, kind in LATEST_COLUMNS.items():
        out[names[column]] = [formatted(v, kind) for v in latest[column]]
    return out


def _forecast_table(forecast: pd.DataFrame, t: dict) -> pd.DataFrame:
    f = forecast.copy()
    f["order"] = f["segment"] != ALL
    f = f.sort_values(["order", "segment"])
    names = t["forecast_columns"]

    def span(row, column: str, kind: str) -> str:
        return t["range"].format(
            value=formatted(row[column], kind),
            low=formatted(row[f"{column}_low"], kind),
            high=formatted(row[f"{column}_high"], kind),
        )

    return pd.DataFrame(
        {
            names["segment"]: f["segment"].replace({ALL: t["all"]}),
            names["accounts"]: [f"{int(v):,}" for v in f["accounts"]],
            names["base_arr"]: [money(v) for v in f["base_arr"]],
            names["churned_arr"]: [span(r, "churned_arr", "money") for _, r in f.iterrows()],
            names["expansion_arr"]: [span(r, "expansion_arr", "money") for _, r in f.iterrows()],
            names["grr"]: [span(r, "grr", "percent") for _, r in f.iterrows()],
            names["nrr"]: [span(r, "nrr", "percent") for _, r in f.iterrows()],
        }
    )


def _forecast_note(f: pd.Series, t: dict) -> str:
    """What the forecast covers, what its interval counts, and what the charts beside it show."""
    as_ofs = f.get("backtest_as_ofs")
    as_ofs = 0 if as_ofs is None or pd.isna(as_ofs) else int(as_ofs)
    basis = (
        t["interval_backtest"].format(
            as_ofs=as_ofs,
            churn_error=formatted(f.get("backtest_churn_rate_error"), "percent"),
            expansion_error=formatted(f.get("backtest_expansion_rate_error"), "percent"),
        )
        if as_ofs
        else t["interval_bernoulli"]
    )
    return t["forecast_note"].format(
        as_of=f"{pd.Timestamp(f['as_of']):%Y-%m-%d}",
        level=f"{100 * float(f['interval']):.0f}%",
        basis=basis,
    )


def kpi_section(
    board: pd.DataFrame,
    forecast: pd.DataFrame | None,
    lang: str = "en",
    unavailable: dict[str, str] | None = None,
) -> ExtraSection:
    """The board (segment "all") as small charts, the latest month by segment, and next
    quarter's forecast beside the actual quarterly churned and expansion ARR. ``unavailable``
    is kpis.unavailable_kpis: its KPI groups are named in the reader's language."""
    t = text(lang)["kpis"]
    overall = board[board["segment"] == ALL].sort_values("month")
    months = [f"{pd.Timestamp(m):%Y-%m}" for m in overall["month"]]
    charts = [
        _chart(t["charts"][column], _series(overall, column), kind, months)
        for column, kind in CHARTS
    ]
    f = _forecast_row(forecast)
    for column, mrr_column in (("churned_arr", "churned_mrr"), ("expansion_arr", "expansion_mrr")):
        point = None
        if f is not None:
            point = (f[column], f[f"{column}_low"], f[f"{column}_high"])
        charts.append(
            _chart(
                t["charts"][column],
                _quarterly(overall, mrr_column),
                "money",
                months,
                point,
                t,
            )
        )
    unsettled = [m for m, s in zip(months, overall["settled"], strict=True) if not bool(s)]
    forecast_title = ""
    if f is not None:
        forecast_title = t["forecast_title"].format(
            as_of=f"{pd.Timestamp(f['as_of']):%Y-%m-%d}",
            quarter_end=f"{pd.Timestamp(f['quarter_end']):%Y-%m-%d}",
        )
    html = render(
        "kpis.html",
        t=t,
        headline=kpi_headline(board, forecast, lang),
        charts=[c for c in charts if c["svg"]["runs"] or c["svg"]["forecast"]],
        unsettled=", ".join(unsettled),
        unavailable=[t["unavailable_reasons"][key] for key in unavailable or {}],
        latest_title=t["latest_title"].format(month=months[-1]) if months else "",
        latest=table(_latest_table(board, t)) if len(board) else None,
        forecast_title=forecast_title,
        forecast_note=_forecast_note(f, t) if f is not None else "",
        forecast=table(_forecast_table(forecast, t)) if f is not None else None,
    )
    return ExtraSection(t["title"], pd.DataFrame(), t["note"], html=html)


def forecast_vs_actual_section(comparison: pd.DataFrame, lang: str = "en") -> ExtraSection:
    """The track-record page's table: a past as-of's forecast beside what happened."""
    t = text(lang)["kpis"]
    names = t["vs_actual_columns"]
    kinds = {"churned_arr": "money", "expansion_arr": "money", "grr": "percent", "nrr": "percent"}
    rows = []
    for r in comparison.itertuples(index=False):
        kind = kinds[r.measure]
        inside = r.inside
        rows.append(
            {
                names["measure"]: t["measures"][r.measure],
                names["forecast"]: formatted(r.forecast, kind),
                names["interval"]: t["interval"].format(
                    low=formatted(r.low, kind), high=formatted(r.high, kind)
                ),
                names["actual"]: formatted(r.actual, kind),
                names["inside"]: "-" if pd.isna(inside) else t["yes"] if inside else t["no"],
            }
        )
    return ExtraSection(t["vs_actual_title"], pd.DataFrame(rows), t["vs_actual_note"])


__all__ = [
    "forecast_vs_actual_section",
    "kpi_headline",
    "kpi_section",
    "sparkline",
]
