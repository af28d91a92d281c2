"""One small demo, trained and scored through `churnml.api` once per test session, shared by the
API and notebook tests: 400 accounts over 14 months, few trees, one LightGBM thread."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

ACCOUNTS, MONTHS, SEED = 400, 14, 11


@dataclass
class TrainedDemo:
    root: Path
    config: Path
    trained: pd.DataFrame  # what api.train returned
    scored: pd.DataFrame  # what api.score returned (the stored run explain reads)
    before_training: Exception | None  # what api.score raised before any model was trained


_built: dict[Path, TrainedDemo] = {}


def write_demo_config(root: Path) -> Path:
    from importlib.resources import files

    raw = yaml.safe_load(files("churnml.defaults").joinpath("churnml.yaml").read_text("utf-8"))
    raw["training"] = {
        "n_estimators": 60,
        "min_trees": 20,
        "min_auc": 0.5,
        "num_threads": 1,
        "backtest_folds": 1,
    }
    path = root / "churnml.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def trained_demo(tmp_path_factory) -> TrainedDemo:
    """The session's demo, built on first use: demo data, `api.score` with no model yet (which
    must fail), `api.train`, then `api.score` with a loaded config (so both ways of passing a
    config are exercised)."""
    base = tmp_path_factory.getbasetemp()
    if base in _built:
        return _built[base]
    from prefect.testing.utilities import prefect_test_harness

    from churnml import api
    from churnml.io.warehouse_writer import write_demo_warehouse

    root = base / "api-demo"
    root.mkdir()
    write_demo_warehouse(
        root / "data" / "warehouse.duckdb", ACCOUNTS, MONTHS, SEED, events_per_user_day=0.05
    )
    config = write_demo_config(root)
    with prefect_test_harness(server_startup_timeout=120):
        try:
            api.score(config)
            before_training = None
        except Exception as exc:  # checked by the API tests: one clear error
            before_training = exc
        trained = api.train(config)
        scored = api.score(api.load(config))
    _built[base] = TrainedDemo(root, config, trained, scored, before_training)
    return _built[base]
