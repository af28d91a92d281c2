"""A training run that fails after its MLflow run began leaves no partial output: a store it
created is gone, and in a store that was there its run is deleted, its model versions are
unregistered and every champion alias is where it was."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from churnml.io.warehouse_writer import write_demo_warehouse
from flow_training import flow_training

pytestmark = pytest.mark.slow


class Injected(RuntimeError):
    """The failure a test injects inside a training run."""


@pytest.fixture(scope="module")
def config(prefect_backend, tmp_path_factory) -> Path:
    from importlib.resources import files

    root = tmp_path_factory.mktemp("failing-training")
    (root / "data").mkdir()
    write_demo_warehouse(root / "data" / "warehouse.duckdb", 300, 18, 5, events_per_user_day=0.04)
    raw = yaml.safe_load(files("churnml.defaults").joinpath("churnml.yaml").read_text())
    raw["mlflow"] = {"tracking_uri": "sqlite:///mlruns/mlflow.db", "artifact_root": "mlruns/a"}
    raw["training"] = flow_training(n_estimators=60, min_auc=0.5)
    path = root / "churnml.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def _fail_on_call(monkeypatch, target: str, after: int) -> list:
    """`target` (module.attr) raises Injected on call number `after` + 1; earlier calls run."""
    import importlib

    module, name = target.rsplit(".", 1)
    real = getattr(importlib.import_module(module), name)
    calls: list = []

    def failing(*args, **kwargs):
        calls.append(args)
        if len(calls) > after:
            raise Injected(f"injected failure in {name}")
        return real(*args, **kwargs)

    monkeypatch.setattr(importlib.import_module(module), name, failing)
    return calls


def _registry(config: Path) -> dict:
    """Each registered model's live versions and champion."""
    from churnml.config import load_config
    from churnml.io import registry
    from churnml.io.tracking import configure

    cfg = load_config(config)
    configure(cfg)
    state = {}
    for target in ("churn", "upsell"):
        versions = registry.list_versions(cfg, target)
        state[target] = (sorted(versions["version"]), registry.champion_version(cfg, target))
    return state


def test_a_failed_training_leaves_no_partial_store_or_run(config, monkeypatch):
    from flows.training import training_flow

    root = config.parent
    # 1. the first training fails after its run began: no mlruns/ afterwards
    with monkeypatch.context() as patch:
        calls = _fail_on_call(patch, "churnml.io.registry.register_bundle", after=1)
        with pytest.raises(Injected):
            training_flow(config_path=str(config))
    assert len(calls) == 2, "the failure came after one model was registered"
    assert not (root / "mlruns").exists()

    # 2. the same process trains again: a fresh store, both champions
    first = training_flow(config_path=str(config))
    before = _registry(config)
    assert before == {"churn": (["1"], "1"), "upsell": (["1"], "1")}, before
    artifacts = _artifacts(root)

    # 3. a training that fails registering its second model in the existing store: the run is
    # deleted with its artifacts, the version it registered (and promoted) is gone, the
    # champions are the earlier ones, and the earlier run is untouched
    _always_promote(monkeypatch)
    with monkeypatch.context() as patch:
        _fail_on_call(patch, "churnml.io.registry.register_bundle", after=1)
        with pytest.raises(Injected):
            training_flow(config_path=str(config))
    assert _registry(config) == before
    client = MlflowClient()
    runs = client.search_runs([client.get_experiment_by_name("churnml").experiment_id])
    assert [r.info.run_id for r in runs] == [first["run_id"]]
    assert runs[0].info.status == "FINISHED"
    assert _artifacts(root) == artifacts


def _artifacts(root: Path) -> list[Path]:
    """The folder of each run and of each logged model in the artifact store (loading a
    champion adds files to its model's folder)."""
    store = root / "mlruns" / "a"
    return sorted(p.relative_to(store) for p in [*store.iterdir(), *(store / "models").iterdir()])


def _always_promote(monkeypatch) -> None:
    """The gate promotes every challenger, so a failed run has moved a champion to undo."""
    import dataclasses

    import flows.training

    from churnml.gate import decide

    def promote(*args, **kwargs):
        return dataclasses.replace(decide(*args, **kwargs), promote=True)

    monkeypatch.setattr(flows.training, "decide", promote)
