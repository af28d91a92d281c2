"""A self-contained HTML report for CSMs: the ranked outreach list and each account's drivers.

All text that comes from data is escaped: account names and categories are customer input.
"""

from __future__ import annotations

import json
from html import escape

import pandas as pd

TEXT = {
    "en": {
        "title": "churnml outreach report",
        "as_of": "As of",
        "accounts": "accounts scored",
        "arr_at_risk": "ARR at risk",
        "expansion": "Expected expansion ARR",
        "account": "Account",
        "owner": "Owner",
        "segment": "Segment",
        "risk": "Churn risk",
        "upsell": "Upsell",
        "health": "Health",
        "touch": "Touch",
        "play": "Recommended play",
        "drivers": "Why",
        "by_segment": "ARR at risk by segment",
    },
    "ja": {
        "title": "churnml アウトリーチレポート",
        "as_of": "基準日",
        "accounts": "件のアカウントをスコアリング",
        "arr_at_risk": "リスクにさらされたARR",
        "expansion": "期待拡大ARR",
        "account": "アカウント",
        "owner": "担当",
        "segment": "セグメント",
        "risk": "解約リスク",
        "upsell": "アップセル",
        "health": "ヘルス",
        "touch": "タッチ",
        "play": "推奨アクション",
        "drivers": "理由",
        "by_segment": "セグメント別のリスクARR",
    },
}


def _drivers_html(drivers_json: str) -> str:
    d = json.loads(drivers_json)
    risk = "".join(f"<li class='risk'>{escape(x['sentence'])}</li>" for x in d.get("risk", []))
    prot = "".join(
        f"<li class='protective'>{escape(x['sentence'])}</li>" for x in d.get("protective", [])
    )
    return f"<ul>{risk}{prot}</ul>"


def render_report(scored: pd.DataFrame, lang: str = "en") -> str:
    t = TEXT.get(lang, TEXT["en"])
    as_of = f"{scored['as_of'].iloc[0]:%Y-%m-%d}" if len(scored) else "-"
    by_segment = (
        scored.groupby(scored["segment"].fillna("-"))["arr_at_risk"]
        .sum()
        .sort_values(ascending=False)
        if len(scored)
        else pd.Series(dtype=float)
    )
    rows = []
    for _, r in scored.iterrows():
        rows.append(
            "<tr data-tier='{tier}' data-touch='{touch}' data-owner='{owner}' data-segment='{segment}'>"
            "<td>{name}</td><td>{owner}</td><td>{segment}</td><td>{p:.0%} ({tier})</td><td>{u:.0%}</td>"
            "<td>{health}</td><td>{arr:,.0f}</td><td>{touch}</td><td>{play}</td><td>{drivers}</td></tr>".format(
                tier=escape(str(r["churn_tier"])),
                touch=escape(str(r["touch_model"])),
                owner=escape(str(r["csm_owner"] if pd.notna(r["csm_owner"]) else "-")),
                segment=escape(str(r["segment"] if pd.notna(r["segment"]) else "-")),
                name=escape(str(r["account_name"])),
                p=r["p_churn"],
                u=r["p_upsell"],
                health=int(r["health_score"]),
                arr=r["arr_at_risk"],
                play=escape(str(r["recommended_play"])),
                drivers=_drivers_html(r["drivers_json"]),
            )
        )
    segments = "".join(
        f"<tr><td>{escape(str(k))}</td><td>{v:,.0f}</td></tr>" for k, v in by_segment.items()
    )
    return f"""<!doctype html>
<html lang="{escape(lang)}"><head><meta charset="utf-8"><title>{escape(t["title"])}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;vertical-align:top}}li.risk{{color:#a00}}li.protective{{color:#070}}</style>
</head><body>
<h1>{escape(t["title"])}</h1>
<p>{escape(t["as_of"])}: {as_of} &middot; {len(scored)} {escape(t["accounts"])} &middot;
{escape(t["arr_at_risk"])}: {scored["arr_at_risk"].sum() if len(scored) else 0:,.0f} &middot;
{escape(t["expansion"])}: {scored["expected_expansion_arr"].sum() if len(scored) else 0:,.0f}</p>
<h2>{escape(t["by_segment"])}</h2><table id="by-segment">{segments}</table>
<h2>{escape(t["play"])}</h2>
<table id="outreach"><thead><tr><th>{escape(t["account"])}</th><th>{escape(t["owner"])}</th><th>{escape(t["segment"])}</th>
<th>{escape(t["risk"])}</th><th>{escape(t["upsell"])}</th><th>{escape(t["health"])}</th><th>{escape(t["arr_at_risk"])}</th>
<th>{escape(t["touch"])}</th><th>{escape(t["play"])}</th><th>{escape(t["drivers"])}</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>
</body></html>
"""
