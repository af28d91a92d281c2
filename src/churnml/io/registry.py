"""The MLflow model registry: registered bundles, the `champion` alias, and why there is none.

Three answers are kept apart, because they call for different actions: the registry cannot be
reached (fail, promote nothing), no champion is registered (the first model may become one, or
scoring says what the last training decided), and a champion exists (compare against it).
Scoring only ever loads ``models:/<name>@champion``.
"""

from __future__ import annotations

import inspect
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import version as package_version
from pathlib import Path

import joblib
import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from churnml.config import ChurnmlConfig
from churnml.io.tracking import TRAINING_RUN_TAG, TrackingError, configure, tracking_uri
from churnml.model import ModelBundle
from churnml.urls import mask_url, redact

CHAMPION = "champion"
GATE_TAG = "gate"


class RegistryUnreachable(TrackingError):
    """The registry did not answer: nothing can be compared, promoted or loaded."""


class NoChampion(TrackingError):
    """The registry answered, and holds no champion for this target."""


PYFUNC_SCRIPT = Path(__file__).with_name("pyfunc_model.py")
# the churnml modules a pickled bundle refers to (ModelBundle, its calibrators): they travel
# with the model so that it loads where churnml is not installed
BUNDLE_MODULES = ("model.py", "calibration.py", "treeshap.py", "linear.py")
# what loading and predicting needs, pinned to the versions the model was trained with
# (mlflow itself is added by MLflow)
BUNDLE_REQUIREMENTS = ("lightgbm", "scikit-learn", "pandas", "numpy", "joblib")


@dataclass
class Champion:
    bundle: ModelBundle
    version: str


def model_name(cfg: ChurnmlConfig, target: str) -> str:
    return cfg.mlflow.churn_model_name if target == "churn" else cfg.mlflow.upsell_model_name


def input_example(bundle: ModelBundle, features: pd.DataFrame, rows: int = 5) -> pd.DataFrame:
    """A few rows as the pyfunc takes them: the model's features, categories as strings."""
    example = bundle.design_matrix(features.head(rows))
    for col in bundle.categories:
        example[col] = example[col].astype("string").astype(object)
    # object column labels: MLflow compares them with a range, which pandas warns about for
    # Arrow-backed string labels on every registration
    example.columns = pd.Index(list(example.columns), dtype=object)
    return example.reset_index(drop=True)


def _code_package(folder: Path) -> Path:
    """A copy of the churnml modules a bundle needs, as a package MLflow puts on sys.path."""
    package = folder / "churnml"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    source = Path(inspect.getfile(ModelBundle)).parent
    for name in BUNDLE_MODULES:
        shutil.copy(source / name, package / name)
    return package


def register_bundle(
    bundle: ModelBundle, cfg: ChurnmlConfig, features: pd.DataFrame | None = None
) -> str:
    """Log the bundle as a pyfunc inside the active run and register it; returns the version.
    With `features` (rows of the training frame) it carries a signature and an input example."""
    example = signature = None
    if features is not None and len(features):
        example = input_example(bundle, features)
        signature = infer_signature(example, _scores(bundle, example))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bundle.joblib"
        joblib.dump(bundle, path)
        info = mlflow.pyfunc.log_model(
            name=f"{bundle.target}_model",
            python_model=str(PYFUNC_SCRIPT),
            artifacts={"bundle": str(path)},
            code_paths=[str(_code_package(Path(tmp)))],
            pip_requirements=[f"{p}=={package_version(p)}" for p in BUNDLE_REQUIREMENTS],
            signature=signature,
            input_example=example,
            registered_model_name=model_name(cfg, bundle.target),
        )
    return str(info.registered_model_version)


def _scores(bundle: ModelBundle, example: pd.DataFrame) -> pd.DataFrame:
    """What the pyfunc returns for the example (pyfunc_model.BundleModel.predict)."""
    raw = bundle.predict_raw(example)
    return pd.DataFrame({"p_raw": raw, "p_cal": bundle.calibrator.predict(raw)})


def set_champion(cfg: ChurnmlConfig, target: str, version: str) -> None:
    MlflowClient().set_registered_model_alias(model_name(cfg, target), CHAMPION, version)


def tag_version(cfg: ChurnmlConfig, target: str, version: str, key: str, value: str) -> None:
    MlflowClient().set_model_version_tag(model_name(cfg, target), version, key, value)


@dataclass
class RegistryChanges:
    """What a training run changed in the registry, to undo when the run fails: the versions it
    registered, each target's champion before, the registered models it created."""

    cfg: ChurnmlConfig
    versions: list[tuple[str, str]] = field(default_factory=list)
    champions_before: dict[str, str | None] = field(default_factory=dict)
    new_models: set[str] = field(default_factory=set)

    def before_changing(self, target: str) -> None:
        """Remember the target's registry state before the run registers or promotes."""
        if target in self.champions_before:
            return
        model = _registered_model(self.cfg, target)
        if model is None:
            self.new_models.add(target)
        aliases = getattr(model, "aliases", None) or {}
        found = aliases.get(CHAMPION)
        self.champions_before[target] = None if found is None else str(found)

    def undo(self) -> None:
        """Delete the registered versions (their aliases go with them), put each champion alias
        back, delete the registered models the run created."""
        client = MlflowClient()
        for target, version in reversed(self.versions):
            client.delete_model_version(model_name(self.cfg, target), version)
        for target, before in self.champions_before.items():
            name = model_name(self.cfg, target)
            if target in self.new_models:
                if _registered_model(self.cfg, target) is not None:
                    client.delete_registered_model(name)
            elif before is not None:
                client.set_registered_model_alias(name, CHAMPION, before)


