"""MLflow tracking: runs, parameters, metrics and artifacts. Logging only: models and the
champion alias live in churnml.io.registry, training decisions in the training flow.

The tracking URI from the config is made absolute against the config folder, so a run from any
working directory writes to the same store.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
import pandas as pd

from churnml.config import ChurnmlConfig
from churnml.io.mlflow_store import local_store, tracking_uri
from churnml.urls import mask_url, redact

TRAINING_RUN_TAG = "churnml.run"


class TrackingError(RuntimeError):
    """The MLflow store is unreachable or holds no usable champion (see churnml.io.registry)."""


def configure(cfg: ChurnmlConfig) -> str:
    """Point MLflow at the configured store and experiment; returns the experiment id."""
    store = local_store(cfg)
    if store is not None:
        store.parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(tracking_uri(cfg))
    try:
        experiment = mlflow.get_experiment_by_name(cfg.mlflow.experiment)
        if experiment is None:
            root = cfg.resolve(cfg.mlflow.artifact_root)
            root.mkdir(parents=True, exist_ok=True)
            return mlflow.create_experiment(cfg.mlflow.experiment, artifact_location=root.as_uri())
        return experiment.experiment_id
    except Exception as exc:  # the driver's message may repeat the URL with its password
        uri = tracking_uri(cfg)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise TrackingError(
            f"MLflow store {mask_url(uri)} is unreachable: {redact(first, uri)}"
        ) from None


def code_version() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).parent,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def frame_fingerprint(frame: pd.DataFrame) -> str:
    """Content hash of a frame, so a run says exactly which data it saw."""
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()[:16]


def log_json(payload: dict, artifact_file: str) -> None:
    mlflow.log_dict(json.loads(json.dumps(payload, default=str)), artifact_file)


@contextmanager
def training_run(cfg: ChurnmlConfig, frame: pd.DataFrame, spec: dict) -> Iterator[str]:
    """One MLflow run per training flow run, opened with its inputs logged; yields the run id.
    A run that fails is ended FAILED, then deleted with its artifacts: no half-written run."""
    configure(cfg)
    mlflow.set_experiment(cfg.mlflow.experiment)
    run_id = None
    try:
        with mlflow.start_run(run_name="train") as run:
            run_id = run.info.run_id
            _log_inputs(cfg, frame, spec)
            yield run_id
    except BaseException:
        if run_id is not None:
            _delete_run(run_id)
        raise


def _log_inputs(cfg: ChurnmlConfig, frame: pd.DataFrame, spec: dict) -> None:
    mlflow.set_tags({TRAINING_RUN_TAG: "training", "code_version": code_version()})
    mlflow.log_params(
        {
            **{f"labels.{k}": v for k, v in cfg.labels.model_dump().items()},
            **{f"training.{k}": v for k, v in cfg.training.model_dump().items()},
            "features.windows_days": cfg.features.windows_days,
            "snapshots.count": cfg.snapshots.count,
            "snapshots.frequency": cfg.snapshots.frequency,
        }
    )
    log_json(
        {
            "rows": len(frame),
            "accounts": int(frame.account_id.nunique()),
            "as_of_min": str(frame.as_of.min()),
            "as_of_max": str(frame.as_of.max()),
            "content_hash": frame_fingerprint(frame),
        },
        "data/fingerprint.json",
    )
    log_json(spec, "features/spec.json")
    from churnml.label_sanity import label_rates, rates_records

    log_json(rates_records(label_rates(frame)), "data/label_rates.json")


def _delete_run(run_id: str) -> None:
    """Delete a failed run and the models it logged and, in a local artifact store, their
    artifacts; a store that fails here too is left as it is (the run stays FAILED), so the first failure is the one said."""
    import logging
    import shutil
    from urllib.parse import urlsplit
    from urllib.request import url2pathname

    def remove_local(uri: str | None, owner: str) -> None:
        """The local folder of an artifact URI, with the folder named after its run or model."""
        if not uri or urlsplit(uri).scheme != "file":
            return
        folder = Path(url2pathname(urlsplit(uri).path))
        shutil.rmtree(folder.parent if folder.parent.name == owner else folder, ignore_errors=True)

    client = mlflow.MlflowClient()
    try:
        run = client.get_run(run_id).info
        models = client.search_logged_models(
            [run.experiment_id], filter_string=f"source_run_id = '{run_id}'"
        )
        for model in models:  # a run's models are stored beside it, not in its artifacts
            client.delete_logged_model(model.model_id)
            remove_local(model.artifact_location, model.model_id)
        client.delete_run(run_id)
        remove_local(run.artifact_uri, run_id)
    except Exception as exc:  # noqa: BLE001 (the failure that got here is the one to say)
        logging.getLogger(__name__).warning("the failed run %s was not deleted: %s", run_id, exc)


def _new_paths(cfg: ChurnmlConfig) -> list[Path]:
    """The outermost folder or file of the local store and artifact root that does not exist
    yet: what a run creates there, and what a failed run removes."""
    wanted = [local_store(cfg)]
    if "://" not in cfg.mlflow.artifact_root:
        wanted.append(cfg.resolve(cfg.mlflow.artifact_root))
    created: list[Path] = []
    for path in filter(None, wanted):
        path = path.absolute()
        if path.exists():
            continue
        while not path.parent.exists():
            path = path.parent
        if path not in created:
            created.append(path)
    return created


@contextmanager
def store_removed_on_failure(cfg: ChurnmlConfig) -> Iterator[None]:
    """A local MLflow store (and artifact folder) that did not exist before is gone again when
    what runs inside fails: a failed first training leaves no half-made mlruns/ behind."""
    import shutil

    created = _new_paths(cfg)
    try:
        yield
    except BaseException:
        if created:
            _forget_store(tracking_uri(cfg))
            for path in created:
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                elif path.exists():
                    path.unlink()
        raise


def _forget_store(uri: str) -> None:
    """MLflow keeps each store, and its open database connections, for the process: drop them
    before the store's file goes, so a later run in this process creates it anew."""
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as RegistryStore
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as TrackingStore
    from mlflow.tracking._model_registry.registry import ModelRegistryStoreRegistry
    from mlflow.tracking._tracking_service.registry import TrackingStoreRegistry

    for store in (TrackingStore, RegistryStore):
        engine = getattr(store, "_engine_map", {}).pop(uri, None)
        if engine is not None:
            engine.dispose()
    for registry in (TrackingStoreRegistry, ModelRegistryStoreRegistry):
        cached = getattr(registry, "_get_store_with_resolved_uri", None)
        if hasattr(cached, "cache_clear"):
            cached.cache_clear()


