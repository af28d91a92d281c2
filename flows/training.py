"""Training flow: extract, validate, build the snapshot matrix, then per target
train -> leakage checks -> load champion -> gate -> register/promote -> log."""

from __future__ import annotations

from collections.abc import Callable

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from churnml.config import ChurnmlConfig
from churnml.features import derive_spec
from churnml.flow_logs import PRINTED_BY_THE_CLI
from churnml.gate import (
    GateDecision,
    LeakageChecks,
    champion_standing,
    decide,
)
from churnml.io import registry, tracking
from churnml.io.preflight import refuse_snapshots_after_data
from churnml.labels import unmeasured_targets
from churnml.snapshots import snapshot_grid
from churnml.train import (
    TargetNotTrainable,
    TrainResult,
    champion_comparison,
    rolling_backtest,
    shuffled_label_auc,
    single_feature_auc,
    top_feature_share,
    train_target,
)
from churnml.trainable import nothing_trains
from flows.tasks import (
    build_matrix,
    canonical_tables,
    data_end,
    extract_with_retries,
    label_sanity,
    read_config,
    validate,
)


def train_each(
    frame, spec: dict, cfg: ChurnmlConfig, warn: Callable[[str], object] = print
) -> tuple[dict[str, TrainResult], dict[str, str]]:
    """Each configured target; one its labels cannot support is skipped with one line (`warn`)
    and the others still train. None trainable: one-line TrainingError naming each reason."""
    results: dict[str, TrainResult] = {}
    skipped: dict[str, str] = {}
    unmeasured = unmeasured_targets(cfg.sources, cfg.labels)
    for target in cfg.training.targets:
        try:
            if target in unmeasured:
                raise TargetNotTrainable(unmeasured[target])
            if f"{target}_label" not in frame.columns:
                raise TargetNotTrainable(f"{target}_label: the data has no {target} labels")
            results[target] = train_target(frame, target, spec, cfg)
        except TargetNotTrainable as exc:
            skipped[target] = str(exc)
            warn(f"{target} skipped (not trained, no model registered): {exc}")
    if not results:
        raise nothing_trains(skipped)
    return results, skipped


@task(cache_policy=NO_CACHE)
def train_targets(
    frame, spec: dict, cfg: ChurnmlConfig
) -> tuple[dict[str, TrainResult], dict[str, str]]:
    return train_each(frame, spec, cfg, get_run_logger().warning)


@task(cache_policy=NO_CACHE)
def leakage_checks(frame, result: TrainResult, spec: dict, cfg: ChurnmlConfig) -> LeakageChecks:
    """Refits that show leakage or instability: shuffled labels, rolling out-of-time folds."""
    name, share = top_feature_share(result.bundle)
    alone = single_feature_auc(result.split, name, f"{result.bundle.target}_label")
    shuffled = shuffled_label_auc(result, cfg)
    folds = rolling_backtest(frame, result.bundle.target, spec, cfg, result.params, result=result)
    return LeakageChecks(shuffled, name, share, folds, alone)


@task(cache_policy=NO_CACHE)
def load_champions(cfg: ChurnmlConfig, targets) -> dict[str, registry.Champion | None]:
    """Every trained target's current champion (None: none registered). An unreachable
    registry fails the run here, before anything is registered or promoted."""
    return {target: registry.champion_or_none(cfg, target) for target in targets}


