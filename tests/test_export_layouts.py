"""Exports shaped like real systems' (tests/foreign_layouts.py, EXPORT_LAYOUTS) through the CLI
as the README describes: check-data, train, score one horizon before the data end, explain an
account. Each layout is generated and run once per module; the tests read the results."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml

import foreign_layouts as fl
from test_foreign_layouts import evaluation_as_of, rebind_prefect_console

pytestmark = pytest.mark.slow


@dataclass
class ExportRun:
    name: str
    folder: Path
    scored_as_of: date
    results: dict = field(default_factory=dict)  # step -> click Result
    seconds: dict = field(default_factory=dict)

    def ok(self, step: str) -> str:
        result = self.results.get(step)
        if result is None:
            failed, last = list(self.results.items())[-1]
            pytest.fail(f"{self.name}: {step} did not run; {failed} failed:\n{last.output[-3000:]}")
        assert result.exit_code == 0, f"{self.name} {step}:\n{result.output}\n{result.exception!r}"
        assert "Traceback" not in result.output
        return result.output

    def scored(self) -> pd.DataFrame:
        con = duckdb.connect(str(self.folder / "churnml.duckdb"), read_only=True)
        try:
            return con.execute("SELECT * FROM scored_accounts").df()
        finally:
            con.close()


def run_export(name: str, folder: Path) -> ExportRun:
    """Generate the layout, then check-data, train, score and explain through the CLI."""
    from typer.testing import CliRunner

    from churnml.cli import app

    config = fl.EXPORT_LAYOUTS[name](folder)
    fl.write_config(folder, config)
    config = {**config, "training": {"num_threads": 1, "candidate_max_rows": 0}}
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    run = ExportRun(name, folder, evaluation_as_of(config))
    as_of = str(run.scored_as_of)
    steps = [
        ("check-data", ["check-data", "-c", str(path)]),
        ("train", ["train", "-c", str(path)]),
        ("score", ["score", "-c", str(path), "--as-of", as_of]),
        ("explain", None),
    ]
    for step, args in steps:
        if args is None:  # the riskiest account of the scores just written
            account = run.scored().sort_values("p_churn", ascending=False).account_id.iloc[0]
            args = ["explain", account, "-c", str(path), "--as-of", as_of]
        started = time.perf_counter()
        result = CliRunner().invoke(app, args)
        rebind_prefect_console()
        run.seconds[step] = round(time.perf_counter() - started, 1)
        run.results[step] = result
        if result.exit_code != 0:
            break
    print(name, run.seconds)
    return run


@pytest.fixture(scope="module")
def runs(prefect_backend, tmp_path_factory) -> dict[str, ExportRun]:
    return {
        name: run_export(name, tmp_path_factory.mktemp(f"export-{name}"))
        for name in fl.EXPORT_LAYOUTS
    }


@pytest.mark.parametrize("name", list(fl.EXPORT_LAYOUTS))
def test_export_runs_by_config_alone(runs, name):
    run = runs[name]
    for step in ("check-data", "train", "score", "explain"):
        run.ok(step)
    assert "all checks passed" in run.results["check-data"].output
    assert re.search(r"scored \d+ active accounts", run.results["score"].output)
    for text in (run.results["score"].output, run.results["explain"].output):
        assert "nan" not in text.lower().replace("financ", "")
