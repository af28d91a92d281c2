"""PSI, reference profiles and the drift verdict, on small frames whose answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnml.config import DriftConfig
from churnml.drift import (
    MISSING,
    UNSEEN,
    ages_with_calendar,
    bucket_names,
    categorical_profile,
    counts_whole_history,
    current_shares,
    drift_metrics,
    drift_table,
    level,
    numeric_edges,
    numeric_profile,
    psi,
    reference_profile,
    report_rows,
    summarize,
)
from churnml.report import drift_section


def report_section(table, cfg, lang="en"):
    """Title, table and note of the drift section as the report shows them."""
    s = drift_section(
        report_rows(table, cfg.report_top_features), summarize(table)["drifted"], cfg, lang
    )
    return s.title, s.table, s.note


CFG = DriftConfig()


def usage(n: int = 2000, seed: int = 0, scale: float = 1.0) -> pd.Series:
    rng = np.random.default_rng(seed)
    return pd.Series(rng.gamma(2.0, 20.0, n) * scale)


def self_psi(profile: dict, values) -> float:
    return psi(profile["shares"], current_shares(profile, values))


# --- PSI itself ---------------------------------------------------------------------------------


def test_psi_of_identical_shares_is_zero_and_grows_with_the_shift():
    ref = np.array([0.25, 0.25, 0.25, 0.25])
    assert psi(ref, ref) == pytest.approx(0.0, abs=1e-12)
    small = psi(ref, np.array([0.3, 0.25, 0.25, 0.2]))
    large = psi(ref, np.array([0.7, 0.1, 0.1, 0.1]))
    assert 0 < small < 0.1 < CFG.feature_alert < large
    # the textbook value: (0.7-0.25) ln(0.7/0.25) + 3 (0.1-0.25) ln(0.1/0.25)
    expected = 0.45 * np.log(0.7 / 0.25) + 3 * (-0.15) * np.log(0.1 / 0.25)
    assert large == pytest.approx(expected)


def test_psi_counts_an_empty_bin_as_epsilon_not_infinity():
    value = psi(np.array([0.5, 0.5, 0.0]), np.array([0.5, 0.4, 0.1]), epsilon=1e-4)
    assert np.isfinite(value)
    expected = -0.1 * np.log(0.4 / 0.5) + (0.1 - 1e-4) * np.log(0.1 / 1e-4)
    assert value == pytest.approx(expected)
    assert psi(np.array([1.0, 0.0]), np.array([1.0, 0.0])) == pytest.approx(0.0)


def test_psi_refuses_mismatched_or_empty_share_vectors():
    with pytest.raises(ValueError, match="one length"):
        psi(np.array([0.5, 0.5]), np.array([1.0]))
    with pytest.raises(ValueError, match="one length"):
        psi(np.array([]), np.array([]))


# --- numeric features -----------------------------------------------------------------------------


def test_numeric_reference_against_itself_is_about_zero_and_a_fresh_sample_is_stable():
    train = usage(seed=1)
    profile = numeric_profile(train, 10)
    assert len(profile["edges"]) == 9
    assert sum(profile["shares"]) == pytest.approx(1.0)
    assert self_psi(profile, train) == pytest.approx(0.0, abs=1e-9)
    assert self_psi(profile, usage(seed=2)) < CFG.feature_warn


def test_usage_halved_is_beyond_the_alert_threshold():
    profile = numeric_profile(usage(seed=1), 10)
    assert self_psi(profile, usage(seed=2, scale=0.5)) > CFG.feature_alert


def test_missing_values_have_their_own_bin():
    train = usage(seed=1)
    train.iloc[:200] = np.nan  # 10% missing at training
    profile = numeric_profile(train, 10)
    assert bucket_names(profile)[-1] == MISSING
    assert profile["shares"][-1] == pytest.approx(0.1)
    now = usage(seed=2)
    now.iloc[:1000] = np.nan  # half the accounts lost the value at scoring
    assert current_shares(profile, now)[-1] == pytest.approx(0.5)
    assert self_psi(profile, now) > CFG.feature_alert
    # same values, missing kept at 10%: stable
    now = usage(seed=2)
    now.iloc[:200] = np.nan
    assert self_psi(profile, now) < CFG.feature_warn


def test_constant_column_notices_values_on_either_side():
    profile = numeric_profile(pd.Series([3.0] * 50), 10)
    assert bucket_names(profile)[1] == "(3, 3]"  # the constant has a bucket of its own
    assert profile["shares"] == pytest.approx([0.0, 1.0, 0.0, 0.0])
    assert self_psi(profile, pd.Series([3.0] * 20)) == pytest.approx(0.0)
    assert self_psi(profile, pd.Series([2.0] * 10 + [3.0] * 10)) > CFG.feature_alert
    assert self_psi(profile, pd.Series([4.0] * 10 + [3.0] * 10)) > CFG.feature_alert


def test_tied_quantiles_collapse_into_fewer_bins():
    tickets = pd.Series([0.0] * 90 + [1.0] * 6 + [4.0] * 4)  # mostly zero
    edges = numeric_edges(tickets, 10)
    assert edges == sorted(set(edges)) and edges[0] == 0.0
    profile = numeric_profile(tickets, 10)
    assert profile["shares"][0] == pytest.approx(0.9)  # (-inf, 0] holds every zero
    more_tickets = pd.Series([0.0] * 50 + [1.0] * 25 + [4.0] * 25)
    assert self_psi(profile, more_tickets) > CFG.feature_alert


def test_an_all_missing_reference_still_notices_values_arriving():
    profile = numeric_profile(pd.Series([np.nan] * 10), 10)
    assert profile["edges"] == [] and profile["shares"] == [0.0, 1.0]
    assert self_psi(profile, pd.Series([np.nan] * 5)) == pytest.approx(0.0)
    assert self_psi(profile, pd.Series([1.0] * 5)) > CFG.feature_alert


def test_bins_must_be_at_least_two():
    with pytest.raises(ValueError, match="at least 2"):
        numeric_edges(usage(), 1)


# --- categorical features -------------------------------------------------------------------------


def test_categorical_levels_unseen_and_missing():
    train = pd.Series(["SMB"] * 60 + ["Mid-Market"] * 30 + ["Enterprise"] * 10)
    profile = categorical_profile(train)
    assert profile["levels"] == ["Enterprise", "Mid-Market", "SMB"]
    assert bucket_names(profile)[-2:] == [UNSEEN, MISSING]
    assert profile["shares"] == pytest.approx([0.1, 0.3, 0.6, 0.0, 0.0])
    assert self_psi(profile, train.sample(frac=1, random_state=0)) == pytest.approx(0.0)

    now = pd.Series(["SMB"] * 30 + ["Mid-Market"] * 30 + ["Enterprise"] * 10 + ["Public"] * 20)
    now = pd.concat([now, pd.Series([None] * 10)], ignore_index=True)
    shares = current_shares(profile, now)
    assert shares[-2] == pytest.approx(0.2) and shares[-1] == pytest.approx(0.1)
    assert self_psi(profile, now) > CFG.feature_alert


def test_categorical_dtype_and_strings_give_the_same_profile():
    values = ["pro", "basic", None, "pro"]
    as_str = categorical_profile(pd.Series(values, dtype="str"))
    as_cat = categorical_profile(pd.Series(values, dtype="category"))
    assert as_str == as_cat
    assert as_str["shares"] == pytest.approx([0.25, 0.5, 0.0, 0.25])


def test_empty_input_is_an_error_not_a_zero():
    with pytest.raises(ValueError, match="no rows"):
        numeric_profile(pd.Series([], dtype="float64"), 10)
    with pytest.raises(ValueError, match="no rows"):
        categorical_profile(pd.Series([], dtype="str"))
    profile = numeric_profile(usage(), 10)
    with pytest.raises(ValueError, match="no rows"):
        current_shares(profile, pd.Series([], dtype="float64"))


# --- the reference profile and the drift table ------------------------------------------------------


def training_rows(n: int = 1000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "usage_events_30d": rng.poisson(40, n).astype("float64"),
            "support_tickets_30d": rng.poisson(0.3, n).astype("float64"),
            "attr_segment": rng.choice(["SMB", "Mid-Market", "Enterprise"], n, p=[0.6, 0.3, 0.1]),
        }
    )


def profiles(train: pd.DataFrame, seed: int = 0) -> tuple[dict, np.ndarray]:
    scores = np.random.default_rng(seed).beta(2, 8, len(train))
    features = ["usage_events_30d", "support_tickets_30d", "attr_segment"]
    profile = reference_profile(train, features, ["attr_segment"], scores, 10)
    return {"churn": profile}, scores


def test_reference_profile_is_json_ready_and_describes_every_feature():
    import json

    profile, _ = profiles(training_rows())
    p = profile["churn"]
    assert json.loads(json.dumps(p)) == p
    assert set(p["features"]) == {"usage_events_30d", "support_tickets_30d", "attr_segment"}
    assert p["features"]["attr_segment"]["kind"] == "categorical"
    assert p["score"]["kind"] == "numeric" and p["rows"] == 1000 and p["bins"] == 10


def test_reference_profile_refuses_empty_training_rows_and_missing_features():
    with pytest.raises(ValueError, match="no rows"):
        reference_profile(training_rows().head(0), ["usage_events_30d"], [], [0.1], 10)
    with pytest.raises(KeyError, match="nps_last_score"):
        reference_profile(training_rows(), ["nps_last_score"], [], [0.1], 10)


def test_same_population_is_stable_and_usage_collapse_is_drift():
    train = training_rows(seed=0)
    reference, scores = profiles(train)
    today = training_rows(seed=1)
    table = drift_table(reference, today, {"churn": scores}, CFG)
    assert list(table.columns[:5]) == ["model", "kind", "name", "psi", "level"]
    assert table.iloc[0]["kind"] == "score"  # score first, then features by PSI
    assert (table["level"] == "stable").all(), table
    assert not summarize(table)["drifted"]

    today["usage_events_30d"] = today["usage_events_30d"] * 0.4
    table = drift_table(reference, today, {"churn": scores}, CFG)
    summary = summarize(table)
    assert summary["drifted"] and summary["features_alert"] == 1
    assert summary["alerts"][0].startswith("churn feature usage_events_30d: PSI ")
    assert table[table.kind == "feature"].iloc[0]["name"] == "usage_events_30d"
    assert summary["score_psi"]["churn"] < CFG.score_warn  # features moved, scores did not (yet)


def test_a_shifted_score_alone_marks_the_run():
    train = training_rows()
    reference, scores = profiles(train)
    table = drift_table(reference, training_rows(seed=1), {"churn": np.sqrt(scores)}, CFG)
    score = table[table.kind == "score"].iloc[0]
    assert score["level"] == "alert" and summarize(table)["drifted"]


def test_ignored_features_are_measured_but_do_not_mark_the_run():
    train = training_rows()
    reference, scores = profiles(train)
    today = training_rows(seed=1).assign(usage_events_30d=lambda f: f.usage_events_30d * 0.4)
    cfg = DriftConfig(ignore_features=["usage_events_30d"])
    table = drift_table(reference, today, {"churn": scores}, cfg)
    row = table[table.name == "usage_events_30d"].iloc[0]
    assert row["psi"] > cfg.feature_alert and row["level"] == "stable"
    assert not summarize(table)["drifted"]


def test_thresholds_come_from_the_config():
    train = training_rows()
    reference, scores = profiles(train)
    today = training_rows(seed=1)
    strict = DriftConfig(feature_warn=1e-4, feature_alert=1e-3)
    assert summarize(drift_table(reference, today, {"churn": scores}, strict))["drifted"]
    assert level(0.05, 0.1, 0.25) == "stable"
    assert level(0.2, 0.1, 0.25) == "watch"
    assert level(0.3, 0.1, 0.25) == "alert"


def test_drift_table_refuses_empty_scoring_rows_and_missing_features():
    reference, scores = profiles(training_rows())
    with pytest.raises(ValueError, match="no rows"):
        drift_table(reference, training_rows().head(0), {"churn": scores[:0]}, CFG)
    with pytest.raises(KeyError, match="attr_segment"):
        drift_table(reference, training_rows().drop(columns="attr_segment"), {"churn": scores}, CFG)


def test_metrics_name_every_score_and_feature():
    reference, scores = profiles(training_rows())
    today = training_rows(seed=1).assign(usage_events_30d=lambda f: f.usage_events_30d * 0.4)
    metrics = drift_metrics(drift_table(reference, today, {"churn": scores}, CFG))
    assert metrics["drift.drifted"] == 1.0
    assert metrics["drift.churn.feature.usage_events_30d"] > CFG.feature_alert
    assert {"drift.churn.score", "drift.churn.feature.attr_segment"} <= set(metrics)
    assert metrics["drift.max_feature_psi"] == metrics["drift.churn.feature.usage_events_30d"]


def test_report_section_speaks_plainly_and_lists_the_top_features():
    reference, scores = profiles(training_rows())
    today = training_rows(seed=1).assign(usage_events_30d=lambda f: f.usage_events_30d * 0.4)
    cfg = DriftConfig(report_top_features=2)
    title, table, note = report_section(drift_table(reference, today, {"churn": scores}, cfg), cfg)
    assert "the data moved" in title and "less reliable" in title
    assert "retrained" in note
    assert list(table["What"]) == ["churn score", "usage_events_30d", table["What"].iloc[2]]
    assert table["Level"].iloc[1] == "ALERT"
    assert table["Meaning"].iloc[1] == "product events in the last 30 days"

    title, _, note = report_section(
        drift_table(reference, training_rows(seed=1), {"churn": scores}, cfg), cfg, lang="ja"
    )
    assert "ありません" in title and "PSI" in note


# --- config -----------------------------------------------------------------------------------------


def config_with(tmp_path, drift: dict):
    import yaml

    from churnml.config import load_config

    raw = {
        "sources": {
            name: {"source": {"kind": "duckdb", "table": name}}
            for name in ("accounts", "subscriptions", "usage_events", "support_tickets")
        },
        "drift": drift,
    }
    path = tmp_path / "churnml.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return load_config(path)


def test_drift_config_defaults_and_overrides(tmp_path):
    from churnml.config import default_config

    cfg = default_config(tmp_path).drift
    assert (cfg.bins, cfg.feature_warn, cfg.feature_alert) == (10, 0.1, 0.25)
    assert (cfg.score_warn, cfg.score_alert, cfg.on_drift) == (0.1, 0.25, "warn")
    cfg = config_with(tmp_path, {"bins": 20, "score_alert": 0.4, "on_drift": "fail"}).drift
    assert (cfg.bins, cfg.score_alert, cfg.on_drift) == (20, 0.4, "fail")


@pytest.mark.parametrize(
    ("drift", "message"),
    [
        ({"feature_warn": 0.3, "feature_alert": 0.2}, "feature_warn"),
        ({"score_warn": 0.5}, "score_warn"),
        ({"bins": 1}, "bins"),
        ({"feature_alert": 0}, "feature_alert"),
        ({"on_drift": "ignore"}, "on_drift"),
        ({"feature_alrt": 0.3}, "feature_alrt"),
    ],
)
def test_drift_config_refuses_bad_values(tmp_path, drift, message):
    from churnml.config import ConfigError

    with pytest.raises(ConfigError, match=message):
        config_with(tmp_path, drift)


def test_the_headline_names_the_worst_shifts_briefly():
    reference, scores = profiles(training_rows())
    today = training_rows(seed=1).assign(usage_events_30d=lambda f: f.usage_events_30d * 0.4)
    summary = summarize(drift_table(reference, today, {"churn": scores}, CFG))
    assert summary["headline"].startswith("0 score(s) and 1 feature(s) beyond the alert threshold")
    assert "churn usage_events_30d" in summary["headline"]
    stable = summarize(drift_table(reference, training_rows(seed=1), {"churn": scores}, CFG))
    assert stable["headline"] == "no score or feature beyond the alert threshold"


def test_a_drift_warning_sits_under_the_summary_and_stays_escaped():
    from churnml.report import ExtraSection, render_report
    from report_data import PAYLOAD, scored_frame

    reference, scores = profiles(training_rows())
    today = training_rows(seed=1).assign(usage_events_30d=lambda f: f.usage_events_30d * 0.4)
    title, table, note = report_section(drift_table(reference, today, {"churn": scores}, CFG), CFG)
    table.loc[1, "What"] = PAYLOAD  # a feature name is data too
    warning = ExtraSection(title, table, note, top=True)
    later = ExtraSection("Later <b>section</b>", pd.DataFrame({"x": [1]}))
    html = render_report(scored_frame(5), extra_sections=[later, warning])
    assert PAYLOAD not in html and "&lt;script&gt;window.__pwned" in html
    assert "Later &lt;b&gt;section&lt;/b&gt;" in html
    at = html.index("<div class='warning'>")
    assert html.index('id="summary"') < at < html.index("Outreach list") < html.index("Later &lt;b")
    assert "the data moved since training" in html[at : html.index("Outreach list")]


def test_scoring_measures_the_models_probabilities_not_the_rounded_written_ones():
    """Calibrated scores sit on few levels and the reference edges on those levels: a level
    rounded up to 6 places for the write-back would move to the next bin."""
    from types import SimpleNamespace

    from flows.scoring import measure_drift
    from prefect.logging import disable_run_logger

    from churnml.config import default_config
    from churnml.drift import reference_profile

    levels = np.repeat([0.0204081632, 0.0454545454, 0.1, 0.2459016393], 250)
    features = pd.DataFrame({"usage_events_30d": np.arange(len(levels)) % 17})
    profile = reference_profile(features, ["usage_events_30d"], [], levels, bins=10)
    bundle = SimpleNamespace(drift_reference=profile, predict=lambda frame: levels.copy())
    scored = pd.DataFrame({"p_upsell": np.round(levels, 6)})
    # what the rounding alone would do to the PSI
    rounded = drift_table({"upsell": profile}, features, {"upsell": scored.p_upsell}, DriftConfig())
    assert rounded.loc[rounded.kind == "score", "psi"].iloc[0] > 0.25
    with disable_run_logger():
        table = measure_drift.fn(features, scored, {"upsell": (bundle, "1")}, default_config())
    assert table.loc[table.kind == "score", "psi"].iloc[0] < 0.01


# --- features that move with the calendar -----------------------------------------------------------

REF_AS_OF = pd.Timestamp("2026-03-01")
SCORED_AS_OF = pd.Timestamp("2026-07-01")  # 122 days later: horizon + gap
ELAPSED = (SCORED_AS_OF - REF_AS_OF).days


def accounts(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Accounts as of REF_AS_OF: tenure, a lifetime counter and its per-month rate."""
    rng = np.random.default_rng(seed)
    tenure = rng.gamma(2.0, 200.0, n)
    per_month = rng.gamma(3.0, 10.0, n)
    return pd.DataFrame(
        {
            "contract_tenure_days": tenure,
            "usage_events_lifetime": per_month * np.maximum(tenure / 30.4, 1.0),
            "usage_events_per_month": per_month,
        }
    )


