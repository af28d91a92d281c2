"""Track record: scores written one horizon ago against what happened, numbers checked by hand."""

from __future__ import annotations

import math
from datetime import date, datetime

import duckdb
import ibis
import pandas as pd
import pytest

from churnml.config import LabelConfig, SinkConfig, default_config
from churnml.io import score_history
from churnml.io.sinks import SinkError, write_duckdb, write_file
from churnml.report import page_sections, render_page, render_report, track_record_section
from churnml.track_record import (
    TrackRecordError,
    choose_as_of,
    join_outcomes,
    matures_on,
    mrr_change,
    outcome_horizon_days,
    outcomes,
    recent_records,
    subscriptions_around,
    track_record,
)


def report_section(history, rows):
    return track_record_section(recent_records(history, rows))


AS_OF = pd.Timestamp("2025-02-01")
OBSERVED = datetime(2025, 12, 31)


def scores() -> pd.DataFrame:
    """Five accounts scored as of 2025-02-01; acc_5 has vanished from the data since."""
    p_churn = [0.9, 0.6, 0.4, 0.1, 0.8]
    arr = [100_000.0, 50_000.0, 20_000.0, 10_000.0, 7_000.0]
    return pd.DataFrame(
        {
            "account_id": ["acc_1", "acc_2", "acc_3", "acc_4", "acc_5"],
            "as_of": AS_OF,
            "segment": ["SMB", "SMB", "Mid", "Mid", "SMB"],
            "churn_model_version": "3",
            "upsell_model_version": "2",
            "p_churn": p_churn,
            "p_upsell": [0.1, 0.5, 0.3, 0.05, 0.2],
            "churn_tier": ["high", "medium", "low", "low", "high"],
            "upsell_tier": ["low", "high", "medium", "low", "low"],
            "arr": arr,
            "arr_at_risk": [p * a for p, a in zip(p_churn, arr, strict=True)],
            "expected_expansion_arr": [2000.0, 5000.0, 1200.0, 100.0, 280.0],
        }
    )


def happened() -> pd.DataFrame:
    """acc_1 and acc_3 churned, acc_2 expanded; acc_6 was active but never scored."""
    return pd.DataFrame(
        {
            "account_id": ["acc_1", "acc_2", "acc_3", "acc_4", "acc_6"],
            "as_of": AS_OF,
            "churn_label": [1, 0, 1, 0, 0],
            "churn_at": pd.to_datetime(["2025-03-01", None, "2025-04-01", None, None]),
            "upsell_label": [0, 1, 0, 0, 0],
        }
    )


def mrr() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account_id": ["acc_1", "acc_2", "acc_3", "acc_4"],
            "base_mrr": [8000.0, 4000.0, 1600.0, 800.0],
            "peak_mrr": [float("nan"), 4500.0, 1700.0, float("nan")],
        }
    )


def record(capacity_k: int = 1):
    return track_record(scores(), happened(), mrr(), capacity_k, OBSERVED, calibration_bins=2)


def test_ranking_calibration_metrics_match_hand_computation():
    s = record().summary
    # churn pairs (churned, stayed): .9>.6, .9>.1, .4<.6, .4>.1 -> 3 of 4
    assert s["churn_roc_auc"] == pytest.approx(0.75)
    assert s["churn_top_decile_lift"] == pytest.approx(2.0)  # top 1 of 4 churned, base rate 0.5
    assert s["churn_recall_at_capacity"] == pytest.approx(0.5)  # capacity 1: one of two churners
    assert s["churn_brier"] == pytest.approx((0.01 + 0.36 + 0.36 + 0.01) / 4)
    assert s["churn_positive_rate"] == pytest.approx(0.5)
    assert s["churn_predicted_rate"] == pytest.approx(0.5)
    assert s["upsell_roc_auc"] == pytest.approx(1.0)
    assert s["upsell_top_decile_lift"] == pytest.approx(4.0)
    assert (s["churn_model_version"], s["upsell_model_version"]) == ("3", "2")