def log_skipped_targets(skipped: dict[str, str]) -> None:
    """Targets the data could not train, with why (``targets.skipped`` and ``<target>.skipped``)."""
    mlflow.set_tag("targets.skipped", ", ".join(skipped) or "none")
    for target, reason in skipped.items():
        mlflow.set_tag(f"{target}.skipped", reason[:4000])


def log_evaluation(result, cfg: ChurnmlConfig) -> None:
    """A trained target's backtest: metrics, baseline, plots, calibration, segments, schema."""
    from churnml.catalogue import catalogue

    bundle, target = result.bundle, result.bundle.target
    log_json(
        {"features": bundle.features, "categories": bundle.categories},
        f"{target}/feature_schema.json",
    )
    log_json({"catalogue": catalogue(bundle.features)}, f"{target}/feature_catalogue.json")
    if bundle.drift_reference is not None:
        log_json(bundle.drift_reference, f"{target}/drift_reference.json")
    log_json(result.split.snapshot_spans(), f"{target}/backtest_split.json")
    _log_plots(result)
    _log_tables(result, cfg)
    if result.tuning_trials is not None:
        tuned = ("num_leaves", "max_depth", "min_child_samples", "learning_rate")
        tuned += ("feature_fraction", "lambda_l2")
        mlflow.log_params({f"{target}.tuned.{k}": getattr(result.params, k) for k in tuned})
        mlflow.log_table(
            result.tuning_trials.astype({"state": str}, errors="ignore"),
            f"{target}/tuning_trials.json",
        )
    if result.blend is not None and not result.blend.empty:
        mlflow.log_table(result.blend, f"{target}/linear_blend.json")
    mlflow.log_metrics({f"{target}.{k}": v for k, v in result.metrics.items() if v == v})
    mlflow.log_metrics(
        {f"{target}.baseline.{k}": v for k, v in result.baseline_metrics.items() if v == v}
    )


