"""Evaluation flow: the scores written one horizon ago against what happened since, logged and kept."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from churnml.config import ChurnmlConfig
from churnml.forecast import forecast_vs_actual
from churnml.io import kpi_store, score_history, sinks, tracking
from churnml.labels import outcome_tables
from churnml.plays import evaluated_plays, play_effects
from churnml.report import headline, plays_section, track_record_page
from churnml.report.kpis import forecast_vs_actual_section
from churnml.schemas import validate_activities, validate_play_effects
from churnml.track_record import (
    TrackRecord,
    choose_as_of,
    mrr_change,
    outcomes,
    subscriptions_around,
    track_record,
)
from flows.tasks import canonical_tables, data_end, extract_with_retries, read_config, validate


@task(cache_policy=NO_CACHE)
def pick_as_of(con, cfg: ChurnmlConfig, end: datetime, requested: date | None) -> date:
    """The scored as-of to evaluate; fails before anything is written when none is mature."""
    history = score_history.history(con, cfg)
    return choose_as_of(history.as_ofs(), cfg.labels, end, requested, where=history.describe())


@task(cache_policy=NO_CACHE)
def read_scores(con, cfg: ChurnmlConfig, as_of: date) -> pd.DataFrame:
    return score_history.read_scores(con, cfg, as_of)


@task(cache_policy=NO_CACHE)
def actual_outcomes(tables: dict, as_of: date, cfg: ChurnmlConfig, end: datetime):
    """Labels of the accounts active at the as-of, and their MRR change over the upsell horizon
    (none without subscriptions)."""
    subs = tables.get("subscriptions")
    churns, expansions = outcome_tables(tables, cfg.labels)
    outcome = outcomes(
        subs, as_of, cfg.labels, end, churns, expansions, tables["accounts"]
    ).to_pandas()
    if subs is None:
        return outcome, None
    horizon, gap = cfg.labels.upsell_horizon_days, cfg.labels.reactivation_gap_days
    rows = subscriptions_around(subs, as_of, horizon, gap).to_pandas()
    return outcome, mrr_change(rows, as_of, horizon, gap)


@task(cache_policy=NO_CACHE)
def measure(scores, outcome, mrr, cfg: ChurnmlConfig, end: datetime) -> TrackRecord:
    return track_record(
        scores,
        outcome,
        mrr,
        cfg.outreach.capacity_top_k,
        end,
        cfg.track_record.calibration_bins,
    )


@task(cache_policy=NO_CACHE)
def forecast_beside_actual(con, record: TrackRecord, cfg: ChurnmlConfig, as_of: date):
    """The quarter's forecast the scoring run wrote at this as-of beside what happened (None
    when that run kept no forecast)."""
    forecast = kpi_store.read_forecast(con, cfg.kpis.forecast_table, as_of)
    if forecast is None:
        get_run_logger().info("no forecast was kept for as-of %s: nothing to compare", as_of)
        return None
    return forecast_vs_actual(forecast, record.summary)


def forecast_columns(comparison: pd.DataFrame | None) -> dict:
    """The comparison as track-record columns: forecast_<measure>[_low|_high]."""
    if comparison is None:
        return {}
    out = {}
    for r in comparison.itertuples(index=False):
        out[f"forecast_{r.measure}"] = float(r.forecast)
        out[f"forecast_{r.measure}_low"] = float(r.low)
        out[f"forecast_{r.measure}_high"] = float(r.high)
    return out


@task(cache_policy=NO_CACHE)
def measure_plays(record: TrackRecord, tables: dict, cfg: ChurnmlConfig) -> pd.DataFrame | None:
    """Per recommended play: done within its due date, and churn and expansion where it was
    versus comparable accounts where it was not (None without an activity log)."""
    scores = record.evaluated
    if "cs_activities" not in tables or scores is None or "play_due" not in scores.columns:
        return None
    acts = tables["cs_activities"]
    start = pd.Timestamp(record.summary["as_of"])
    until = pd.to_datetime(scores["play_due"]).max().normalize() + pd.Timedelta(days=1)
    window = acts.filter((acts.occurred_at >= start) & (acts.occurred_at < until))
    activities = validate_activities(
        window.select("account_id", "occurred_at", "kind", "play").to_pandas()
    )
    plays = evaluated_plays(scores, activities, cfg.activity.play_kinds)
    effects = play_effects(plays, cfg.activity.min_accounts, cfg.activity.confidence)
    return validate_play_effects(effects.assign(as_of=start.as_unit("us")))


@task(cache_policy=NO_CACHE)
def write_page(
    record: TrackRecord,
    cfg: ChurnmlConfig,
    lang: str = "en",
    comparison: pd.DataFrame | None = None,
    plays: pd.DataFrame | None = None,
) -> str:
    folder = cfg.resolve(cfg.output.report_dir)
    target = folder / f"churnml-track-record-{pd.Timestamp(record.summary['as_of']):%Y-%m-%d}.html"
    extra = []
    if comparison is not None:
        extra.append(forecast_vs_actual_section(comparison, lang))
    if plays is not None:
        activity = cfg.activity
        extra.append(plays_section(plays, activity.min_accounts, activity.confidence, lang))
    return sinks.write_report_file(target, track_record_page(record, lang, extra))


@task(cache_policy=NO_CACHE)
def log_run(record: TrackRecord, cfg: ChurnmlConfig, page: str) -> str:
    return tracking.log_track_record_run(record, cfg, page)


@task(cache_policy=NO_CACHE)
def keep_record(
    con,
    record: TrackRecord,
    cfg: ChurnmlConfig,
    run_id: str,
    comparison: pd.DataFrame | None = None,
    plays: pd.DataFrame | None = None,
) -> str:
    summary = record.summary_frame().assign(
        evaluated_at=pd.Timestamp(datetime.now(UTC).replace(tzinfo=None)).as_unit("us"),
        mlflow_run_id=run_id,
        **forecast_columns(comparison),
    )
    score_history.write_track_record(con, summary, cfg.track_record.table)
    if plays is not None and len(plays):
        score_history.write_track_record(con, plays, cfg.activity.table)
    return f"duckdb:{cfg.resolve(cfg.warehouse.path)}#{cfg.track_record.table}"


@flow(name="churnml-evaluate", log_prints=True)
def evaluation_flow(
    config_path: str | None = None, as_of: date | None = None, lang: str = "en"
) -> dict:
    """Evaluate a scored as-of (default: the latest whose outcome horizon is fully observed)."""
    cfg = read_config(config_path)
    tracking.configure(cfg)  # fail before any work if the store is unreachable
    con, mapped = extract_with_retries(cfg)
    try:
        validate(mapped, cfg)
        tables = canonical_tables(con, mapped)
        end = data_end(tables)
        chosen = pick_as_of(con, cfg, end, as_of)
        scores = read_scores(con, cfg, chosen)
        outcome, mrr = actual_outcomes(tables, chosen, cfg, end)
        record = measure(scores, outcome, mrr, cfg, end)
        comparison = forecast_beside_actual(con, record, cfg, chosen)
        plays = measure_plays(record, tables, cfg)
        page = write_page(record, cfg, lang, comparison, plays)
        run_id = log_run(record, cfg, page)
        written = keep_record(con, record, cfg, run_id, comparison, plays)
    finally:
        con.disconnect()  # release the warehouse for the next run, also after a failure
    text = headline(record.summary, lang)
    get_run_logger().info("%s -> %s, MLflow run %s, page %s", text, written, run_id, page)
    return {
        "as_of": str(chosen),
        "summary": record.summary,
        "headline": text,
        "run_id": run_id,
        "written": written,
        "report": page,
        "record": record,
        "forecast_vs_actual": comparison,
        "plays": plays,
    }


__all__ = ["evaluation_flow"]
