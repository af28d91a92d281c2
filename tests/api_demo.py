"""One small demo, trained and scored through `churnml.api` once per test session, shared by the
API and notebook tests: 400 accounts over 14 months, few trees, one LightGBM thread."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from flow_training import flow_training

ACCOUNTS, MONTHS, SEED = 400, 14, 11


@dataclass
class TrainedDemo:
    root: Path
    config: Path
    trained: pd.DataFrame  # what api.train returned
    scored: pd.DataFrame  # what api.score returned (the stored run explain reads)
    before_training: Exception | None  # what api.score raised before any model was trained


def write_demo_config(root: Path) -> Path:
    from importlib.resources import files

    raw = yaml.safe_load(files("churnml.defaults").joinpath("churnml.yaml").read_text("utf-8"))
    raw["training"] = flow_training(n_estimators=60, min_auc=0.5, min_trees=20)
    path = root / "churnml.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def build_trained_demo(root: Path) -> TrainedDemo:
    """Demo data, `api.score` with no model yet (which must fail), `api.train`, then
    `api.score` with a loaded config (so both ways of passing a config are exercised). Runs
    under the session's Prefect backend (the `trained_demo` fixture of conftest.py)."""
    from churnml import api
    from churnml.io.warehouse_writer import write_demo_warehouse

    write_demo_warehouse(
        root / "data" / "warehouse.duckdb", ACCOUNTS, MONTHS, SEED, events_per_user_day=0.05
    )
    config = write_demo_config(root)
    try:
        api.score(config)
        before_training = None
    except Exception as exc:  # checked by the API tests: one clear error
        before_training = exc
    trained = api.train(config)
    scored = api.score(api.load(config))
    return TrainedDemo(root, config, trained, scored, before_training)


def copy_trained_demo(demo: TrainedDemo, target: Path) -> Path:
    """A copy of the demo's folder (warehouse, MLflow store, reports) that a test may change.

    MLflow stores absolute artifact locations; they are moved to the copy, so runs and models
    logged there land in the copy and the shared demo stays as it was."""
    import shutil
    import sqlite3

    shutil.copytree(demo.root, target)
    old, new = str(demo.root), str(target)
    with sqlite3.connect(target / "mlruns" / "mlflow.db") as con:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for column in con.execute(f"PRAGMA table_info('{table}')").fetchall():
                con.execute(
                    f'UPDATE "{table}" SET "{column[1]}" = replace("{column[1]}", ?, ?) '
                    f'WHERE typeof("{column[1]}") = \'text\' AND instr("{column[1]}", ?) > 0',
                    [old, new, old],
                )
    con.close()
    return target
