"""Prefect tasks shared by the flows: each wraps one step; retries only where the outside world is touched."""

from __future__ import annotations

import time
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
from churnml.validation import only_errors, only_warnings, raise_for_problems, validate_sources


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


def is_io_failure(exc: BaseException) -> bool:
    """Worth retrying: the outside world failed (a database, a file system), not the config,
    the mapping or the data, which would fail the same way every time."""
    import duckdb

    if isinstance(exc, sources.SourceReadError):
        return True
    if isinstance(exc, sources.SourceError):
        return False
    return isinstance(exc, (OSError, duckdb.IOException))


def extract_with_retries(cfg: ChurnmlConfig, read_only: bool = False):
    """`extract`, retried as configured when an I/O read fails; any other failure at once."""
    attempts = cfg.retries.source_reads + 1
    for attempt in range(1, attempts + 1):
        try:
            return extract(cfg, read_only)
        except Exception as exc:
            if not is_io_failure(exc):
                raise
            if attempt == attempts:
                raise sources.SourceError(
                    f"reading the sources failed after {attempts} attempt(s); nothing was "
                    f"computed or written. Last error: {exc}"
                ) from exc
            get_run_logger().warning(
                "reading the sources failed (attempt %d of %d), retrying in %gs: %s",
                attempt,
                attempts,
                cfg.retries.delay_seconds,
                exc,
            )
            time.sleep(cfg.retries.delay_seconds)
    raise AssertionError("unreachable")  # pragma: no cover


@task(cache_policy=NO_CACHE)
def validate(mapped: dict, cfg: ChurnmlConfig | None = None) -> None:
    """Stop before computing anything if a source breaks the contract; log warnings and go on."""
    problems = validate_sources(
        mapped,
        None,
        cfg.validation if cfg else None,
        cfg.labels.plan_order if cfg else (),
        cfg.features.onboarding_events if cfg else (),
    )
    logger = get_run_logger()
    errors, warnings = only_errors(problems), only_warnings(problems)
    if warnings:
        logger.warning("data checks: %d warning(s); the run goes on", len(warnings))
        for problem in warnings:
            logger.warning("  - %s", problem)
    if errors:
        logger.error("data validation failed: %d problem(s)", len(errors))
        for problem in errors:
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
        import duckdb

        try:
            frame = to_pandas(feature_matrix(tables, as_of_dates, spec, labels, end, cfg.labels))
        except duckdb.OutOfMemoryException:
            raise sources.warehouse_out_of_memory(cfg) from None
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