def _log_plots(result) -> None:
    from churnml.plots import evaluation_figure, shap_summary_figure

    bundle, target, preds = result.bundle, result.bundle.target, result.test_predictions
    fig = evaluation_figure(
        preds["label"].to_numpy(), preds["probability"].to_numpy(), f"{target}: backtest"
    )
    mlflow.log_figure(fig, f"{target}/plots/evaluation.png")
    sample = result.split.test.head(5000)
    fig = shap_summary_figure(
        bundle.contributions(sample), bundle.features, values=bundle.design_matrix(sample)
    )
    mlflow.log_figure(fig, f"{target}/plots/shap_summary.png")


def _log_tables(result, cfg: ChurnmlConfig) -> None:
    from churnml.metrics import calibration_table, metrics_by_segment

    target, preds = result.bundle.target, result.test_predictions
    mlflow.log_table(
        calibration_table(preds["label"], preds["probability"]), f"{target}/calibration.json"
    )
    segments = [c for c in ("attr_segment", "contract_plan", "size_band") if c in preds.columns]
    by_segment = metrics_by_segment(
        preds, "label", "probability", segments, cfg.outreach.capacity_top_k
    )
    if not by_segment.empty:
        mlflow.log_table(by_segment, f"{target}/metrics_by_segment.json")


def log_leakage_checks(target: str, checks) -> None:
    """The shuffled-label AUC, the dominant feature's share and the rolling backtest folds."""
    mlflow.log_metrics(
        {
            f"{target}.shuffled_label_auc": checks.shuffled_auc,
            f"{target}.top_feature_share": checks.top_feature_share,
        }
    )
    if checks.top_feature_auc is not None:
        mlflow.log_metric(f"{target}.top_feature_alone_auc", checks.top_feature_auc)
    folds = checks.folds
    if folds.empty:
        return
    mlflow.log_table(
        folds.assign(test_as_of=folds.test_as_of.astype(str)), f"{target}/rolling_backtest.json"
    )
    mlflow.log_metrics(
        {
            f"{target}.rolling.roc_auc_mean": float(folds.roc_auc.mean()),
            f"{target}.rolling.roc_auc_std": float(folds.roc_auc.std(ddof=0)),
            f"{target}.rolling.folds": float(len(folds)),
        }
    )


def log_gate(target: str, decision_text: str) -> None:
    mlflow.set_tag(f"{target}.gate", decision_text)


def training_markdown(summary: dict, results: dict, cfg: ChurnmlConfig) -> str:
    """The run summary a user reads after `churnml train` (also the Prefect artifact)."""
    lines = ["# churnml training run", ""]
    # weekly folds share their month: name them by day
    fold_date = "%Y-%m" if cfg.snapshots.frequency == "monthly" else "%Y-%m-%d"
    for target, t in summary["targets"].items():
        result = results[target]
        m, b, folds = result.metrics, result.baseline_metrics, t["rolling_backtest"]
        lines += [
            f"## {target} (model version {t['version']})",
            f"- backtest: {result.split.snapshot_spans()['test']}",
            f"- LightGBM: ROC AUC {m['roc_auc']:.3f}, PR AUC {m['pr_auc']:.3f}, Brier {m['brier']:.4f}, "
            f"top-decile lift {m['top_decile_lift']:.2f}, recall@{cfg.outreach.capacity_top_k} {m['recall_at_capacity']:.2f}",
            f"- logistic baseline: ROC AUC {b['roc_auc']:.3f}, PR AUC {b['pr_auc']:.3f}",
            (
                f"- Optuna: {len(result.tuning_trials)} trials on the calibration snapshot, "
                f"best validation AUC {result.tuning_trials['value'].max():.3f}"
                if result.tuning_trials is not None
                else "- parameters: as configured (Optuna tuning off)"
            ),
            "- rolling backtest ROC AUC: "
            + (
                ", ".join(f"{r['test_as_of']:{fold_date}} {r['roc_auc']:.3f}" for r in folds)
                if folds
                else "not enough history"
            ),
            f"- gate: {t['decision']}",
            "",
        ]
    for target, reason in summary["skipped"].items():
        lines += [f"## {target}: skipped", f"- {reason}", ""]
    return "\n".join(lines)