def aged(frame: pd.DataFrame, days: int) -> pd.DataFrame:
    """The same accounts ``days`` later, using the product at the same monthly rate."""
    tenure = frame["contract_tenure_days"] + days
    return frame.assign(
        contract_tenure_days=tenure,
        usage_events_lifetime=frame["usage_events_per_month"] * np.maximum(tenure / 30.4, 1.0),
    )


def calendar_reference(as_of=REF_AS_OF) -> tuple[dict, np.ndarray]:
    train = accounts(seed=0)
    scores = np.random.default_rng(0).beta(2, 8, len(train))
    profile = reference_profile(train, list(train.columns), [], scores, 10, as_of=as_of)
    return {"churn": profile}, scores


def feature_row(table: pd.DataFrame, name: str) -> pd.Series:
    return table[table.name == name].iloc[0]


def test_the_reference_records_its_as_of():
    reference, _ = calendar_reference()
    assert reference["churn"]["as_of"] == "2026-03-01T00:00:00"
    utc, _ = calendar_reference(pd.Timestamp("2026-03-01", tz="UTC"))
    assert utc["churn"]["as_of"] == "2026-03-01T00:00:00"


@pytest.mark.parametrize(
    ("name", "ageing", "history"),
    [
        ("contract_tenure_days", True, False),
        ("attr_company_age_days", False, False),  # declared: may be a static copy
        ("usage_events_lifetime", False, True),
        ("usage_active_days_lifetime", False, True),
        ("usage_feature_x_lifetime", False, True),
        ("nps_responses", False, True),
        ("usage_events_per_month", False, False),
        ("usage_active_days_30d", False, False),
        ("usage_days_since_last_activity", False, False),
        ("contract_days_to_renewal", False, False),
    ],
)
def test_which_features_follow_the_calendar(name, ageing, history):
    assert ages_with_calendar(name) is ageing
    assert counts_whole_history(name) is history