@contextmanager
def undone_on_failure(cfg: ChurnmlConfig) -> Iterator[RegistryChanges]:
    """Registry changes made inside (recorded on the yielded RegistryChanges) are undone when it
    fails: no version of a failed run stays registered or champion. A registry that fails the
    undo too is logged, and the first failure is the one raised."""
    import logging

    changes = RegistryChanges(cfg)
    try:
        yield changes
    except BaseException:
        try:
            changes.undo()
        except Exception as exc:  # noqa: BLE001
            logging.getLogger(__name__).warning("registry changes not undone: %s", exc)
        raise


def _where(cfg: ChurnmlConfig) -> str:
    """The tracking store's address with any password masked, for messages."""
    return mask_url(tracking_uri(cfg))


def _said(exc: BaseException, cfg: ChurnmlConfig) -> str:
    """The first line of a store error, with the store's URL and password masked."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return redact(first, tracking_uri(cfg))


def _registered_model(cfg: ChurnmlConfig, target: str):
    """The registered model, None if it was never registered; RegistryUnreachable otherwise."""
    name = model_name(cfg, target)
    try:
        return MlflowClient().get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise RegistryUnreachable(
            f"model registry {_where(cfg)} is unreachable (asked for {name!r}): {_said(exc, cfg)}"
        ) from None
    except Exception as exc:  # connection refused, timeouts, a broken store
        raise RegistryUnreachable(
            f"model registry {_where(cfg)} is unreachable: {_said(exc, cfg)}"
        ) from None


def champion_version(cfg: ChurnmlConfig, target: str) -> str | None:
    """The champion's version, None when none is registered; raises RegistryUnreachable."""
    model = _registered_model(cfg, target)
    if model is None:
        return None
    aliases = getattr(model, "aliases", None) or {}
    found = aliases.get(CHAMPION)
    return None if found is None else str(found)


def load_champion(cfg: ChurnmlConfig, target: str) -> tuple[ModelBundle, str]:
    """The champion bundle and its version; NoChampion or RegistryUnreachable otherwise."""
    configure(cfg)
    version = champion_version(cfg, target)
    if version is None:
        raise NoChampion(why_no_champion(cfg, target))
    name = model_name(cfg, target)
    try:
        with _sys_path_kept():
            model = mlflow.pyfunc.load_model(f"models:/{name}@{CHAMPION}")
    except Exception as exc:
        raise RegistryUnreachable(
            f"the {target} champion ({name} version {version}) could not be loaded from "
            f"{_where(cfg)}: {_said(exc, cfg)}"
        ) from None
    return model.unwrap_python_model().bundle, version


@contextmanager
def _sys_path_kept() -> Iterator[None]:
    """Undo the entries MLflow prepends to sys.path for a model's ``code`` folder at every load:
    churnml is already imported here, and a long `churnml serve` would grow sys.path by one
    download folder per scoring run."""
    before = set(sys.path)
    try:
        yield
    finally:
        sys.path[:] = [p for p in sys.path if p in before]


def champion_or_none(cfg: ChurnmlConfig, target: str) -> Champion | None:
    """The current champion, or None when none is registered. An unreachable registry raises:
    it must never pass for "no champion", which would promote the challenger unexamined."""
    try:
        bundle, version = load_champion(cfg, target)
    except NoChampion:
        return None
    return Champion(bundle, version)


def why_no_champion(cfg: ChurnmlConfig, target: str) -> str:
    """What the registry and the last training run say about a target without a champion."""
    name = model_name(cfg, target)
    skipped = _last_training_skip(cfg, target)
    if skipped is not None:
        return f"no {target} champion: the last training run skipped {target}: {skipped}"
    versions = list_versions(cfg, target)
    if versions.empty:
        return (
            f"no {CHAMPION} model registered as {name!r} in {_where(cfg)}: "
            "run `churnml train` first"
        )
    last = versions.iloc[0]
    reason = last["gate"] or "no gate decision recorded"
    return (
        f"no {target} champion: the last training (model {name} version {last['version']}) "
        f"kept none because {reason}"
    )


def _last_training_skip(cfg: ChurnmlConfig, target: str) -> str | None:
    """The reason the most recent training run skipped the target, if it did."""
    experiment = mlflow.get_experiment_by_name(cfg.mlflow.experiment)
    if experiment is None:
        return None
    runs = MlflowClient().search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`{TRAINING_RUN_TAG}` = 'training'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not runs:
        return None
    return runs[0].data.tags.get(f"{target}.skipped")


def list_versions(cfg: ChurnmlConfig, target: str) -> pd.DataFrame:
    """Every registered version of a target's model, newest first, with the gate's decision."""
    columns = ["version", "champion", "created", "gate", "run_id"]
    model = _registered_model(cfg, target)
    if model is None:
        return pd.DataFrame(columns=columns)
    champion = (getattr(model, "aliases", None) or {}).get(CHAMPION)
    name = model_name(cfg, target)
    try:
        found = MlflowClient().search_model_versions(f"name = '{name}'")
    except Exception as exc:
        raise RegistryUnreachable(
            f"model registry {_where(cfg)} is unreachable (listing {name!r}): {_said(exc, cfg)}"
        ) from None
    rows = [
        {
            "version": str(v.version),
            "champion": str(v.version) == str(champion),
            "created": pd.Timestamp(v.creation_timestamp, unit="ms"),
            "gate": (v.tags or {}).get(GATE_TAG, ""),
            "run_id": v.run_id,
        }
        for v in found
    ]
    frame = pd.DataFrame(rows, columns=columns)
    order = frame["version"].astype(int).sort_values(ascending=False).index
    return frame.loc[order].reset_index(drop=True)
