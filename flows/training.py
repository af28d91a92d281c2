"""Training flow: extract, validate, build the snapshot matrix, train both targets, gate, register."""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from churnml.config import ChurnmlConfig
from churnml.features import derive_spec
from churnml.io import tracking
from churnml.snapshots import snapshot_grid
from churnml.train import TrainResult, train_target
from flows.tasks import (
    build_matrix,
    canonical_tables,
    data_end,
    extract_with_retries,
    label_sanity,
    read_config,
    validate,
)

TARGETS = ("churn", "upsell")


@task(cache_policy=NO_CACHE)
def train_one(frame, target: str, spec: dict, cfg: ChurnmlConfig) -> TrainResult:
    return train_target(frame, target, spec, cfg)


@task(cache_policy=NO_CACHE)
def log_and_gate(
    results: dict[str, TrainResult], frame, cfg: ChurnmlConfig, spec_dict: dict
) -> dict:
    """One MLflow run: params, metrics, catalogue, fingerprint; register; move champion if earned."""
    return tracking.log_training_run(results, frame, cfg, spec_dict)


@flow(name="churnml-train", log_prints=True)
def training_flow(config_path: str | None = None) -> dict:
    """Retrain the churn and upsell models on every labelled snapshot."""
    cfg = read_config(config_path)
    tracking.configure(cfg)  # fail before any work if the store is unreachable
    con, mapped = extract_with_retries(cfg)
    validate(mapped, cfg)
    tables = canonical_tables(con, mapped)
    end = data_end(tables)
    last = cfg.snapshots.end or end.date()
    as_of_dates = snapshot_grid(last, cfg.snapshots.count, cfg.snapshots.frequency)
    spec = derive_spec(tables, cfg)
    frame = build_matrix(tables, as_of_dates, spec, cfg, end)
    label_sanity(frame, tables, cfg)  # its .rates are for the MLflow run (log_dict) at merge
    results = {target: train_one(frame, target, spec.to_dict(), cfg) for target in TARGETS}
    summary = log_and_gate(results, frame, cfg, spec.to_dict())
    create_markdown_artifact(key="churnml-training", markdown=summary["markdown"])
    get_run_logger().info(summary["markdown"])
    con.disconnect()
    return summary