def test_a_population_that_only_aged_is_stable_on_tenure_after_the_shift():
    reference, scores = calendar_reference()
    today = aged(accounts(seed=1), ELAPSED)
    unshifted = drift_table(reference, today, {"churn": scores}, CFG)
    assert feature_row(unshifted, "contract_tenure_days")["level"] == "alert"
    table = drift_table(reference, today, {"churn": scores}, CFG, SCORED_AS_OF)
    tenure = feature_row(table, "contract_tenure_days")
    assert tenure["psi"] < CFG.feature_warn and tenure["level"] == "stable"
    assert feature_row(table, "usage_events_per_month")["level"] == "stable"
    assert not summarize(table)["drifted"], table
    # the as-of may come as a date or a tz-aware timestamp
    same = drift_table(reference, today, {"churn": scores}, CFG, SCORED_AS_OF.date())
    assert feature_row(same, "contract_tenure_days")["psi"] == pytest.approx(tenure["psi"])


def test_a_population_renewed_at_a_steady_pace_stays_stable_on_tenure():
    """New accounts replace lost ones: the tenure shares are those of the reference even
    though its as-of is months older; shifting them alone would alert."""
    reference, scores = calendar_reference()
    today = accounts(seed=1)
    shifted_only = accounts(seed=1).assign(
        contract_tenure_days=lambda f: f.contract_tenure_days - ELAPSED
    )
    assert (
        feature_row(
            drift_table(reference, shifted_only, {"churn": scores}, CFG), "contract_tenure_days"
        )["level"]
        == "alert"
    )
    table = drift_table(reference, today, {"churn": scores}, CFG, SCORED_AS_OF)
    assert feature_row(table, "contract_tenure_days")["level"] == "stable"
    assert not summarize(table)["drifted"], table


