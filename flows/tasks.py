"""Prefect tasks shared by the flows: each wraps one step; retries only where the outside world is touched."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from churnml.config import ChurnmlConfig, load_config
from churnml.io import sources
from churnml.matrix import feature_matrix, observed_until
from churnml.schemas import validate_features
from churnml.validation import raise_for_problems, validate_sources


@task(cache_policy=NO_CACHE)
def read_config(config_path: str | None) -> ChurnmlConfig:
    from churnml.config import default_config

    return load_config(config_path) if config_path else default_config()


@task(retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def extract(cfg: ChurnmlConfig, read_only: bool = False):
    """Open the warehouse and map every source onto the contract (lazy; retried on failure)."""
    con = sources.connect_warehouse(cfg, read_only=read_only)
    return con, sources.load_sources(con, cfg)


@task(cache_policy=NO_CACHE)
def validate(mapped: dict) -> None:
    """Stop before computing anything if a source breaks the contract."""
    problems = validate_sources(mapped)
    if problems:
        get_run_logger().error("data validation failed: %d problem(s)", len(problems))
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
            frame = execute(con, feature_matrix(staged, as_of_dates, spec, labels, end))
    else:
        frame = feature_matrix(tables, as_of_dates, spec, labels, end).to_pandas()
    return validate_features(frame, labelled=labelled)
