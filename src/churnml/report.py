"""A self-contained HTML report for CSMs: one file per run, opened from disk, no server.

Sections: the ranked outreach list (sort, filter, search), an account view with driver bars and
sentences, the portfolio summary (ARR at risk by segment, tier and touch model), the drivers
digest for product and marketing (which driver families push churn, by segment, and how that
moved since the last run), and optional extra sections supplied by the caller.

Everything that comes from data is escaped: server-rendered tables through ``html.escape``; the
outreach list travels as JSON inside a ``<script type="application/json">`` block with ``<``,
``>``, ``&`` and the JavaScript line separators escaped, and the page's script only ever writes
it with ``textContent``. Account names and ticket categories are customer input.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from html import escape

import numpy as np
import pandas as pd

from churnml.catalogue import FAMILY_LABELS

TEXT = {
    "en": {
        "title": "churnml outreach report",
        "as_of": "As of",
        "previous": "previous run",
        "accounts": "accounts scored",
        "shown": "accounts shown",
        "arr_at_risk": "ARR at risk",
        "expansion": "Expected expansion ARR",
        "high_risk": "high churn risk",
        "account": "Account",
        "owner": "Owner",
        "segment": "Segment",
        "risk": "Churn risk",
        "risk_tier": "Churn tier",
        "upsell": "Upsell",
        "upsell_tier": "Upsell tier",
        "health": "Health",
        "arr": "ARR",
        "touch": "Touch",
        "play": "Recommended play",
        "due": "Due",
        "change": "Change",
        "drivers": "Why",
        "all": "all",
        "search": "Search accounts",
        "outreach": "Outreach list",
        "account_view": "Account",
        "risk_drivers": "Pushing churn risk up",
        "protective": "Protective",
        "upsell_drivers": "Expansion signals",
        "portfolio": "Portfolio",
        "by_segment": "By segment",
        "by_tier": "By churn tier",
        "by_touch": "By touch model",
        "digest": "Drivers digest for product and marketing",
        "digest_note": "Share of accounts whose strongest churn driver is in each family, and the average push it gives to churn risk (SHAP, log-odds), by segment; change against the previous run.",
        "family": "Driver family",
        "top_share": "Top driver for",
        "top_share_prev": "Previous run",
        "mean_push": "Average push",
        "mean_push_prev": "Previous run",
        "count": "Accounts",
        "click": "Select an account in the list to see why.",
        "truncated": "Only the first {n} accounts by ARR at risk are in this file; the full list is in the scored_accounts table.",
        "no_previous": "No previous run to compare with.",
    },
    "ja": {
        "title": "churnml アウトリーチレポート",
        "as_of": "基準日",
        "previous": "前回の実行",
        "accounts": "件のアカウントをスコアリング",
        "shown": "件を表示",
        "arr_at_risk": "リスクにさらされたARR",
        "expansion": "期待拡大ARR",
        "high_risk": "件が高い解約リスク",
        "account": "アカウント",
        "owner": "担当",
        "segment": "セグメント",
        "risk": "解約リスク",
        "risk_tier": "解約リスク区分",
        "upsell": "アップセル",
        "upsell_tier": "アップセル区分",
        "health": "ヘルス",
        "arr": "ARR",
        "touch": "タッチモデル",
        "play": "推奨アクション",
        "due": "期限",
        "change": "変化",
        "drivers": "理由",
        "all": "すべて",
        "search": "アカウントを検索",
        "outreach": "アウトリーチリスト",
        "account_view": "アカウント詳細",
        "risk_drivers": "解約リスクを高めている要因",
        "protective": "好材料",
        "upsell_drivers": "拡大のシグナル",
        "portfolio": "ポートフォリオ",
        "by_segment": "セグメント別",
        "by_tier": "解約リスク区分別",
        "by_touch": "タッチモデル別",
        "digest": "プロダクト・マーケティング向け要因ダイジェスト",
        "digest_note": "セグメントごとに、最も強い解約要因が各ファミリーにあるアカウントの割合と、解約リスクを押し上げる平均の大きさ（SHAP、対数オッズ）。前回実行との比較つき。",
        "family": "要因ファミリー",
        "top_share": "最大要因の割合",
        "top_share_prev": "前回",
        "mean_push": "平均の押し上げ",
        "mean_push_prev": "前回",
        "count": "アカウント数",
        "click": "リストのアカウントを選ぶと理由が表示されます。",
        "truncated": "このファイルにはリスクARR上位{n}件のみを含みます。全件は scored_accounts テーブルにあります。",
        "no_previous": "比較できる前回の実行はありません。",
    },
}


@dataclass(frozen=True)
class ExtraSection:
    """A table another stage wants CSMs to see (drift, track record, ...), rendered escaped."""

    title: str
    table: pd.DataFrame
    note: str = ""
    top: bool = False  # shown right under the summary line (a warning), not after the digest


def _json_for_html(payload) -> str:
    """JSON that cannot end the surrounding <script> element or break a JS string."""
    text = json.dumps(payload, ensure_ascii=False, default=str)
    for raw, safe in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(raw, safe)
    return text


def _money(x: float) -> str:
    return f"{x:,.0f}"


def _table(frame: pd.DataFrame, table_id: str = "") -> str:
    head = "".join(f"<th>{escape(str(c))}</th>" for c in frame.columns)
    body = []
    for row in frame.itertuples(index=False):
        cells = []
        for v in row:
            if isinstance(v, float | np.floating):
                text = "" if np.isnan(v) else (f"{v:,.3f}" if abs(v) < 100 else _money(v))
            else:
                text = "" if v is None or v is pd.NA else str(v)
            cells.append(f"<td>{escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    ident = f' id="{escape(table_id)}"' if table_id else ""
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _family_label(family: str, lang: str) -> str:
    en, ja = FAMILY_LABELS.get(family, (family, family))
    return ja if lang == "ja" else en


def _parse(drivers_json) -> dict:
    if not isinstance(drivers_json, str) or not drivers_json:
        return {"risk": [], "protective": []}
    return json.loads(drivers_json)


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


def driver_digest(scored: pd.DataFrame, previous: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per segment and driver family: share of accounts where it is the top churn driver and its
    average push on churn risk, now and in the previous run."""

    def summary(frame: pd.DataFrame) -> pd.DataFrame:
        rows = []
        segment = frame["segment"].astype("object").where(frame["segment"].notna(), "-")
        for seg, drivers in zip(segment.astype(str), frame["drivers_json"], strict=True):
            risk = _parse(drivers).get("risk", [])
            for rank, d in enumerate(risk):
                rows.append((seg, d["family"], rank == 0, float(d["impact"])))
        if not rows:
            return pd.DataFrame(columns=["segment", "family", "top_share", "mean_push"])
        long = pd.DataFrame(rows, columns=["segment", "family", "top", "impact"])
        sizes = segment.astype(str).value_counts()
        agg = long.groupby(["segment", "family"]).agg(top=("top", "sum"), push=("impact", "mean"))
        agg["top_share"] = agg["top"] / agg.index.get_level_values(0).map(sizes).to_numpy()
        return agg.rename(columns={"push": "mean_push"})[["top_share", "mean_push"]].reset_index()

    now = summary(scored)
    if previous is not None and len(previous) and "drivers_json" in previous:
        before = summary(previous).rename(
            columns={"top_share": "top_share_previous", "mean_push": "mean_push_previous"}
        )
        now = now.merge(before, on=["segment", "family"], how="left")
    return now.sort_values(["segment", "top_share"], ascending=[True, False]).reset_index(drop=True)


