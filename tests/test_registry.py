"""The model registry's three answers: unreachable, no champion (and why), a champion."""

from __future__ import annotations

import contextlib
import socket

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from churnml.config import default_config
from churnml.io import registry
from churnml.io.tracking import TRAINING_RUN_TAG, TrackingError, configure


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    """One SQLite store for the module (creating one takes seconds); names differ per test."""
    return tmp_path_factory.mktemp("registry")


def local_store(store_dir, name: str):
    cfg = default_config(store_dir)
    mlflow_cfg = cfg.mlflow.model_copy(
        update={
            "tracking_uri": "sqlite:///mlruns/mlflow.db",
            "artifact_root": "mlruns/a",
            "experiment": f"exp-{name}",
            "churn_model_name": f"{name}-churn",
            "upsell_model_name": f"{name}-upsell",
        }
    )
    cfg = cfg.model_copy(update={"mlflow": mlflow_cfg})
    configure(cfg)
    return cfg


def dead_store(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = default_config(tmp_path)
    mlflow_cfg = cfg.mlflow.model_copy(update={"tracking_uri": f"http://127.0.0.1:{port}"})
    return cfg.model_copy(update={"mlflow": mlflow_cfg})


def register_version(cfg, target: str, gate: str) -> str:
    """A registered version without a model behind it: enough for aliases and tags."""
    client = MlflowClient()
    name = registry.model_name(cfg, target)
    with contextlib.suppress(mlflow.exceptions.MlflowException):  # already registered
        client.create_registered_model(name)
    version = client.create_model_version(name, source=cfg.resolve("mlruns/a").as_uri()).version
    client.set_model_version_tag(name, version, registry.GATE_TAG, gate)
    return str(version)


def test_no_champion_registered_is_none_and_says_to_train(store_dir):
    cfg = local_store(store_dir, "fresh")
    assert registry.champion_or_none(cfg, "churn") is None
    with pytest.raises(registry.NoChampion, match="no champion model registered.*churnml train"):
        registry.load_champion(cfg, "churn")


def test_unreachable_registry_is_an_error_never_no_champion(tmp_path, monkeypatch):
    from flows.training import load_champions

    cfg = dead_store(tmp_path, monkeypatch)
    with pytest.raises(TrackingError, match="unreachable"):
        registry.champion_or_none(cfg, "churn")
    with pytest.raises(TrackingError, match="unreachable"):
        load_champions.fn(cfg, ["churn", "upsell"])  # the training flow's step: fails the run
    mlflow.set_tracking_uri(cfg.mlflow.tracking_uri)  # past the experiment check
    with pytest.raises(registry.RegistryUnreachable, match="unreachable"):
        registry.champion_version(cfg, "churn")


def test_a_refused_model_is_named_with_the_gate_reason(store_dir):
    cfg = local_store(store_dir, "refused")
    register_version(cfg, "churn", "KEEP CHAMPION: leakage alarm: AUC 0.995 is near-perfect")
    with pytest.raises(registry.NoChampion) as caught:
        registry.load_champion(cfg, "churn")
    message = str(caught.value)
    assert "kept none because KEEP CHAMPION: leakage alarm" in message
    assert "churnml train" not in message  # it did run: say what it decided instead
    versions = registry.list_versions(cfg, "churn")
    assert versions[["version", "champion"]].values.tolist() == [["1", False]]


def test_the_champion_alias_is_read_and_listed(store_dir):
    cfg = local_store(store_dir, "listed")
    register_version(cfg, "upsell", "PROMOTE: no current champion")
    second = register_version(cfg, "upsell", "PROMOTE: better")
    registry.set_champion(cfg, "upsell", second)
    assert registry.champion_version(cfg, "upsell") == "2"
    versions = registry.list_versions(cfg, "upsell")
    assert versions.version.tolist() == ["2", "1"] and versions.champion.tolist() == [True, False]
    assert versions.gate.iloc[0] == "PROMOTE: better"


def test_a_skipped_target_is_reported_as_skipped(store_dir):
    cfg = local_store(store_dir, "skipped")
    mlflow.set_experiment(cfg.mlflow.experiment)
    with mlflow.start_run():
        mlflow.set_tags(
            {
                TRAINING_RUN_TAG: "training",
                "upsell.skipped": "upsell_label: the fit period has only one outcome",
            }
        )
    message = registry.why_no_champion(cfg, "upsell")
    assert "last training run skipped upsell: upsell_label: the fit period" in message
    assert "churnml train" not in message