def test_a_target_no_champion_scored_has_no_metrics_and_the_other_is_unchanged():
    scored = scores().assign(p_upsell=float("nan"), upsell_tier=None, expected_expansion_arr=None)
    s = track_record(scored, happened(), mrr(), 1, OBSERVED, calibration_bins=2).summary
    assert s["churn_roc_auc"] == pytest.approx(0.75)
    assert math.isnan(s["upsell_roc_auc"]) and math.isnan(s["upsell_predicted_rate"])
    assert s["upsell_positive_rate"] == record().summary["upsell_positive_rate"]


def test_arr_saved_versus_lost_and_expansion():
    s = record().summary
    assert s["arr_flagged"] == 150_000  # acc_1 high, acc_2 medium
    assert s["arr_flagged_retained"] == 50_000  # acc_2 stayed
    assert s["arr_flagged_lost"] == 100_000  # acc_1 churned although flagged
    assert s["arr_missed"] == 20_000  # acc_3 churned unflagged
    assert s["arr_churned"] == 120_000
    assert s["arr_at_risk_expected"] == pytest.approx(90_000 + 30_000 + 8_000 + 1_000)
    assert (s["churned_accounts"], s["churned_accounts_flagged"]) == (2, 1)
    assert s["expansion_arr_expected"] == pytest.approx(8_300)  # acc_5 has no outcome
    # acc_2 expanded 4000 -> 4500 MRR: 6000 ARR; acc_3's rise carries no upsell label
    assert s["expansion_arr_realised"] == pytest.approx(6_000)
    assert s["expansion_arr_realised_flagged"] == pytest.approx(6_000)
    assert (s["upsell_flagged_accounts"], s["upsell_flagged_expanded"]) == (2, 1)


def test_vanished_and_unscored_accounts_are_counted_never_scored_as_outcomes():
    r = record()
    s = r.summary
    assert (s["accounts_scored"], s["accounts_evaluated"]) == (5, 4)
    assert s["accounts_without_outcome"] == 1 and s["arr_without_outcome"] == 7_000
    assert s["accounts_active_not_scored"] == 1
    gone = r.evaluated.set_index("account_id").loc["acc_5"]
    assert not gone["outcome_known"] and pd.isna(gone["churn_label"])


def test_tier_and_calibration_tables():
    r = record()
    churn = r.by_tier["churn"].set_index("tier")
    assert churn.loc["high", "observed"] == 1.0 and churn.loc["high", "arr_churned"] == 100_000
    assert churn.loc["medium", "observed"] == 0.0 and churn.loc["medium", "accounts"] == 1
    assert churn.loc["low", "observed"] == 0.5 and churn.loc["low", "arr_churned"] == 20_000
    upsell = r.by_tier["upsell"].set_index("tier")
    assert upsell.loc["high", "expansion_arr_realised"] == 6_000
    cal = r.calibration["churn"]
    assert list(cal.columns) == ["accounts", "predicted", "observed"]
    assert cal["accounts"].sum() == 4
    assert cal["predicted"].tolist() == pytest.approx([0.25, 0.75])
    assert cal["observed"].tolist() == pytest.approx([0.5, 0.5])


def test_unobserved_outcomes_are_missing_and_nothing_known_is_an_error():
    immature = happened().assign(churn_label=None, upsell_label=None)
    joined = join_outcomes(scores(), immature, mrr())
    assert not joined["outcome_known"].any()
    with pytest.raises(TrackRecordError, match="none of the 5 accounts"):
        track_record(scores(), immature, mrr(), 1, OBSERVED)


def test_scores_without_a_required_column_fail_clearly():
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['churn_tier'\]"):
        join_outcomes(scores().drop(columns="churn_tier"), happened())
    two = pd.concat([scores(), scores().assign(as_of=pd.Timestamp("2025-03-01"))])
    with pytest.raises(ValueError, match="one scored as-of"):
        join_outcomes(two, happened())


LABELS = LabelConfig()  # churn 90 + gap 30, upsell 90: outcomes known 120 days after the as-of


def test_outcome_horizon_includes_the_reactivation_gap():
    assert outcome_horizon_days(LABELS) == 120
    assert outcome_horizon_days(LabelConfig(upsell_horizon_days=200)) == 200
    assert matures_on(date(2025, 1, 1), LABELS) == date(2025, 5, 1)


