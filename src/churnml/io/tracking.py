"""MLflow: where runs, metrics and the registered model bundles live.

The tracking URI from the config is made absolute against the config folder, so a run from any
working directory writes to the same store. Scoring only ever loads ``models:/<name>@champion``.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
from pathlib import Path

import joblib
import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient

from churnml.config import ChurnmlConfig
from churnml.model import ModelBundle

CHAMPION = "champion"


class TrackingError(RuntimeError):
    """The MLflow store is unreachable or holds no usable champion."""


class BundleModel(mlflow.pyfunc.PythonModel):
    """pyfunc face of a ModelBundle: takes a feature frame, returns raw and calibrated scores."""

    def load_context(self, context) -> None:
        self.bundle: ModelBundle = joblib.load(context.artifacts["bundle"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        raw = self.bundle.predict_raw(model_input)
        return pd.DataFrame({"p_raw": raw, "p_cal": self.bundle.calibrator.predict(raw)})


def tracking_uri(cfg: ChurnmlConfig) -> str:
    uri = cfg.mlflow.tracking_uri
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        path = cfg.resolve(uri.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{path}"
    return uri


def configure(cfg: ChurnmlConfig) -> str:
    """Point MLflow at the configured store and experiment; returns the experiment id."""
    mlflow.set_tracking_uri(tracking_uri(cfg))
    try:
        experiment = mlflow.get_experiment_by_name(cfg.mlflow.experiment)
        if experiment is None:
            root = cfg.resolve(cfg.mlflow.artifact_root)
            root.mkdir(parents=True, exist_ok=True)
            return mlflow.create_experiment(cfg.mlflow.experiment, artifact_location=root.as_uri())
        return experiment.experiment_id
    except Exception as exc:
        raise TrackingError(f"MLflow store {tracking_uri(cfg)} is unreachable: {exc}") from exc


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


def model_name(cfg: ChurnmlConfig, target: str) -> str:
    return cfg.mlflow.churn_model_name if target == "churn" else cfg.mlflow.upsell_model_name


def log_bundle(bundle: ModelBundle, cfg: ChurnmlConfig, example: pd.DataFrame) -> str:
    """Log the bundle as a pyfunc inside the active run and register it; returns the version."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bundle.joblib"
        joblib.dump(bundle, path)
        info = mlflow.pyfunc.log_model(
            name=f"{bundle.target}_model",
            python_model=BundleModel(),
            artifacts={"bundle": str(path)},
            pip_requirements=[
                f"lightgbm=={_version('lightgbm')}",
                f"scikit-learn=={_version('scikit-learn')}",
                f"pandas=={_version('pandas')}",
            ],
            registered_model_name=model_name(cfg, bundle.target),
        )
    return str(info.registered_model_version)


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def set_champion(cfg: ChurnmlConfig, target: str, version: str) -> None:
    MlflowClient().set_registered_model_alias(model_name(cfg, target), CHAMPION, version)


def load_champion(cfg: ChurnmlConfig, target: str) -> tuple[ModelBundle, str]:
    """The champion bundle and its version; a clear error when the store or alias is missing."""
    configure(cfg)
    name = model_name(cfg, target)
    client = MlflowClient()
    try:
        version = client.get_model_version_by_alias(name, CHAMPION)
    except Exception as exc:
        raise TrackingError(
            f"no {CHAMPION} model registered as {name!r} in {tracking_uri(cfg)}: run `churnml train` first ({exc})"
        ) from exc
    model = mlflow.pyfunc.load_model(f"models:/{name}@{CHAMPION}")
    return model.unwrap_python_model().bundle, str(version.version)


def champion_or_none(cfg: ChurnmlConfig, target: str) -> tuple[ModelBundle, str] | None:
    try:
        return load_champion(cfg, target)
    except TrackingError:
        return None


def log_json(payload: dict, artifact_file: str) -> None:
    mlflow.log_dict(json.loads(json.dumps(payload, default=str)), artifact_file)


def _champion_auc_on(result, cfg: ChurnmlConfig) -> tuple[float | None, str | None, dict]:
    """The current champion's AUC on the challenger's test snapshots it has not seen, or None if
    it cannot be scored; the last item holds the challenger's AUC on the same rows for the gate."""
    from churnml.train import champion_comparison

    current = champion_or_none(cfg, result.bundle.target)
    if current is None:
        return None, None, {}
    bundle, version = current
    missing = [f for f in bundle.features if f not in result.split.test.columns]
    if missing:
        return None, version, {}
    challenger, champion, span = champion_comparison(result, bundle, cfg.outreach.capacity_top_k)
    return champion, version, {"challenger_vs_champion": challenger, "compared_on": span}