def test_a_growing_lifetime_counter_is_measured_but_does_not_mark_the_run():
    reference, scores = calendar_reference()
    today = aged(accounts(seed=1), 3 * ELAPSED)
    table = drift_table(
        reference, today, {"churn": scores}, CFG, SCORED_AS_OF + pd.Timedelta(days=2 * ELAPSED)
    )
    lifetime = feature_row(table, "usage_events_lifetime")
    assert lifetime["psi"] > CFG.feature_alert and lifetime["level"] == "stable"
    assert not summarize(table)["drifted"], table
    assert drift_metrics(table)["drift.churn.feature.usage_events_lifetime"] == lifetime["psi"]
    judged = drift_table(
        reference,
        today,
        {"churn": scores},
        DriftConfig(history_counters="judge"),
        SCORED_AS_OF + pd.Timedelta(days=2 * ELAPSED),
    )
    assert feature_row(judged, "usage_events_lifetime")["level"] == "alert"
    assert summarize(judged)["drifted"]


def test_an_old_reference_without_as_of_is_compared_as_before():
    reference, scores = calendar_reference(as_of=None)
    assert reference["churn"]["as_of"] is None
    old = {"churn": {k: v for k, v in reference["churn"].items() if k != "as_of"}}
    today = aged(accounts(seed=1), ELAPSED)
    for profile in (reference, old):
        table = drift_table(profile, today, {"churn": scores}, CFG, SCORED_AS_OF)
        assert feature_row(table, "contract_tenure_days")["level"] == "alert"
    fresh = drift_table(old, accounts(seed=1), {"churn": scores}, CFG, SCORED_AS_OF)
    assert not summarize(fresh)["drifted"], fresh