def test_default_is_the_latest_mature_scored_as_of():
    scored = [pd.Timestamp("2025-01-01"), date(2025, 3, 1), date(2025, 4, 1)]
    end = datetime(2025, 7, 15)  # 2025-03-01 matures on 06-29, 2025-04-01 on 07-30
    assert choose_as_of(scored, LABELS, end) == date(2025, 3, 1)
    assert choose_as_of(scored, LABELS, end, date(2025, 1, 1)) == date(2025, 1, 1)
    assert choose_as_of([date(2025, 3, 1)], LABELS, datetime(2025, 6, 29)) == date(2025, 3, 1)


def test_immature_or_unknown_as_of_is_refused():
    scored = [date(2025, 3, 1), date(2025, 4, 1)]
    end = datetime(2025, 7, 15)
    with pytest.raises(TrackRecordError, match=r"2025-04-01 is not mature.*2025-07-30"):
        choose_as_of(scored, LABELS, end, date(2025, 4, 1))
    with pytest.raises(TrackRecordError, match="2025-02-01 was never scored"):
        choose_as_of(scored, LABELS, end, date(2025, 2, 1))
    with pytest.raises(TrackRecordError, match=r"no scored as-of is mature.*--as-of 2025-02-28"):
        choose_as_of(scored, LABELS, datetime(2025, 6, 28))
    with pytest.raises(TrackRecordError, match="run `churnml score` first"):
        choose_as_of([], LABELS, end)


def test_outcomes_are_the_training_labels(tiny_tables):
    out = outcomes(tiny_tables["subscriptions"], date(2025, 2, 1), LABELS, OBSERVED).to_pandas()
    out = out.set_index("account_id")
    assert out.loc["acc_a", "churn_label"] == 1  # ends 2025-04-15
    assert out.loc["acc_c", "churn_label"] == 0  # cancelled 02-10, back 10 days later: no churn
    assert out.loc["acc_b", "upsell_label"] == 1  # 1000 -> 1500 MRR on 2025-03-10
    strict = LabelConfig(reactivation_gap_days=5)
    out = outcomes(tiny_tables["subscriptions"], date(2025, 2, 1), strict, OBSERVED).to_pandas()
    assert out.set_index("account_id").loc["acc_c", "churn_label"] == 1


def test_outcomes_follow_the_configured_outcome_sources(tiny_tables):
    import ibis

    from churnml.labels import outcome_tables

    tables = {
        **tiny_tables,
        "churn_events": ibis.memtable(
            pd.DataFrame(
                {
                    "account_id": ["acc_b", "acc_a"],
                    "churned_at": pd.to_datetime(["2025-03-01", "2025-01-20"]),
                }
            )
        ),
    }
    cfg = LabelConfig(churn_source="churn_events")
    churns, expansions = outcome_tables(tables, cfg)
    out = outcomes(tiny_tables["subscriptions"], date(2025, 2, 1), cfg, OBSERVED, churns)
    out = out.to_pandas().set_index("account_id")
    assert "acc_a" not in out.index  # recorded as churned before the as-of
    assert out.loc["acc_b", "churn_label"] == 0  # back on 2025-03-10, within the gap
    assert out.loc["acc_c", "churn_label"] == 0  # no churn recorded
    assert expansions is None


def test_mrr_change_over_the_upsell_horizon(tiny_tables):
    subs = tiny_tables["subscriptions"]
    rows = subscriptions_around(subs, date(2025, 2, 1), 90).to_pandas()
    change = mrr_change(rows, date(2025, 2, 1), 90).set_index("account_id")
    assert change.loc["acc_b", "base_mrr"] == 1000 and change.loc["acc_b", "peak_mrr"] == 1500
    assert change.loc["acc_a", "base_mrr"] == 500 and pd.isna(change.loc["acc_a", "peak_mrr"])
    # acc_c comes back on 02-20 at the same price: a change point, no growth
    assert change.loc["acc_c", "peak_mrr"] == 100