def _accounts_payload(scored: pd.DataFrame, limit: int) -> list[dict]:
    def text(v) -> str:
        return "" if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA else str(v)

    def number(v, digits: int) -> float | None:  # None (JSON null) for a target without a model
        return None if v is None or pd.isna(v) else round(float(v), digits)

    rows = []
    for r in scored.head(limit).itertuples(index=False):
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
                "arr": round(float(r.arr), 2),
                "risk_arr": number(r.arr_at_risk, 2),
                "touch": text(r.touch_model),
                "play_name": text(getattr(r, "play_name", "")),
                "play": text(r.recommended_play),
                "due": f"{pd.Timestamp(r.play_due):%Y-%m-%d}"
                if pd.notna(getattr(r, "play_due", None))
                else "",
                "change": None if change is None or pd.isna(change) else round(float(change), 4),
                "change_text": text(getattr(r, "change_summary", "")),
                "drivers": _parse(r.drivers_json),
                "upsell_drivers": _parse(getattr(r, "upsell_drivers_json", "")),
            }
        )
    return rows


SCRIPT = r"""
(function () {
  const data = JSON.parse(document.getElementById('churnml-data').textContent);
  const t = data.text, rows = data.accounts;
  const body = document.querySelector('#outreach tbody');
  const filters = {tier: '', utier: '', touch: '', owner: '', segment: ''};
  let query = '', sortKey = 'risk_arr', sortDir = -1, selected = null;
  const pct = x => x === null ? '-' : (x * 100).toFixed(0) + '%';
  const money = x => x === null ? '-' : Math.round(x).toLocaleString('en-US');
  const columns = [
    ['name', r => r.name], ['owner', r => r.owner], ['segment', r => r.segment],
    ['p', r => pct(r.p) + (r.tier ? ' (' + r.tier + ')' : '')],
    ['u', r => pct(r.u) + (r.utier ? ' (' + r.utier + ')' : '')],
    ['health', r => String(r.health)], ['arr', r => money(r.arr)],
    ['risk_arr', r => money(r.risk_arr)], ['touch', r => r.touch],
    ['play_name', r => r.play_name], ['due', r => r.due],
    ['change', r => r.change === null ? '' : (r.change > 0 ? '+' : '') + (r.change * 100).toFixed(1) + ' pt'],
  ];
  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }
  function visible() {
    const q = query.toLowerCase();
    return rows.filter(r => Object.keys(filters).every(k => !filters[k] || r[k] === filters[k])
      && (!q || r.name.toLowerCase().includes(q) || r.id.toLowerCase().includes(q)));
  }
  function render() {
    const list = visible().slice().sort((a, b) => {
      const x = a[sortKey], y = b[sortKey];
      if (x === y) return 0;
      if (x === null) return 1;
      if (y === null) return -1;
      return (x < y ? -1 : 1) * sortDir;
    });
    body.replaceChildren(...list.map(r => {
      const tr = el('tr');
      tr.dataset.id = r.id;
      tr.dataset.tier = r.tier;
      if (selected === r.id) tr.className = 'selected';
      columns.forEach(([key, fmt]) => tr.appendChild(el('td', fmt(r), key === 'p' ? 'tier-' + r.tier : undefined)));
      tr.addEventListener('click', () => show(r));
      return tr;
    }));
    document.getElementById('shown').textContent = list.length + ' / ' + rows.length + ' ' + t.shown;
  }
  function bars(title, items, cls) {
    const box = el('div', undefined, 'driver-group');
    box.appendChild(el('h4', title));
    const max = Math.max(0.0001, ...items.map(d => Math.abs(d.impact)));
    items.forEach(d => {
      const line = el('div', undefined, 'driver ' + cls);
      line.appendChild(el('span', d.label, 'family'));
      const bar = el('span', undefined, 'bar');
      bar.style.width = (100 * Math.abs(d.impact) / max).toFixed(0) + '%';
      line.appendChild(el('span', undefined, 'track')).appendChild(bar);
      line.appendChild(el('span', d.sentence, 'sentence'));
      box.appendChild(line);
    });
    return box;
  }
  function show(r) {
    selected = r.id;
    const view = document.getElementById('account-view');
    view.replaceChildren();
    view.appendChild(el('h3', r.name));
    const facts = el('p');
    facts.textContent = t.risk + ' ' + pct(r.p) + ' (' + r.tier + ') · ' + t.upsell + ' ' + pct(r.u)
      + ' · ' + t.health + ' ' + r.health + ' · ' + t.arr + ' ' + money(r.arr) + ' · ' + t.touch + ' ' + r.touch;
    view.appendChild(facts);
    view.appendChild(el('p', t.play + ': ' + r.play_name + ' — ' + r.play + ' (' + t.owner + ': ' + r.owner + ', ' + t.due + ' ' + r.due + ')', 'play'));
    if (r.change_text) view.appendChild(el('p', t.change + ': ' + r.change_text, 'change'));
    view.appendChild(bars(t.risk_drivers, r.drivers.risk || [], 'risk'));
    view.appendChild(bars(t.protective, r.drivers.protective || [], 'protective'));
    view.appendChild(bars(t.upsell_drivers, (r.upsell_drivers.risk || []), 'expansion'));
    render();
  }
  document.querySelectorAll('select[data-filter]').forEach(s => {
    const key = s.dataset.filter;
    const values = Array.from(new Set(rows.map(r => r[key]))).filter(v => v !== '').sort();
    values.forEach(v => s.appendChild(el('option', v)).setAttribute('value', v));
    s.addEventListener('change', () => { filters[key] = s.value; render(); });
  });
  document.getElementById('search').addEventListener('input', e => { query = e.target.value; render(); });
  document.querySelectorAll('#outreach th[data-key]').forEach(th => th.addEventListener('click', () => {
    const key = th.dataset.key;
    sortDir = sortKey === key ? -sortDir : (key === 'name' || key === 'owner' || key === 'segment' ? 1 : -1);
    sortKey = key;
    render();
  }));
  render();
})();
"""