def log_training_run(results: dict, frame: pd.DataFrame, cfg: ChurnmlConfig, spec: dict) -> dict:
    """One MLflow run for a training flow run; registers each model and applies the gate."""
    import matplotlib.pyplot as plt

    from churnml.catalogue import catalogue
    from churnml.evaluate import calibration_table, metrics_by_segment
    from churnml.gate import decide
    from churnml.plots import evaluation_figure, shap_summary_figure
    from churnml.train import rolling_backtest, shuffled_label_auc, top_feature_share

    configure(cfg)
    mlflow.set_experiment(cfg.mlflow.experiment)
    summary: dict = {"targets": {}}
    lines = ["# churnml training run", ""]
    with mlflow.start_run(run_name="train") as run:
        mlflow.set_tag("code_version", code_version())
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
        for target, result in results.items():
            bundle = result.bundle
            log_json(
                {"features": bundle.features, "categories": bundle.categories},
                f"{target}/feature_schema.json",
            )
            log_json({"catalogue": catalogue(bundle.features)}, f"{target}/feature_catalogue.json")
            if bundle.drift_reference is not None:
                log_json(bundle.drift_reference, f"{target}/drift_reference.json")
            log_json(result.split.describe(), f"{target}/backtest_split.json")
            preds = result.test_predictions
            fig = evaluation_figure(
                preds["label"].to_numpy(), preds["probability"].to_numpy(), f"{target}: backtest"
            )
            mlflow.log_figure(fig, f"{target}/plots/evaluation.png")
            sample = result.split.test.head(5000)
            fig = shap_summary_figure(bundle.contributions(sample), bundle.features)
            mlflow.log_figure(fig, f"{target}/plots/shap_summary.png")
            plt.close("all")
            mlflow.log_table(
                calibration_table(preds["label"], preds["probability"]),
                f"{target}/calibration.json",
            )
            segments = [
                c for c in ("attr_segment", "contract_plan", "size_band") if c in preds.columns
            ]
            by_segment = metrics_by_segment(
                preds, "label", "probability", segments, cfg.outreach.capacity_top_k
            )
            if not by_segment.empty:
                mlflow.log_table(by_segment, f"{target}/metrics_by_segment.json")
            if result.tuning_trials is not None:
                mlflow.log_params(
                    {
                        f"{target}.tuned.{k}": getattr(result.params, k)
                        for k in (
                            "num_leaves",
                            "max_depth",
                            "min_child_samples",
                            "learning_rate",
                            "feature_fraction",
                            "lambda_l2",
                        )
                    }
                )
                mlflow.log_table(
                    result.tuning_trials.astype({"state": str}, errors="ignore"),
                    f"{target}/tuning_trials.json",
                )
            mlflow.log_metrics({f"{target}.{k}": v for k, v in result.metrics.items() if v == v})
            mlflow.log_metrics(
                {f"{target}.baseline.{k}": v for k, v in result.baseline_metrics.items() if v == v}
            )
            top_name, share = top_feature_share(bundle)
            shuffled = shuffled_label_auc(result, cfg)
            champion_auc, champion_version, same_rows = _champion_auc_on(result, cfg)
            decision = decide(
                result.metrics["roc_auc"],
                champion_auc,
                cfg.training.min_auc,
                share,
                shuffled,
                **same_rows,
            )
            version = log_bundle(bundle, cfg, result.split.test.head(5))
            if decision.promote:
                set_champion(cfg, target, version)
            mlflow.log_metrics(
                {f"{target}.shuffled_label_auc": shuffled, f"{target}.top_feature_share": share}
            )
            mlflow.set_tag(f"{target}.gate", decision.as_text())
            folds = rolling_backtest(frame, target, spec, cfg, result.params, result=result)
            if not folds.empty:
                mlflow.log_table(
                    folds.assign(test_as_of=folds.test_as_of.astype(str)),
                    f"{target}/rolling_backtest.json",
                )
                mlflow.log_metrics(
                    {
                        f"{target}.rolling.roc_auc_mean": float(folds.roc_auc.mean()),
                        f"{target}.rolling.roc_auc_std": float(folds.roc_auc.std(ddof=0)),
                        f"{target}.rolling.folds": float(len(folds)),
                    }
                )
            MlflowClient().set_model_version_tag(
                model_name(cfg, target), version, "gate", decision.as_text()
            )
            summary["targets"][target] = {
                "version": version,
                "promoted": decision.promote,
                "decision": decision.as_text(),
                "metrics": result.metrics,
                "baseline": result.baseline_metrics,
                "champion_before": champion_version,
                "top_feature": top_name,
                "rolling_backtest": folds.to_dict("records"),
            }
            m, b = result.metrics, result.baseline_metrics
            lines += [
                f"## {target} (model version {version})",
                f"- backtest: {result.split.describe()['test']}",
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
                    ", ".join(f"{r.test_as_of:%Y-%m} {r.roc_auc:.3f}" for r in folds.itertuples())
                    if not folds.empty
                    else "not enough history"
                ),
                f"- gate: {decision.as_text()}",
                "",
            ]
        summary["run_id"] = run.info.run_id
    summary["markdown"] = "\n".join(lines)
    return summary


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
