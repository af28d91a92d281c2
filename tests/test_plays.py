"""Closing the loop: was the recommended play done, and what happened where it was."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churnml.plays import play_completion, play_effects

AS_OF = pd.Timestamp("2025-01-01")
KINDS = {"Health check": ["call", "meeting"], "Expansion conversation": ["meeting"]}


def recommendations() -> pd.DataFrame:
    ids = ["a1", "a2", "a3", "a4", "a5", "a6"]
    return pd.DataFrame(
        {
            "account_id": ids,
            "as_of": AS_OF,
            "play_name": ["Health check"] * 5 + ["Expansion conversation"],
            "play_due": AS_OF + pd.Timedelta(days=14),
        }
    )


def log() -> pd.DataFrame:
    rows = [
        ("a1", "2025-01-10 09:00", "email", "Health check"),  # names the play: done
        ("a2", "2025-01-15 23:00", "Call", None),  # a call on the due day: done
        ("a3", "2025-01-16 00:00", "call", None),  # a day late
        ("a4", "2025-01-05 00:00", "email", None),  # not a kind of the play
        ("a5", "2024-12-31 12:00", "meeting", "Health check"),  # before the recommendation
        ("a6", "2025-01-03 00:00", "call", None),  # a call does not carry out this play
        ("a6", "2025-01-04 00:00", "meeting", None),  # a meeting does
        ("a1", "2025-01-02 00:00", "call", None),  # the first qualifying activity
    ]
    return pd.DataFrame(rows, columns=["account_id", "occurred_at", "kind", "play"]).astype(
        {"occurred_at": "datetime64[us]"}
    )


def test_a_play_is_done_by_an_activity_naming_it_or_of_its_kind_within_the_due_day():
    out = play_completion(recommendations(), log(), KINDS).set_index("account_id")
    assert out.play_done.to_dict() == {
        "a1": True,
        "a2": True,
        "a3": False,
        "a4": False,
        "a5": False,
        "a6": True,
    }
    assert out.loc["a1", "done_at"] == pd.Timestamp("2025-01-02")
    assert out.loc["a6", "done_at"] == pd.Timestamp("2025-01-04")
    assert pd.isna(out.loc["a3", "done_at"])


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match=r"activity log lacks column\(s\) \['kind'\]"):
        play_completion(recommendations(), log().drop(columns="kind"), KINDS)


def stratum(tier: str, done: int, churned_done: int, not_done: int, churned_not: int):
    rows = []
    for is_done, n, events in ((True, done, churned_done), (False, not_done, churned_not)):
        rows += [(tier, is_done, int(k < events)) for k in range(n)]
    return rows


def test_stratified_difference_by_hand():
    rows = (
        stratum("high", 4, 1, 4, 3)  # done 1/4, not done 3/4
        + stratum("medium", 2, 0, 6, 3)  # done 0/2, not done 3/6
        + stratum("low", 3, 0, 0, 0)  # nobody comparable: left out
    )
    frame = pd.DataFrame(rows, columns=["churn_tier", "play_done", "churn_label"]).assign(
        play_name="Health check", as_of=AS_OF, segment="SMB", upsell_label=0
    )
    out = play_effects(frame, min_accounts=5).set_index("play_name").loc["Health check"]
    assert (out.recommended, out.done, out.matched_done, out.matched_not_done) == (19, 9, 6, 10)
    assert (out.churn_events_done, out.churn_events_not_done) == (1, 6)
    # weights 4/6 and 2/6 (the done accounts per stratum)
    assert out.churn_rate_done == pytest.approx(4 / 6 * 0.25)
    assert out.churn_rate_comparable == pytest.approx(4 / 6 * 0.75 + 2 / 6 * 0.5)
    assert out.churn_difference == pytest.approx(-0.5)
    # variances at (x + 0.5) / (n + 1): 0.3 and 0.7 in "high", 1/6 and 0.5 in "medium"
    var = (4 / 6) ** 2 * (0.3 * 0.7 / 4 + 0.7 * 0.3 / 4) + (2 / 6) ** 2 * (
        (1 / 6) * (5 / 6) / 2 + 0.25 / 6
    )
    assert out.churn_high - out.churn_difference == pytest.approx(1.959964 * np.sqrt(var))
    assert out.expansion_difference == 0.0 and out.estimated


def test_too_few_comparable_accounts_give_counts_without_an_estimate():
    frame = pd.DataFrame(
        stratum("high", 3, 1, 8, 2), columns=["churn_tier", "play_done", "churn_label"]
    )
    frame = frame.assign(play_name="Office hours", as_of=AS_OF, segment="SMB", upsell_label=1)
    out = play_effects(frame, min_accounts=5).iloc[0]
    assert (out.matched_done, out.churn_events_done) == (3, 1)
    assert np.isnan(out.churn_difference) and not out.estimated


def test_the_measurement_recovers_a_known_effect_despite_who_gets_the_play():
    """Risky strata get the play more often (the naive comparison is biased); stratified, the
    interval covers the true effect of -10 points."""
    rng = np.random.default_rng(7)
    n = 6000
    tier = rng.choice(["high", "medium", "low"], n)
    segment = rng.choice(["SMB", "Enterprise"], n)
    base = np.select([tier == "high", tier == "medium"], [0.45, 0.25], 0.1) + 0.05 * (
        segment == "SMB"
    )
    done = rng.random(n) < np.select([tier == "high", tier == "medium"], [0.7, 0.4], 0.15)
    churned = rng.random(n) < base - 0.10 * done
    frame = pd.DataFrame(
        {
            "play_name": "Executive rescue",
            "as_of": AS_OF,
            "churn_tier": tier,
            "segment": segment,
            "play_done": done,
            "churn_label": churned.astype(int),
            "upsell_label": 0,
        }
    )
    out = play_effects(frame).iloc[0]
    assert out.churn_low <= -0.10 <= out.churn_high
    assert out.churn_high - out.churn_low < 0.08
    naive = churned[done].mean() - churned[~done].mean()
    assert naive > out.churn_high  # ignoring the strata would hide the effect


# --- the track-record page, the warehouse table and the scoring report ------------------------


def evaluated_record():
    """test_track_record's five scored accounts, all recommended a health check due in 14 days."""
    from churnml.track_record import track_record
    from test_track_record import OBSERVED, happened, mrr, scores

    scored = scores().assign(
        play_name="Health check", play_due=pd.Timestamp("2025-02-15").as_unit("us")
    )
    return track_record(scored, happened(), mrr(), 1, OBSERVED, calibration_bins=2)