STYLE = """
body{font-family:system-ui,-apple-system,'Hiragino Sans','Noto Sans JP',sans-serif;margin:1.5em;color:#222}
h1{margin-bottom:.2em}.summary{color:#444}table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #ddd;padding:3px 8px;vertical-align:top;font-size:13px}
th[data-key]{cursor:pointer;background:#f4f4f4}#outreach tbody tr{cursor:pointer}
#outreach tbody tr:hover{background:#f6f9ff}#outreach tr.selected{background:#e8f0ff}
.tier-high{color:#b00;font-weight:600}.tier-medium{color:#b60}.filters{margin:.5em 0}
.filters label{margin-right:1em}#account-view{border:1px solid #ccc;padding:.5em 1em;margin:1em 0;min-height:3em}
.driver{display:flex;align-items:center;gap:.6em;margin:2px 0}.driver .family{width:13em;font-size:12px;color:#555}
.driver .track{width:160px;background:#f0f0f0;height:10px;display:inline-block}
.driver .bar{display:block;height:10px}.risk .bar{background:#c33}.protective .bar{background:#393}
.expansion .bar{background:#36c}.sentence{font-size:13px}.grid{display:flex;gap:2em;flex-wrap:wrap}
.note{color:#555;font-size:12px}.warning{border:2px solid #c33;background:#fff4f4;padding:0 1em;margin:1em 0}
"""


