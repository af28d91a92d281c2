"""Loading the champion again and again leaves the process as it was (a long `churnml serve`)."""

from __future__ import annotations

import sys

import mlflow
import numpy as np
import pytest

from churnml.config import default_config
from churnml.io import registry
from churnml.io.tracking import configure
from test_train import labelled_frame


@pytest.fixture(scope="module")
def champion(tmp_path_factory):
    """A small churn bundle registered as the champion, with its training frame."""
    from churnml.train import train_target

    cfg = default_config(tmp_path_factory.mktemp("loading"))
    training = cfg.training.model_copy(update={"n_estimators": 20, "num_threads": 1})
    cfg = cfg.model_copy(update={"training": training})
    frame = labelled_frame(n_accounts=120)
    bundle = train_target(frame, "churn", {}, cfg).bundle
    with mlflow.start_run(experiment_id=configure(cfg)):
        version = registry.register_bundle(bundle, cfg, frame)
    registry.set_champion(cfg, "churn", version)
    return cfg, bundle, frame, version


def test_loading_the_champion_many_times_does_not_grow_sys_path(champion):
    cfg, bundle, frame, version = champion
    registry.load_champion(cfg, "churn")  # first load: MLflow's own imports settle
    before = list(sys.path)
    for _ in range(4):
        loaded, loaded_version = registry.load_champion(cfg, "churn")
    assert sys.path == before
    assert loaded_version == version
    example = registry.input_example(bundle, frame)
    np.testing.assert_allclose(loaded.predict(example), bundle.predict(example))


def test_sys_path_is_restored_when_loading_fails(champion, monkeypatch):
    cfg = champion[0]

    def broken(uri):
        sys.path = ["/nowhere/code", *sys.path]  # as MLflow adds a model's code folder
        raise OSError("disk gone")

    monkeypatch.setattr(mlflow.pyfunc, "load_model", broken)
    before = list(sys.path)
    with pytest.raises(registry.RegistryUnreachable, match="could not be loaded.*disk gone"):
        registry.load_champion(cfg, "churn")
    assert sys.path == before
