"""Run in a subprocess: load a downloaded churnml model and predict its input example, as on a
machine that has only the model's requirements; prints the result as JSON.

churnml is importable only from the model's own ``code`` folder. With ``--only-requirements``
every other installed distribution outside the requirements (and what they pull in, plus what
a new virtualenv holds) is hidden too: an optional import of it fails as it would there.
"""

import importlib.abc
import importlib.machinery
import importlib.metadata
import json
import re
import sys

from packaging.requirements import Requirement

model_dir = sys.argv[1]
code_dir = f"{model_dir}/code"
FRESH_VENV = {"pip", "setuptools"}


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(declared: list[str]) -> set[str]:
    """Every distribution the declared requirements pull in (markers of this interpreter)."""
    seen: set[str] = set()
    todo = [Requirement(line) for line in declared]
    while todo:
        req = todo.pop()
        if normal(req.name) in seen:
            continue
        seen.add(normal(req.name))
        try:
            children = importlib.metadata.requires(req.name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for line in children:
            child = Requirement(line)
            if child.marker is None or child.marker.evaluate({"extra": ""}):
                todo.append(child)
    return seen


with open(f"{model_dir}/requirements.txt", encoding="utf-8") as lines:
    allowed = closure(lines.read().split()) | FRESH_VENV
owners = {
    m: {normal(d) for d in ds} for m, ds in importlib.metadata.packages_distributions().items()
}
only_requirements = "--only-requirements" in sys.argv
hidden: set[str] = set()


class AsIfNotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if path is not None:  # submodules follow their package
            return None
        if name == "churnml":
            spec = importlib.machinery.PathFinder.find_spec(name, [code_dir])
            if spec is None:
                raise ModuleNotFoundError("churnml is not installed here", name=name)
            return spec
        dists = owners.get(name, set())
        if only_requirements and dists and not dists & allowed:
            hidden.add(name)
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, AsIfNotInstalled())

import mlflow  # noqa: E402
from mlflow.models import Model  # noqa: E402

model = mlflow.pyfunc.load_model(model_dir)
example = Model.load(model_dir).load_input_example(model_dir)
scores = model.predict(example)
print(
    json.dumps(
        {
            "columns": list(scores.columns),
            "rows": len(scores),
            "p_cal": scores["p_cal"].tolist(),
            "churnml_from": sys.modules["churnml.model"].__file__,
            "hidden": sorted(hidden),
        }
    )
)