def evaluated_log() -> pd.DataFrame:
    rows = [
        ("acc_1", "2025-02-03 10:00", "call", None),
        ("acc_3", "2025-02-20 10:00", "call", None),  # too late
        ("acc_4", "2025-02-10 10:00", "email", "Health check"),
        ("acc_5", "2025-02-04 10:00", "meeting", None),  # no known outcome: not evaluated
    ]
    return pd.DataFrame(rows, columns=["account_id", "occurred_at", "kind", "play"]).astype(
        {"occurred_at": "datetime64[us]"}
    )


def test_evaluation_measures_plays_and_shows_them_on_the_page_and_in_the_report(tmp_path):
    import duckdb
    import ibis
    from flows.evaluation import keep_record, measure_plays, write_page
    from flows.scoring import latest_play_effects

    from churnml.config import default_config
    from churnml.report import text
    from test_report_languages import keys, leaves, visible

    cfg = default_config(tmp_path)
    record = evaluated_record()
    assert measure_plays.fn(record, {}, cfg) is None  # no activity log mapped
    plays = measure_plays.fn(record, {"cs_activities": ibis.memtable(evaluated_log())}, cfg)
    row = plays.set_index("play_name").loc["Health check"]
    assert (row.recommended, row.done, row.as_ofs) == (4, 2, 1)  # acc_1, acc_4 done in time
    assert not row.estimated  # four accounts cannot give an estimate
    expected = {"en": "2 of 4 (50%)", "ja": "4件中2件（50%）"}
    for lang, done in expected.items():
        page = visible(
            Path(write_page.fn(record, cfg, lang, plays=plays)).read_text(encoding="utf-8")
        )
        words = text(lang)
        assert words["plays"]["section"] in page and words["plays"]["no_estimate"] in page
        assert done in page
        raw = {k for k in keys(words["plays"]) if "_" in k and k not in " ".join(leaves(words))}
        assert not [k for k in raw if k in page]
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    keep_record.fn(con, record, cfg, "run-1", plays=plays)
    keep_record.fn(con, record, cfg, "run-2", plays=plays)  # evaluating again replaces the rows
    unmapped = {k: v for k, v in cfg.sources.items() if k != "cs_activities"}
    without_log = cfg.model_copy(update={"sources": unmapped})
    assert latest_play_effects.fn(con, without_log) is None
    assert "cs_activities" in cfg.sources  # the default config maps the demo's log
    kept = latest_play_effects.fn(con, cfg)
    assert kept.play_name.tolist() == ["Health check"] and kept.done.tolist() == [2]