def sections_html(sections: list[ExtraSection], framed: bool = False) -> str:
    """Titled, escaped tables, one after another; framed as warnings when asked."""
    parts = (
        f"<h2>{escape(s.title)}</h2>"
        + (f"<p class='note'>{escape(s.note)}</p>" if s.note else "")
        + _table(s.table)
        for s in sections
    )
    if framed:
        return "".join(f"<div class='warning'>{part}</div>" for part in parts)
    return "".join(parts)


def render_page(title: str, summary: str, sections: list[ExtraSection], lang: str = "en") -> str:
    """A small self-contained page of sections (the track record of `churnml evaluate`)."""
    return f"""<!doctype html>
<html lang="{escape(lang)}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title><style>{STYLE}</style></head><body>
<h1>{escape(title)}</h1>
<p class="summary" id="summary">{escape(summary)}</p>
{sections_html(sections)}
</body></html>
"""


def render_report(
    scored: pd.DataFrame,
    lang: str = "en",
    previous: pd.DataFrame | None = None,
    extra_sections: list[ExtraSection] | None = None,
    max_accounts: int = 5000,
) -> str:
    """The whole report as one HTML string; `previous` is the last run's scored rows."""
    t = TEXT.get(lang, TEXT["en"])
    n = len(scored)
    as_of = f"{pd.Timestamp(scored['as_of'].iloc[0]):%Y-%m-%d}" if n else "-"
    prev_as_of = (
        f"{pd.Timestamp(previous['as_of'].iloc[0]):%Y-%m-%d}"
        if previous is not None and len(previous)
        else None
    )
    ranked = scored.sort_values(["arr_at_risk", "p_churn"], ascending=False, kind="stable")
    payload = {"text": t, "accounts": _accounts_payload(ranked, max_accounts)}
    high = int((scored["churn_tier"] == "high").sum()) if n else 0
    summary = (
        f"{escape(t['as_of'])}: {as_of}"
        + (f" ({escape(t['previous'])}: {prev_as_of})" if prev_as_of else "")
        + f" &middot; {n:,} {escape(t['accounts'])} &middot; {high:,} {escape(t['high_risk'])}"
        + f" &middot; {escape(t['arr_at_risk'])}: {_money(scored['arr_at_risk'].sum() if n else 0)}"
        + f" &middot; {escape(t['expansion'])}: {_money(scored['expected_expansion_arr'].sum() if n else 0)}"
    )
    truncated = (
        f"<p class='note'>{escape(t['truncated'].format(n=max_accounts))}</p>"
        if n > max_accounts
        else ""
    )

    def select(key: str, label: str) -> str:
        return (
            f"<label>{escape(label)} <select data-filter='{key}' id='filter-{key}'>"
            f"<option value=''>{escape(t['all'])}</option></select></label>"
        )

    headers = [
        ("name", t["account"]),
        ("owner", t["owner"]),
        ("segment", t["segment"]),
        ("p", t["risk"]),
        ("u", t["upsell"]),
        ("health", t["health"]),
        ("arr", t["arr"]),
        ("risk_arr", t["arr_at_risk"]),
        ("touch", t["touch"]),
        ("play_name", t["play"]),
        ("due", t["due"]),
        ("change", t["change"]),
    ]
    head = "".join(f"<th data-key='{k}'>{escape(label)}</th>" for k, label in headers)

    if n:
        by = [
            (t["by_segment"], portfolio(scored, "segment"), "portfolio-segment"),
            (t["by_tier"], portfolio(scored, "churn_tier"), "portfolio-tier"),
            (t["by_touch"], portfolio(scored, "touch_model"), "portfolio-touch"),
        ]
        portfolio_html = (
            "<div class='grid'>"
            + "".join(
                f"<div><h3>{escape(title)}</h3>{_table(frame, ident)}</div>"
                for title, frame, ident in by
            )
            + "</div>"
        )
        digest = driver_digest(scored, previous)
        digest["family"] = digest["family"].map(lambda f: _family_label(f, lang))
        names = {
            "segment": t["segment"],
            "family": t["family"],
            "top_share": t["top_share"],
            "mean_push": t["mean_push"],
            "top_share_previous": f"{t['top_share']} ({t['top_share_prev']})",
            "mean_push_previous": f"{t['mean_push']} ({t['mean_push_prev']})",
        }
        digest_html = _table(digest.rename(columns=names), "digest")
        if prev_as_of is None:
            digest_html += f"<p class='note'>{escape(t['no_previous'])}</p>"
    else:
        portfolio_html = digest_html = ""

    warnings = sections_html([s for s in extra_sections or [] if s.top], framed=True)
    extras = sections_html([s for s in extra_sections or [] if not s.top])
    return f"""<!doctype html>
<html lang="{escape(lang)}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(t["title"])} {as_of}</title><style>{STYLE}</style></head><body>
<h1>{escape(t["title"])}</h1>
<p class="summary" id="summary">{summary}</p>
{warnings}
<h2>{escape(t["outreach"])}</h2>
<div class="filters">{select("tier", t["risk_tier"])}{select("utier", t["upsell_tier"])}{select("touch", t["touch"])}{select("owner", t["owner"])}{select("segment", t["segment"])}
<label><input id="search" type="search" placeholder="{escape(t["search"])}"></label> <span id="shown"></span></div>
{truncated}
<div id="account-view"><p class="note">{escape(t["click"])}</p></div>
<table id="outreach"><thead><tr>{head}</tr></thead><tbody></tbody></table>
<h2>{escape(t["portfolio"])}</h2>{portfolio_html}
<h2>{escape(t["digest"])}</h2><p class="note">{escape(t["digest_note"])}</p>{digest_html}
{extras}
<script type="application/json" id="churnml-data">{_json_for_html(payload)}</script>
<script>{SCRIPT}</script>
</body></html>
"""