def log_scoring_run(
    cfg: ChurnmlConfig, as_of: str, versions: dict[str, str], drift: pd.DataFrame | None
) -> str:
    """One MLflow run per scoring run, in the training experiment: model versions and drift.

    The run is tagged ``drift.status`` (drifted / stable / not measured) and carries one PSI
    metric per score and feature (see churnml.drift.drift_metrics) and the PSI table.
    """
    from churnml.drift import drift_metrics, summarize

    configure(cfg)
    mlflow.set_experiment(cfg.mlflow.experiment)
    with mlflow.start_run(run_name=f"score {as_of}") as run:
        mlflow.set_tags(
            {
                "churnml.run": "scoring",
                "as_of": as_of,
                "code_version": code_version(),
                **{f"{target}.model_version": v for target, v in versions.items()},
            }
        )
        if drift is None or drift.empty:
            mlflow.set_tag("drift.status", "not measured")
        else:
            summary = summarize(drift)
            mlflow.set_tag("drift.status", "drifted" if summary["drifted"] else "stable")
            if summary["alerts"]:
                mlflow.set_tag("drift.alerts", summary["headline"])
            mlflow.log_metrics(drift_metrics(drift))
            mlflow.log_table(drift, "drift/psi.json")
    return run.info.run_id


def log_track_record_run(record, cfg: ChurnmlConfig, report_path: str | None = None) -> str:
    """One MLflow run per evaluation, tagged ``run_kind=evaluation``: the scored as-of, the model
    versions that produced the scores, the real-world metrics and the calibration tables."""
    configure(cfg)
    mlflow.set_experiment(cfg.mlflow.experiment)
    s = record.summary
    as_of = f"{pd.Timestamp(s['as_of']):%Y-%m-%d}"
    with mlflow.start_run(run_name=f"evaluate {as_of}") as run:
        mlflow.set_tags(
            {
                "run_kind": "evaluation",
                "scored_as_of": as_of,
                "observed_until": f"{pd.Timestamp(s['observed_until']):%Y-%m-%d %H:%M:%S}",
                "churn_model_version": s["churn_model_version"],
                "upsell_model_version": s["upsell_model_version"],
                "code_version": code_version(),
            }
        )
        mlflow.log_params(
            {
                **{f"labels.{k}": v for k, v in cfg.labels.model_dump().items()},
                "outreach.capacity_top_k": cfg.outreach.capacity_top_k,
                "outreach.churn_tier_thresholds": cfg.outreach.churn_tier_thresholds,
            }
        )
        numbers = {
            f"track_record.{k}": float(v)
            for k, v in s.items()
            if isinstance(v, int | float) and not isinstance(v, bool) and v == v
        }
        mlflow.log_metrics(numbers)
        log_json(s, "track_record/summary.json")
        for target, table in record.calibration.items():
            mlflow.log_table(table, f"track_record/{target}_calibration.json")
        for target, table in record.by_tier.items():
            mlflow.log_table(table, f"track_record/{target}_by_tier.json")
        for target, table in record.by_segment.items():
            mlflow.log_table(table, f"track_record/{target}_by_segment.json")
        if report_path:
            mlflow.log_artifact(report_path, "track_record")
        return run.info.run_id