@task(cache_policy=NO_CACHE)
def gate(
    result: TrainResult,
    checks: LeakageChecks,
    champion: registry.Champion | None,
    cfg: ChurnmlConfig,
) -> tuple[GateDecision, str | None]:
    """The promotion decision, with the champion scored on the challenger's test rows."""
    standing = champion_standing(
        champion.bundle if champion else None,
        champion.version if champion else None,
        result.split.test,
        f"{result.bundle.target}_label",
        cfg.outreach.capacity_top_k,
    )
    same_rows: dict = {}
    if champion is not None and standing.auc is not None:
        # the champion was refitted on every snapshot labelled when it was trained: compare
        # both only on the test snapshots it never saw
        challenger_auc, standing.auc, span = champion_comparison(
            result, champion.bundle, cfg.outreach.capacity_top_k
        )
        same_rows = {"challenger_vs_champion": challenger_auc, "compared_on": span}
    decision = decide(
        result.metrics["roc_auc"],
        standing.auc,
        cfg.training.min_auc,
        checks.top_feature_share,
        checks.shuffled_auc,
        standing,
        **same_rows,
        top_feature=checks.top_feature,
        top_feature_auc=checks.top_feature_auc,
    )
    return decision, standing.version


@task(cache_policy=NO_CACHE)
def register_and_log(
    results: dict[str, TrainResult],
    checks: dict[str, LeakageChecks],
    decisions: dict[str, tuple[GateDecision, str | None]],
    skipped: dict[str, str],
    frame,
    spec: dict,
    cfg: ChurnmlConfig,
) -> dict:
    """One MLflow run: register each model, move the champion alias where earned, log it all."""
    summary: dict = {"targets": {}, "skipped": skipped}
    with (
        tracking.training_run(cfg, frame, spec) as run_id,
        registry.undone_on_failure(cfg) as changes,
    ):
        tracking.log_skipped_targets(skipped)
        for target, result in results.items():
            (decision, champion_before), text = decisions[target], decisions[target][0].as_text()
            tracking.log_evaluation(result, cfg)
            tracking.log_leakage_checks(target, checks[target])
            changes.before_changing(target)
            version = registry.register_bundle(result.bundle, cfg, result.split.test)
            changes.versions.append((target, version))
            if decision.promote:
                registry.set_champion(cfg, target, version)
            registry.tag_version(cfg, target, version, registry.GATE_TAG, text)
            tracking.log_gate(target, text)
            summary["targets"][target] = {
                "version": version,
                "promoted": decision.promote,
                "decision": text,
                "metrics": result.metrics,
                "baseline": result.baseline_metrics,
                "champion_before": champion_before,
                "top_feature": checks[target].top_feature,
                "rolling_backtest": checks[target].folds.to_dict("records"),
            }
    summary["run_id"] = run_id
    summary["markdown"] = tracking.training_markdown(summary, results, cfg)
    return summary


@flow(name="churnml-train", log_prints=True)
def training_flow(config_path: str | None = None) -> dict:
    """Retrain the configured targets (`training.targets`) on every labelled snapshot."""
    cfg = read_config(config_path)
    with tracking.store_removed_on_failure(cfg):
        return _train(cfg)


def _train(cfg: ChurnmlConfig) -> dict:
    tracking.configure(cfg)  # fail before any work if the store is unreachable
    con, mapped = extract_with_retries(cfg)
    validate(mapped, cfg)
    tables = canonical_tables(con, mapped)
    end = data_end(tables)
    refuse_snapshots_after_data(cfg, end)
    last = cfg.snapshots.end or end.date()
    as_of_dates = snapshot_grid(last, cfg.snapshots.count, cfg.snapshots.frequency)
    spec = derive_spec(tables, cfg)
    frame = build_matrix(tables, as_of_dates, spec, cfg, end)
    label_sanity(frame, tables, cfg)
    con.disconnect()

    results, skipped = train_targets(frame, spec.to_dict(), cfg)
    checks = {t: leakage_checks(frame, r, spec.to_dict(), cfg) for t, r in results.items()}
    champions = load_champions(cfg, list(results))
    decisions = {t: gate(r, checks[t], champions[t], cfg) for t, r in results.items()}
    summary = register_and_log(results, checks, decisions, skipped, frame, spec.to_dict(), cfg)

    create_markdown_artifact(key="churnml-training", markdown=summary["markdown"])
    get_run_logger().info(summary["markdown"], extra=PRINTED_BY_THE_CLI)
    return summary
