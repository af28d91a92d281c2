"""The "Which plays work" section: from ``plays.play_effects`` rows to a table CSMs can read,
each rate with the counts behind it and the caution that it is not a controlled experiment."""

from __future__ import annotations

import pandas as pd

from churnml.report.render import ExtraSection
from churnml.report.text import text


def _rate(rate: float, events: int, accounts: int, words: dict) -> str:
    if pd.isna(rate):
        return words["counts_only"].format(events=events, accounts=accounts)
    return words["rate"].format(rate=rate, events=events, accounts=accounts)


def _difference(row, outcome: str, words: dict) -> str:
    diff = row[f"{outcome}_difference"]
    if pd.isna(diff):
        return words["no_estimate"]
    return words["difference"].format(
        diff=100 * diff, low=100 * row[f"{outcome}_low"], high=100 * row[f"{outcome}_high"]
    )


def plays_section(
    effects: pd.DataFrame, min_accounts: int, confidence: float, lang: str = "en"
) -> ExtraSection:
    """One row per play: done share, churn and expansion where done versus comparable accounts."""
    t = text(lang)["plays"]
    names = t["columns"]
    rows = []
    for _, r in effects.iterrows():
        matched_not = int(r["matched_not_done"])
        row = {
            names["play"]: r["play_name"],
            names["done"]: t["done"].format(
                done=int(r["done"]), recommended=int(r["recommended"]), share=r["done_share"]
            ),
            names["comparable"]: t["comparable"].format(
                done=int(r["matched_done"]), not_done=matched_not
            ),
        }
        for outcome in ("churn", "expansion"):
            row[names[f"{outcome}_done"]] = _rate(
                r[f"{outcome}_rate_done"],
                int(r[f"{outcome}_events_done"]),
                int(r["matched_done"]),
                t,
            )
            row[names[f"{outcome}_comparable"]] = _rate(
                r[f"{outcome}_rate_comparable"],
                int(r[f"{outcome}_events_not_done"]),
                matched_not,
                t,
            )
            row[names[f"{outcome}_difference"]] = _difference(r, outcome, t)
        rows.append(row)
    frame = pd.DataFrame(rows, columns=list(names.values()))
    as_ofs = effects["as_of"] if "as_of" in effects.columns else pd.Series([], dtype="object")
    when = ", ".join(sorted({f"{pd.Timestamp(a):%Y-%m-%d}" for a in as_ofs.dropna()}))
    note = t["note"].format(confidence=confidence, min_accounts=min_accounts)
    if when:
        note = t["scored"].format(as_of=when) + " " + note
    return ExtraSection(t["section"], frame, note)
