"""Every page and section of the report exists in English and Japanese, with no word missing."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from churnml.config import DriftConfig
from churnml.report import (
    LANGUAGES,
    drift_section,
    missing_targets_section,
    plays_section,
    render_report,
    text,
    track_record_page,
    track_record_section,
    unseen_categories_section,
)
from churnml.report.kpis import forecast_vs_actual_section
from churnml.report.outreach import render_page
from kpi_book import kpi_section_for
from report_data import scored_frame
from test_track_record import record


def shape(node):
    """The keys of a text tree (lists by length and item shape), without the words."""
    if isinstance(node, dict):
        return {k: shape(v) for k, v in node.items()}
    if isinstance(node, list):
        return [shape(v) for v in node]
    return "text"


def leaves(node) -> list[str]:
    if isinstance(node, dict):
        return [w for v in node.values() for w in leaves(v)]
    if isinstance(node, list):
        return [w for v in node for w in leaves(v)]
    return [str(node)]


def keys(node) -> set[str]:
    if isinstance(node, dict):
        return set(node) | {k for v in node.values() for k in keys(v)}
    if isinstance(node, list):
        return {k for v in node for k in keys(v)}
    return set()


def visible(html: str) -> str:
    """What a reader sees: no scripts, no tags."""
    return re.sub(r"<[^>]+>", " ", re.sub(r"<script.*?</script>", " ", html, flags=re.S))


def pages(lang: str) -> dict[str, str]:
    drift = pd.DataFrame(
        {
            "model": ["churn", "churn", "churn"],
            "kind": ["score", "feature", "feature"],
            "name": ["score", "usage_events_30d", "attr_segment"],
            "psi": [0.02, 0.4, 0.12],
            "level": ["stable", "alert", "watch"],
            "warn": [0.1, 0.1, 0.1],
            "alert": [0.25, 0.25, 0.25],
        }
    )
    r = record()
    sections = [
        missing_targets_section({"upsell": "none registered yet"}, lang),
        drift_section(drift, True, DriftConfig(), lang),
        unseen_categories_section(["accounts.plan: 'enterprise-x' (3 rows)"], lang),
        track_record_section(r.summary_frame(), lang),
        kpi_section_for(lang, scored_frame(12)),
        plays_section(play_rows(), 5, 0.95, lang),
    ]
    comparison = pd.DataFrame(
        {
            "measure": ["churned_arr", "expansion_arr", "grr", "nrr"],
            "forecast": [1000.0, 500.0, 0.9, 1.0],
            "low": [800.0, 300.0, 0.85, 0.95],
            "high": [1200.0, 700.0, 0.95, 1.05],
            "actual": [1300.0, 450.0, 0.87, 0.97],
            "inside": [False, True, True, True],
        }
    )
    vs_actual = forecast_vs_actual_section(comparison, lang)
    return {
        "outreach": render_report(scored_frame(12), lang, scored_frame(12, seed=1), sections),
        "track_record": track_record_page(r, lang, [plays_section(play_rows(), 5, 0.95, lang)]),
        "forecast_vs_actual": render_page(vs_actual.title, "", [vs_actual], lang),
    }


def play_rows() -> pd.DataFrame:
    """One play with an estimate, one with too few comparable accounts."""
    from churnml.plays import play_effects
    from test_plays import stratum

    rows = stratum("high", 8, 1, 9, 4) + stratum("low", 2, 0, 1, 0)
    frame = pd.DataFrame(rows, columns=["churn_tier", "play_done", "churn_label"])
    frame = frame.assign(play_name=["Health check"] * 17 + ["Office hours"] * 3)
    frame = frame.assign(as_of=pd.Timestamp("2025-02-01"), segment="SMB", upsell_label=0)
    return play_effects(frame).assign(as_of=pd.Timestamp("2025-02-01"))


def test_every_language_has_the_same_keys():
    en = shape(text("en"))
    for lang in LANGUAGES:
        assert shape(text(lang)) == en, f"text/{lang}.yaml and text/en.yaml differ in keys"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_page_renders_with_no_raw_key_and_no_other_language(lang):
    words = text(lang)
    own = " ".join(leaves(words))
    raw = {k for k in keys(words) if "_" in k and k not in own}
    others = {
        w
        for other in LANGUAGES
        if other != lang
        for w in leaves(text(other))
        if " " in w and "{" not in w and w not in own
    }
    for name, html in pages(lang).items():
        seen = visible(html)
        assert f'<html lang="{lang}">' in html
        found = sorted(k for k in raw if re.search(rf"\b{k}\b", seen))
        assert not found, f"{name} ({lang}) shows raw keys {found}"
        leaked = sorted(w for w in others if w in seen)
        assert not leaked, f"{name} ({lang}) shows text of another language: {leaked[:3]}"
    report = visible(pages(lang)["outreach"])
    for section in ("missing_targets", "unseen_categories", "track_record", "kpis", "plays"):
        title = words[section]["section" if section in ("track_record", "plays") else "title"]
        assert title in report
    assert words["kpis"]["unavailable_reasons"]["onboarding"] in report
    assert words["drift"]["title_drifted"] in report


def test_a_missing_word_fails_the_render(monkeypatch):
    broken = {**text("ja"), "outreach": {**text("ja")["outreach"]}}
    del broken["outreach"]["digest"]
    monkeypatch.setattr("churnml.report.outreach.text", lambda lang: broken)
    with pytest.raises(Exception, match="digest"):
        render_report(scored_frame(3), "ja")