def test_a_new_cohort_of_young_accounts_still_alerts_on_tenure():
    reference, scores = calendar_reference()
    today = aged(accounts(seed=1), ELAPSED)
    young = np.random.default_rng(2).uniform(0, ELAPSED, len(today) // 2)
    today.loc[: len(young) - 1, "contract_tenure_days"] = young
    table = drift_table(reference, today, {"churn": scores}, CFG, SCORED_AS_OF)
    tenure = feature_row(table, "contract_tenure_days")
    assert tenure["level"] == "alert" and summarize(table)["drifted"]


def test_history_counters_switch_in_the_config(tmp_path):
    from churnml.config import default_config

    assert default_config(tmp_path).drift.history_counters == "ignore"
    cfg = config_with(tmp_path, {"history_counters": "judge"}).drift
    assert cfg.history_counters == "judge"
    with pytest.raises(ValueError, match="history_counters"):
        config_with(tmp_path, {"history_counters": "maybe"})


def test_the_reference_as_of_defaults_to_the_rows_latest_snapshot():
    train = accounts(n=200).assign(
        as_of=np.repeat(pd.to_datetime(["2026-02-01", "2026-03-01"]), 100)
    )
    profile = reference_profile(train, ["contract_tenure_days"], [], np.full(200, 0.1), 10)
    assert profile["as_of"] == "2026-03-01T00:00:00"
