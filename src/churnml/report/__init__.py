"""A self-contained HTML report for CSMs: one file per run, opened from disk, no server.

Sections: the ranked outreach list (sort, filter, search), an account view with driver bars and
sentences, the portfolio summary (ARR at risk by segment, tier and touch model), the drivers
digest for product and marketing (which driver families push churn, by segment, and how that
moved since the last run), and sections other stages contribute (drift, track record, targets
without a model, unseen category values). The track-record page of `churnml evaluate` too.

Layout lives in Jinja2 templates (``templates/``), the words of each language in one file
(``text/en.yaml``, ``text/ja.yaml``); stages hand over frames and dicts only.
"""

from churnml.report.figures import driver_digest, portfolio
from churnml.report.outreach import render_page, render_report
from churnml.report.plays import plays_section
from churnml.report.render import ExtraSection
from churnml.report.sections import (
    drift_section,
    headline,
    missing_targets_section,
    page_sections,
    track_record_page,
    track_record_section,
    unknown_money_section,
    unseen_categories_section,
)
from churnml.report.text import LANGUAGES, text

__all__ = [
    "LANGUAGES",
    "ExtraSection",
    "driver_digest",
    "drift_section",
    "headline",
    "missing_targets_section",
    "page_sections",
    "plays_section",
    "portfolio",
    "render_page",
    "render_report",
    "text",
    "track_record_page",
    "track_record_section",
    "unknown_money_section",
    "unseen_categories_section",
]
