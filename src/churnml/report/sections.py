"""Sections other stages contribute, in the reader's language: stages hand over frames and dicts,
the words live in ``text/<lang>.yaml``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnml.catalogue import feature_entry
from churnml.report.outreach import render_page
from churnml.report.render import ExtraSection
from churnml.report.text import text
from churnml.vocabulary import money

TARGETS = ("churn", "upsell")
MONEY_COLUMNS = (
    "arr_flagged_retained",
    "arr_flagged_lost",
    "arr_missed",
    "expansion_arr_expected",
    "expansion_arr_realised",
)
METRICS = (
    "roc_auc",
    "pr_auc",
    "top_decile_lift",
    "recall_at_capacity",
    "brier",
    "predicted_rate",
    "positive_rate",
)


def missing_targets_section(missing: dict[str, str], lang: str = "en") -> ExtraSection:
    """Targets scored without a model, and why: a warning under the summary."""
    t = text(lang)["missing_targets"]
    frame = pd.DataFrame({t["target"]: list(missing), t["why"]: list(missing.values())})
    return ExtraSection(t["title"], frame, t["note"], top=True)


def unknown_money_section(lang: str = "en") -> ExtraSection:
    """No MRR is mapped (no subscriptions, no accounts.mrr): the money columns are empty."""
    t = text(lang)["unknown_money"]
    columns = ", ".join(("arr", "arr_at_risk", "expected_expansion_arr"))
    return ExtraSection(t["title"], pd.DataFrame({t["columns"]: [columns]}), t["note"], top=True)


def unseen_categories_section(problems: list[str], lang: str = "en") -> ExtraSection:
    """Category values the models never saw and scored as missing."""
    t = text(lang)["unseen_categories"]
    return ExtraSection(t["title"], pd.DataFrame({t["problem"]: problems}), t["note"])


def drift_section(shown: pd.DataFrame, drifted: bool, cfg, lang: str = "en") -> ExtraSection:
    """The drift section from ``drift.report_rows``; a warning on top when the data drifted."""
    t = text(lang)["drift"]
    scores = shown["kind"] == "score"
    out = pd.DataFrame(
        {
            t["columns"]["model"]: np.where(scores, shown["model"], ""),
            t["columns"]["what"]: [
                t["score"].format(model=r.model) if r.kind == "score" else r.name
                for r in shown.itertuples()
            ],
            t["columns"]["description"]: [
                "" if r.kind == "score" else feature_entry(r.name).description
                for r in shown.itertuples()
            ],
            t["columns"]["psi"]: [f"{v:.3f}" for v in shown["psi"]],
            t["columns"]["level"]: [t["levels"][v] for v in shown["level"]],
        }
    )
    note = (t["drifted"] if drifted else t["stable"]).format(
        warn=cfg.feature_warn, alert=cfg.feature_alert
    )
    title = t["title_drifted"] if drifted else t["title_stable"]
    return ExtraSection(title, out, note, top=drifted)


def track_record_section(recent: pd.DataFrame, lang: str = "en") -> ExtraSection:
    """The "Track record" section of the scoring report from ``track_record.recent_records``."""
    t = text(lang)["track_record"]
    shown = recent.copy()
    shown["as_of"] = pd.to_datetime(shown["as_of"]).dt.strftime("%Y-%m-%d")
    for col in MONEY_COLUMNS:
        if col in shown.columns:
            shown[col] = shown[col].map(money)
    names = t["history_columns"]
    columns = [c for c in names if c in shown.columns]
    return ExtraSection(t["section"], shown[columns].rename(columns=names), t["note"])


def _target_sentence(s: dict, target: str, t: dict) -> str:
    """The target's ranking sentence, or plainly why it cannot be judged: no outcomes in the
    data, no model scored that run, or every account had the same outcome (ROC AUC undefined)."""
    words = t["headline"]
    name = t["targets"][target]
    if s[f"{target}_positive_rate"] != s[f"{target}_positive_rate"]:  # NaN: no source labels it
        return words["no_outcomes"].format(target=name, target_lower=name.lower())
    if s[f"{target}_predicted_rate"] != s[f"{target}_predicted_rate"]:  # NaN: no scores
        return words["no_scores"].format(target=name, target_lower=name.lower())
    defined = s[f"{target}_roc_auc"] == s[f"{target}_roc_auc"]
    return words[target if defined else f"{target}_one_outcome"].format(
        churn_roc_auc=f"{s['churn_roc_auc']:.3f}",
        upsell_roc_auc=f"{s['upsell_roc_auc']:.3f}",
        churn_top_decile_lift=f"{s['churn_top_decile_lift']:.2f}",
        **{k: f"{s[k]:,}" for k in _HEADLINE_COUNTS},
        **{k: money(s[k]) for k in MONEY_COLUMNS},
    )


_HEADLINE_COUNTS = (
    "accounts_evaluated",
    "accounts_without_outcome",
    "churned_accounts_flagged",
    "churned_accounts",
    "expanded_accounts",
)


def headline(summary: dict, lang: str = "en") -> str:
    """One sentence a CS lead can repeat: ranking quality and ARR saved versus lost; a target
    with no model, no scores or no outcomes says so instead of printing "nan"."""
    s = summary
    t = text(lang)["track_record"]
    intro = t["headline"]["intro"].format(
        as_of=f"{pd.Timestamp(s['as_of']):%Y-%m-%d}",
        observed_until=f"{pd.Timestamp(s['observed_until']):%Y-%m-%d}",
        **{k: f"{s[k]:,}" for k in ("accounts_evaluated", "accounts_without_outcome")},
    )
    sep = "" if lang == "ja" else " "
    return sep.join([intro, *(_target_sentence(s, target, t) for target in TARGETS)])


def _metrics(s: dict, t: dict) -> pd.DataFrame:
    names = t["metrics_columns"]
    rows = []
    for target in TARGETS:
        row = {names["model"]: t["targets"][target]}
        row[names["version"]] = s[f"{target}_model_version"]
        row.update({names[m]: s[f"{target}_{m}"] for m in METRICS})
        rows.append(row)
    return pd.DataFrame(rows)


def _money_table(s: dict, t: dict) -> pd.DataFrame:
    names = t["money_columns"]
    return pd.DataFrame(
        {
            names["item"]: list(t["money_rows"].values()),
            names["amount"]: [money(s[key]) for key in t["money_rows"]],
        }
    )


def _by_tier(frame: pd.DataFrame, t: dict) -> pd.DataFrame:
    return frame.assign(tier=frame["tier"].map(lambda v: t["tiers"].get(v, v))).rename(
        columns=t["tier_columns"]
    )


def page_sections(record, lang: str = "en") -> list[ExtraSection]:
    """Everything `churnml evaluate` shows on its own page, definitions last."""
    t = text(lang)["track_record"]
    s = record.summary
    sections = [
        ExtraSection(t["metrics_title"], _metrics(s, t)),
        ExtraSection(t["money_title"], _money_table(s, t), t["note"]),
    ]
    tier_names = t["tier_columns"]
    for target in TARGETS:
        name = t["targets"][target]
        sections.append(
            ExtraSection(
                t["by_tier_title"].format(target=name), _by_tier(record.by_tier[target], t)
            )
        )
        if target not in record.calibration:  # no champion scored this target that run
            continue
        calibration = record.calibration[target].rename(columns=tier_names)
        sections.append(
            ExtraSection(
                t["calibration_title"].format(target=name), calibration, t["calibration_note"]
            )
        )
    cols = t["definitions_columns"]
    definitions = pd.DataFrame(t["definitions"], columns=[cols["term"], cols["meaning"]])
    sections.append(ExtraSection(t["definitions_title"], definitions))
    return sections


def track_record_page(record, lang: str = "en", extra: list[ExtraSection] | None = None) -> str:
    """The page `churnml evaluate` writes: headline, tables, other stages' sections (plays),
    and definitions last."""
    title = text(lang)["track_record"]["title"]
    shown = page_sections(record, lang)
    shown = shown[:-1] + list(extra or []) + shown[-1:]
    return render_page(title, headline(record.summary, lang), shown, lang)
