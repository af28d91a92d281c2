"""Prefect tasks shared by the flows: each wraps one step; retries only where the outside world is touched."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from churnml.config import ChurnmlConfig, load_config
from churnml.io import sources
from churnml.io.frames import to_pandas
from churnml.label_sanity import LabelCheck, check_labels, raise_for_implausible, rates_text
from churnml.matrix import feature_matrix, observed_until
from churnml.schemas import validate_features
from churnml.validation import raise_for_problems, validate_sources


@task(cache_policy=NO_CACHE)
def read_config(config_path: str | None) -> ChurnmlConfig:
    from churnml.config import default_config

    return load_config(config_path) if config_path else default_config()


@task(cache_policy=NO_CACHE)
def extract(cfg: ChurnmlConfig, read_only: bool = False):
    """Open the warehouse and map every source onto the contract (lazy)."""
    con = sources.connect_warehouse(cfg, read_only=read_only)
    try:
        return con, sources.load_sources(con, cfg)
    except BaseException:
        con.disconnect()  # release the warehouse before a retry or another run
        raise


def extract_with_retries(cfg: ChurnmlConfig, read_only: bool = False):
    """`extract`, retried as configured (sources live on other systems), then a clear failure."""
    attempts = cfg.retries.source_reads + 1
    try:
        return extract.with_options(
            retries=cfg.retries.source_reads, retry_delay_seconds=cfg.retries.delay_seconds
        )(cfg, read_only)
    except Exception as exc:
        raise sources.SourceError(
            f"reading the sources failed after {attempts} attempt(s); nothing was computed or "
            f"written. Last error: {exc}"
        ) from exc


@task(cache_policy=NO_CACHE)
def validate(mapped: dict, cfg: ChurnmlConfig | None = None) -> None:
    """Stop before computing anything if a source breaks the contract."""
    problems = validate_sources(mapped, None, cfg.validation if cfg else None)
    if problems:
        logger = get_run_logger()
        logger.error("data validation failed: %d problem(s)", len(problems))
        for problem in problems:
            logger.error("  - %s", problem)
    raise_for_problems(problems)


@task(cache_policy=NO_CACHE)
def canonical_tables(con, mapped: dict) -> dict:
    return sources.materialize(con, mapped)


@task(cache_policy=NO_CACHE)
def data_end(tables: dict) -> datetime:
    return observed_until(tables)


@task(cache_policy=NO_CACHE)
def build_matrix(
    tables: dict,
    as_of_dates: list[date],
    spec,
    cfg: ChurnmlConfig,
    end: datetime | None,
    labelled: bool = True,
) -> pd.DataFrame:
    """Features (and labels when labelled) as a validated pandas frame, on the configured engine."""
    labels = cfg.labels if labelled else None
    if cfg.warehouse.engine == "spark":
        from churnml.io.spark import execute, spark_tables

        with spark_tables(cfg.spark, tables) as (con, staged):
            frame = execute(con, feature_matrix(staged, as_of_dates, spec, labels, end, cfg.labels))
    else:
        frame = to_pandas(feature_matrix(tables, as_of_dates, spec, labels, end, cfg.labels))
    return validate_features(frame, labelled=labelled)


@task(cache_policy=NO_CACHE)
def label_sanity(frame: pd.DataFrame, tables: dict, cfg: ChurnmlConfig) -> LabelCheck:
    """Print the label rates per snapshot; stop when the labels look like a mapping mistake."""
    subs = tables.get("subscriptions")
    starts = subs.select("account_id", "start_at").to_pandas() if subs is not None else None
    check = check_labels(frame, starts, cfg.labels)
    get_run_logger().info("label rates per snapshot:\n%s", rates_text(check.rates))
    raise_for_implausible(check)
    return check
