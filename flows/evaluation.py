"""Evaluation flow: the scores written one horizon ago against what happened since, logged and kept."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from churnml.config import ChurnmlConfig
from churnml.io import score_history, tracking
from churnml.labels import outcome_tables
from churnml.report import headline, track_record_page
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
def write_page(record: TrackRecord, cfg: ChurnmlConfig, lang: str = "en") -> str:
    folder = cfg.resolve(cfg.output.report_dir)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"churnml-track-record-{pd.Timestamp(record.summary['as_of']):%Y-%m-%d}.html"
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(track_record_page(record, lang), encoding="utf-8")
    tmp.replace(target)
    return str(target)


@task(cache_policy=NO_CACHE)
def log_run(record: TrackRecord, cfg: ChurnmlConfig, page: str) -> str:
    return tracking.log_track_record_run(record, cfg, page)


@task(cache_policy=NO_CACHE)
def keep_record(con, record: TrackRecord, cfg: ChurnmlConfig, run_id: str) -> str:
    summary = record.summary_frame().assign(
        evaluated_at=pd.Timestamp(datetime.now(UTC).replace(tzinfo=None)).as_unit("us"),
        mlflow_run_id=run_id,
    )
    score_history.write_track_record(con, summary, cfg.track_record.table)
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
        page = write_page(record, cfg, lang)
        run_id = log_run(record, cfg, page)
        written = keep_record(con, record, cfg, run_id)
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
    }


__all__ = ["evaluation_flow"]