def test_track_record_on_tiny_tables_with_a_vanished_account(tiny_tables):
    """Outcomes from the subscriptions; an account scored then but gone from the data since."""
    subs = tiny_tables["subscriptions"]
    as_of = date(2025, 2, 1)
    scored = pd.DataFrame(
        {
            "account_id": ["acc_a", "acc_b", "acc_c", "acc_gone"],
            "as_of": pd.Timestamp(as_of),
            "p_churn": [0.7, 0.1, 0.3, 0.5],
            "p_upsell": [0.1, 0.6, 0.1, 0.1],
            "churn_tier": ["high", "low", "medium", "high"],
            "upsell_tier": ["low", "high", "low", "low"],
            "arr": [6000.0, 12000.0, 1200.0, 999.0],
            "arr_at_risk": [4200.0, 1200.0, 360.0, 499.5],
            "expected_expansion_arr": [120.0, 1440.0, 24.0, 20.0],
        }
    )
    outcome = outcomes(subs, as_of, LABELS, OBSERVED).to_pandas()
    change = mrr_change(subscriptions_around(subs, as_of, 90).to_pandas(), as_of, 90)
    s = track_record(scored, outcome, change, 2, OBSERVED).summary
    assert (s["accounts_evaluated"], s["accounts_without_outcome"]) == (3, 1)
    assert s["arr_without_outcome"] == 999.0
    assert s["churn_roc_auc"] == 1.0  # acc_a (0.7) is the only churner
    assert s["arr_flagged_lost"] == 6000 and s["arr_flagged_retained"] == 1200
    assert s["arr_missed"] == 0
    assert s["expansion_arr_realised"] == 6000  # acc_b: 12 x (1500 - 1000)


def test_record_never_reads_outcomes_from_the_scores():
    """A scores table carrying its own (wrong) label columns does not change the record."""
    lying = scores().assign(churn_label=0, upsell_label=1)
    s = track_record(lying, happened(), mrr(), 1, OBSERVED).summary
    assert s["churn_roc_auc"] == pytest.approx(0.75) and s["arr_flagged_lost"] == 100_000


# --- reading the score history and keeping the record ---------------------------------------------


def run_rows(as_of: str) -> pd.DataFrame:
    return scores().assign(as_of=pd.Timestamp(as_of).as_unit("us"))


def test_duckdb_history_lists_and_reads_scored_as_ofs(tmp_path):
    cfg = default_config(tmp_path)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    assert score_history.scored_as_ofs(con, cfg) == []
    write_duckdb(con, run_rows("2025-02-01"), "scored_accounts")
    write_duckdb(con, run_rows("2025-03-01"), "scored_accounts")
    assert score_history.scored_as_ofs(con, cfg) == [date(2025, 2, 1), date(2025, 3, 1)]
    back = score_history.read_scores(con, cfg, date(2025, 2, 1))
    assert len(back) == 5 and (back.as_of == pd.Timestamp("2025-02-01")).all()
    with pytest.raises(SinkError, match="no scores for as-of 2025-01-01"):
        score_history.read_scores(con, cfg, date(2025, 1, 1))


def test_file_sink_history_is_read_per_as_of_file(tmp_path):
    raw = default_config(tmp_path).model_dump()
    raw["output"]["sinks"] = [
        {"kind": "duckdb", "table": "scored_accounts"},
        {"kind": "csv", "table": "scored_accounts", "path": "crm"},
    ]
    raw["track_record"] = {"sink": "csv"}
    from churnml.config import ChurnmlConfig

    cfg = ChurnmlConfig.model_validate(raw)
    sink = score_history.history_sink(cfg)
    assert sink.kind == "csv"
    for as_of in ("2025-02-01", "2025-03-01"):
        write_file(run_rows(as_of), sink, cfg)
    (tmp_path / "crm" / "scored_accounts_notes.csv").write_text("x\n")  # not a run
    assert score_history.scored_as_ofs(None, cfg) == [date(2025, 2, 1), date(2025, 3, 1)]
    back = score_history.read_scores(None, cfg, date(2025, 3, 1))
    assert back.as_of.dtype == "datetime64[us]" and len(back) == 5
    raw["track_record"] = {"sink": "postgres"}
    with pytest.raises(SinkError, match="no such sink"):
        score_history.history_sink(ChurnmlConfig.model_validate(raw))


