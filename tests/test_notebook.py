"""The notebooks execute top to bottom on the small trained demo, in a fresh kernel with no Prefect
server configured (Prefect's temporary local server, its state in tmp), so they cannot rot."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.slow

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"
TOUR = NOTEBOOKS / "01-churnml-from-python.ipynb"
FIGURES = ("beeswarm", "waterfall", "calibration", "drift")


def kernel_env(config: Path, prefect_home: Path) -> dict[str, str]:
    """The environment of a data scientist's kernel: the config from CHURNML_CONFIG, no Prefect
    server address, no MLflow store from elsewhere, figures shown inline."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PREFECT_API") and k not in ("MLFLOW_TRACKING_URI", "MPLBACKEND")
    }
    env.update(
        CHURNML_CONFIG=str(config),
        PREFECT_HOME=str(prefect_home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="120",
    )
    return env


def tagged(notebook, tag: str):
    return next(c for c in notebook.cells if tag in c.get("metadata", {}).get("tags", []))


def test_the_committed_notebooks_carry_no_outputs():
    for path in NOTEBOOKS.glob("*.ipynb"):
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, path.name


def test_the_tour_runs_on_the_demo(trained_demo, tmp_path):
    demo = trained_demo
    notebook = nbformat.read(TOUR, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute(env=kernel_env(demo.config, tmp_path / "prefect"))  # raises on a failed cell

    printed = "".join(o.get("text", "") for o in tagged(notebook, "config").outputs)
    assert str(demo.root / "data" / "warehouse.duckdb") in printed
    scored = "".join(o.get("text", "") for o in tagged(notebook, "score").outputs)
    assert f"{len(demo.scored)} accounts as of 2026-11-01" in scored
    assert "churn champion version 1" in tagged(notebook, "champion").outputs[0]["text"]
    for tag in FIGURES:
        kinds = {kind for o in tagged(notebook, tag).outputs for kind in o.get("data", {})}
        assert "image/png" in kinds, (tag, tagged(notebook, tag).outputs)
    explained = tagged(notebook, "explain").outputs
    assert "churn risk, pushing up:" in explained[0]["text"]
    assert "text/html" in explained[-1]["data"]
    board = tagged(notebook, "kpis").outputs
    if importlib.util.find_spec("churnml.kpis") is None:
        assert "no KPI board yet" in board[0]["text"]
    else:
        shown = "".join(o.get("data", {}).get("text/html", "") for o in board)
        assert shown.count("<td>all</td>") >= 6  # the overall rows of the last months
