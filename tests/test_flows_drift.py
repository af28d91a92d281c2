"""Drift end to end: train on the demo, then score unchanged data and data whose usage collapsed."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

AS_OF = "2026-10-01"

pytestmark = pytest.mark.slow


def write_config(root: Path, name: str, warehouse: str, **overrides) -> Path:
    from importlib.resources import files

    raw = yaml.safe_load(files("churnml.defaults").joinpath("churnml.yaml").read_text())
    raw["warehouse"] = {"path": warehouse}
    raw["training"] = {"n_estimators": 60, "min_auc": 0.5, "num_threads": 1}  # scoring's threads
    raw["output"] = {
        "sinks": [{"kind": "duckdb", "table": "scored_accounts"}],
        "report_dir": f"reports-{name}",
    }
    for key, value in overrides.items():
        raw[key] = {**raw.get(key, {}), **value}
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(prefect_backend, trained_demo, tmp_path_factory):
    """A copy of the session's trained demo (api_demo.py); every later config shares its MLflow
    store. Training itself is the demo's: `api.train`, which runs the training flow."""
    from api_demo import copy_trained_demo

    root = copy_trained_demo(trained_demo, tmp_path_factory.mktemp("drift") / "demo")
    write_config(root, "train", "data/warehouse.duckdb")
    # a client of its own: a module fixture that set the process-wide store would send every
    # later test of the session to this one (MLFLOW_TRACKING_URI is read as the user's store)
    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlruns' / 'mlflow.db'}")
    summary = {"run_id": trained_demo.trained.attrs["run_id"], "targets": {}}
    for row in trained_demo.trained.itertuples():  # these tests need a champion, not a verdict
        assert row.trained, row
        client.set_registered_model_alias(f"churnml-{row.target}", "champion", row.version)
        summary["targets"][row.target] = {"version": row.version}
    return root, summary


def usage_outage(root: Path, name: str) -> str:
    """A copy of the warehouse where three quarters of the last two months' events never arrived."""
    target = root / "data" / f"{name}.duckdb"
    shutil.copy(root / "data" / "warehouse.duckdb", target)
    con = duckdb.connect(str(target))
    con.execute("DROP TABLE IF EXISTS scored_accounts")  # earlier tests in this module score
    con.execute("DROP TABLE IF EXISTS scored_accounts_history")
    con.execute(
        "DELETE FROM usage_events WHERE occurred_at >= DATE '2026-08-01' AND hash(user_id) % 4 <> 0"
    )
    con.close()
    return f"data/{name}.duckdb"


def scoring_run(result: dict):
    return MlflowClient().get_run(result["mlflow_run_id"])


def test_training_stores_a_drift_reference_with_each_model(trained):
    root, summary = trained
    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlruns' / 'mlflow.db'}")
    for target in ("churn", "upsell"):
        names = {a.path for a in client.list_artifacts(summary["run_id"], target)}
        assert f"{target}/drift_reference.json" in names
    from churnml.config import load_config
    from churnml.io.registry import load_champion

    bundle, _ = load_champion(load_config(root / "train.yaml"), "churn")
    reference = bundle.drift_reference
    assert set(reference["features"]) == set(bundle.features)
    assert reference["score"]["kind"] == "numeric" and reference["score_rows"] > 0


def test_unchanged_data_is_not_marked_drifted(trained):
    from flows.scoring import scoring_flow

    root, _ = trained
    result = scoring_flow(config_path=str(root / "train.yaml"), as_of=pd.Timestamp(AS_OF).date())
    table = result["drift"]["table"]
    assert not result["drifted"], result["drift"]["alerts"]
    assert set(table[table.kind == "score"].name) == {"p_churn", "p_upsell"}

    run = scoring_run(result)
    assert run.data.tags["drift.status"] == "stable"
    assert run.data.tags["churnml.run"] == "scoring" and run.data.tags["as_of"] == AS_OF
    assert run.data.metrics["drift.drifted"] == 0.0
    assert "drift.churn.score" in run.data.metrics and "drift.upsell.score" in run.data.metrics
    assert "drift.churn.feature.usage_events_30d" in run.data.metrics

    html = Path(result["report"]).read_text(encoding="utf-8")
    assert "Data drift: no shift beyond the alert threshold" in html
    assert "class='warning'" not in html


def test_a_usage_outage_marks_the_run_logs_the_psi_and_warns_in_the_report(trained):
    from flows.scoring import scoring_flow

    root, _ = trained
    config = write_config(root, "outage", usage_outage(root, "outage"))
    result = scoring_flow(config_path=str(config), as_of=pd.Timestamp(AS_OF).date())
    assert result["drifted"]
    assert any("usage_events_30d" in a for a in result["drift"]["alerts"])

    run = scoring_run(result)
    assert run.data.tags["drift.status"] == "drifted"
    assert "feature(s) beyond the alert threshold; worst: " in run.data.tags["drift.alerts"]
    assert run.data.metrics["drift.drifted"] == 1.0
    assert run.data.metrics["drift.churn.feature.usage_events_30d"] > 0.25
    assert run.data.metrics["drift.features_alert"] >= 1
    names = {a.path for a in MlflowClient().list_artifacts(run.info.run_id, "drift")}
    assert "drift/psi.json" in names

    html = Path(result["report"]).read_text(encoding="utf-8")
    warning = html.index("class='warning'")
    assert html.index('id="summary"') < warning < html.index("Outreach list")
    assert "the data moved since training (scores may be less reliable)" in html[warning:]
    assert "usage_events_30d" in html[warning:] and "ALERT" in html[warning:]
    # the run is marked, but with on_drift: warn the scores are still written
    con = duckdb.connect(str(root / "data" / "outage.duckdb"), read_only=True)
    assert (
        con.execute("SELECT count(*) FROM scored_accounts").fetchall()[0][0] == result["accounts"]
    )
    con.close()


def test_on_drift_fail_stops_before_anything_is_written(trained):
    from flows.scoring import scoring_flow

    from churnml.drift import DriftError

    root, _ = trained
    warehouse = usage_outage(root, "outage-strict")
    config = write_config(root, "strict", warehouse, drift={"on_drift": "fail"})
    with pytest.raises(DriftError, match="nothing was written") as stopped:
        scoring_flow(config_path=str(config), as_of=pd.Timestamp(AS_OF).date())
    con = duckdb.connect(str(root / warehouse), read_only=True)
    assert "scored_accounts" not in {r[0] for r in con.execute("SHOW TABLES").fetchall()}
    con.close()
    assert not (root / "reports-strict").exists()
    # the stopped run is still on record in MLflow, with the PSI that stopped it
    run_id = re.search(r"MLflow run (\w+)", str(stopped.value)).group(1)
    run = MlflowClient().get_run(run_id)
    assert run.data.tags["drift.status"] == "drifted"
    assert run.data.metrics["drift.churn.feature.usage_events_30d"] > 0.25