@pytest.mark.postgres
def test_postgres_history_is_read_back(monkeypatch):
    from churnml.io.sinks import write_postgres
    from pg_server import postgres_server

    with postgres_server() as url:
        monkeypatch.setenv("CHURNML_POSTGRES_URL", url)
        raw = default_config(".").model_dump()
        raw["output"]["sinks"] = [{"kind": "postgres", "table": "scored_accounts"}]
        from churnml.config import ChurnmlConfig

        cfg = ChurnmlConfig.model_validate(raw)
        assert score_history.scored_as_ofs(None, cfg) == []
        sink = SinkConfig(kind="postgres", table="scored_accounts")
        write_postgres(run_rows("2025-02-01"), sink)
        write_postgres(run_rows("2025-03-01"), sink)
        assert score_history.scored_as_ofs(None, cfg) == [date(2025, 2, 1), date(2025, 3, 1)]
        back = score_history.read_scores(None, cfg, date(2025, 3, 1))
        assert sorted(back.account_id) == sorted(scores().account_id)
        s = track_record(back, happened(), mrr(), 1, OBSERVED).summary
        assert s["churn_roc_auc"] == pytest.approx(0.75)


def test_track_record_table_replaces_an_as_of_and_keeps_the_others(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    assert score_history.read_track_record(con, "track_record") is None
    first = record().summary_frame()
    score_history.write_track_record(con, first, "track_record")
    again = first.assign(churn_roc_auc=0.5, note="rerun")  # a newer churnml adds a column
    score_history.write_track_record(con, again, "track_record")
    later = first.assign(as_of=pd.Timestamp("2025-03-01"))
    score_history.write_track_record(con, later, "track_record")
    kept = score_history.read_track_record(con, "track_record")
    assert kept.as_of.tolist() == [pd.Timestamp("2025-02-01"), pd.Timestamp("2025-03-01")]
    assert kept.churn_roc_auc.tolist() == [0.5, pytest.approx(0.75)]
    bad = later.assign(as_of=pd.Timestamp("2025-04-01"), accounts_scored="many")
    with pytest.raises(duckdb.Error):
        score_history.write_track_record(con, bad, "track_record")
    assert len(score_history.read_track_record(con, "track_record")) == 2


# --- reports ------------------------------------------------------------------------------------


def test_track_record_reaches_the_report_escaped():
    from report_data import scored_frame

    history = record().summary_frame().assign(churn_model_version="<script>x</script>")
    html = render_report(scored_frame(), extra_sections=[report_section(history, 6)])
    assert "<h2>Track record</h2>" in html
    assert "Missed ARR" in html and "churn ROC AUC" in html
    assert "<td>0.750</td>" in html and "<td>100,000</td>" in html
    assert "<script>x</script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html


def test_evaluate_page_defines_its_terms():
    r = record()
    html = render_page("churnml track record", "headline <b>", page_sections(r))
    assert "headline &lt;b&gt;" in html
    for title in ("ARR saved versus lost", "Churn: calibration", "Upsell: by tier", "Definitions"):
        assert f"<h2>{title}</h2>" in html
    assert "<td>missed ARR</td>" in html and "<td>20,000</td>" in html


def test_mrr_change_reads_the_base_across_a_one_day_renewal_gap():
    """Monthly renewals stored as [Jan 1, Jan 31), [Feb 1, ...): the base is January's MRR."""
    subs = pd.DataFrame(
        {
            "account_id": ["renews"] * 3 + ["came_back"] * 2 + ["new"] * 2,
            "start_at": pd.to_datetime(
                ["2025-01-01", "2025-02-01", "2025-03-01", "2024-10-01", "2025-02-01"]
                + ["2025-02-01", "2025-03-01"]
            ),
            "end_at": pd.to_datetime(
                ["2025-01-31", "2025-02-28", None, "2024-12-01", None, "2025-03-01", None]
            ),
            "mrr": [100.0, 100.0, 250.0, 100.0, 300.0, 80.0, 200.0],
        }
    )
    rows = subscriptions_around(ibis.memtable(subs), date(2025, 2, 1), 90, 30).to_pandas()
    change = mrr_change(rows, date(2025, 2, 1), 90, 30).set_index("account_id")
    assert change.loc["renews", "base_mrr"] == 100 and change.loc["renews", "peak_mrr"] == 250
    # gone longer than the gap, back at the as-of: a new customer, whose base is the row it
    # came back with; one starting at the as-of grows from its first row
    assert change.loc["came_back", "base_mrr"] == 300 == change.loc["came_back", "peak_mrr"]
    assert change.loc["new", "base_mrr"] == 80 and change.loc["new", "peak_mrr"] == 200
