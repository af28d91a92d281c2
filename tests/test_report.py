"""The CSM report as HTML: sections, escaping of customer text, digest and portfolio figures."""

from __future__ import annotations

import json
import re

import pandas as pd

from churnml.report import ExtraSection, driver_digest, portfolio, render_report
from report_data import PAYLOAD, scored_frame


def embedded_data(html: str) -> dict:
    match = re.search(
        r'<script type="application/json" id="churnml-data">(.*?)</script>', html, re.S
    )
    assert match, "the outreach data block is missing"
    return json.loads(match.group(1))


def test_report_has_every_section_and_all_accounts():
    scored = scored_frame()
    html = render_report(scored)
    for ident in ("outreach", "account-view", "portfolio-segment", "portfolio-tier", "digest"):
        assert f'id="{ident}"' in html
    data = embedded_data(html)
    assert len(data["accounts"]) == len(scored)
    # ranked by ARR at risk, highest first
    risks = [a["risk_arr"] for a in data["accounts"]]
    assert risks == sorted(risks, reverse=True)


def test_customer_text_never_reaches_the_page_unescaped():
    html = render_report(scored_frame())
    assert PAYLOAD not in html
    assert "<img src=x" not in html
    # the payload survives as data (JSON-escaped), so the CSM still sees the real name
    names = [a["name"] for a in embedded_data(html)["accounts"]]
    assert PAYLOAD in names
    # only our own two script elements exist
    assert html.count("<script") == 2


def test_json_block_cannot_be_closed_by_data():
    scored = scored_frame(3)
    scored.loc[0, "account_name"] = "</script><script>alert(1)</script>\u2028"
    html = render_report(scored)
    block = html.split('id="churnml-data">', 1)[1].split("</script>", 1)[0]
    assert "<" not in block and "\u2028" not in block
    assert embedded_data(html)["accounts"][0]["name"].startswith("</script>")


def test_portfolio_sums_arr_at_risk_by_segment():
    scored = scored_frame()
    by = portfolio(scored, "segment").set_index("segment")
    expected = scored.groupby("segment")["arr_at_risk"].sum()
    assert by["arr_at_risk"].round(2).to_dict() == expected.round(2).to_dict()
    assert by["accounts"].sum() == len(scored)


def test_digest_counts_top_drivers_and_compares_with_the_previous_run():
    now = scored_frame(30)
    before = scored_frame(30, seed=1, as_of="2026-10-01")
    digest = driver_digest(now, before)
    assert {"top_share", "mean_push", "top_share_previous", "mean_push_previous"} <= set(
        digest.columns
    )
    # top shares within a segment add up to 1 (every account has a top risk driver)
    sums = digest.groupby("segment")["top_share"].sum()
    assert sums.round(6).eq(1.0).all()


def test_japanese_labels_and_large_runs_are_truncated_with_a_note():
    html = render_report(scored_frame(), lang="ja", max_accounts=10)
    assert "アウトリーチリスト" in html and "要因ダイジェスト" in html
    assert len(embedded_data(html)["accounts"]) == 10
    assert "上位10件" in html


def test_extra_sections_are_rendered_escaped():
    extra = ExtraSection(
        "Drift", pd.DataFrame({"feature": ["<b>usage</b>"], "psi": [0.31]}), note="<i>alert</i>"
    )
    html = render_report(scored_frame(5), extra_sections=[extra])
    assert "<h2>Drift</h2>" in html and "&lt;b&gt;usage&lt;/b&gt;" in html
    assert "<i>alert</i>" not in html


def test_empty_run_still_renders():
    html = render_report(scored_frame(0))
    assert embedded_data(html)["accounts"] == []


def test_portfolio_amounts_below_a_hundred_are_whole_units():
    """26.04 expected expansion ARR shows as 26, never 26.040 (read as 26 thousand beside
    29,335)."""
    scored = scored_frame()
    scored["expected_expansion_arr"] = 26.04 / len(scored)
    scored["arr_at_risk"] = 7.5 / len(scored)
    html = render_report(scored)
    tier = re.search(r'<table id="portfolio-tier">(.*?)</table>', html, re.S).group(1)
    cells = re.findall(r"<td>([^<]*)</td>", tier)
    assert cells and not [c for c in cells if re.search(r"\d\.\d", c)], cells
