"""Targets that stand alone, end to end: data with no expansions, data with no churn."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
import yaml
from mlflow.tracking import MlflowClient

from churnml.io.warehouse_writer import write_demo_warehouse
from flow_training import flow_training

pytestmark = pytest.mark.slow

NO_EXPANSIONS = [  # one plan, seat count and price per account: nothing to upsell
    "UPDATE subscriptions SET mrr = 100.0, seats = 5, plan = (SELECT min(plan) FROM subscriptions)"
]
NO_CHURN = [  # each subscription runs until the next one starts; the last never ends
    """UPDATE subscriptions SET end_at = n.next_start FROM (
         SELECT subscription_id,
                lead(start_at) OVER (PARTITION BY account_id ORDER BY start_at) AS next_start
         FROM subscriptions) AS n
       WHERE subscriptions.subscription_id = n.subscription_id"""
]


@pytest.fixture(scope="module")
def demo(prefect_backend, tmp_path_factory):
    """One small demo warehouse, copied and reshaped per test (flows on the session's Prefect
    backend)."""
    root = tmp_path_factory.mktemp("targets")
    write_demo_warehouse(root / "demo.duckdb", 400, 20, 5, events_per_user_day=0.04)
    return root


def layout(demo: Path, name: str, statements: list[str]) -> Path:
    """A copy of the demo changed by the statements, with its own MLflow store and config."""
    from importlib.resources import files

    root = demo / name
    (root / "data").mkdir(parents=True)
    shutil.copy(demo / "demo.duckdb", root / "data" / "warehouse.duckdb")
    con = duckdb.connect(str(root / "data" / "warehouse.duckdb"))
    for statement in statements:
        con.execute(statement)
    con.close()
    raw = yaml.safe_load(files("churnml.defaults").joinpath("churnml.yaml").read_text())
    raw["mlflow"] = {"tracking_uri": "sqlite:///mlruns/mlflow.db", "artifact_root": "mlruns/a"}
    raw["training"] = flow_training(n_estimators=60, min_auc=0.5)
    raw["output"] = {"sinks": [{"kind": "duckdb", "table": "scored_accounts"}]}
    path = root / "churnml.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def train_then_score(config: Path, trained: str, skipped: str) -> dict:
    from flows.scoring import scoring_flow
    from flows.training import training_flow

    summary = training_flow(config_path=str(config))
    assert list(summary["targets"]) == [trained]
    assert list(summary["skipped"]) == [skipped]
    assert f"{skipped}_label: all " in summary["skipped"][skipped]
    assert "have the same outcome (0)" in summary["skipped"][skipped]
    assert f"## {skipped}: skipped" in summary["markdown"]
    run = MlflowClient().get_run(summary["run_id"])
    assert run.data.tags["targets.skipped"] == skipped
    assert f"{trained}.roc_auc" in run.data.metrics and f"{skipped}.roc_auc" not in run.data.metrics
    # this test needs a champion, not a gate verdict on a small sample
    MlflowClient().set_registered_model_alias(
        f"churnml-{trained}", "champion", summary["targets"][trained]["version"]
    )

    result = scoring_flow(config_path=str(config))
    reason = result["missing_targets"][skipped]
    assert f"the last training run skipped {skipped}" in reason and "churnml train" not in reason
    con = duckdb.connect(str(config.parent / "data" / "warehouse.duckdb"), read_only=True)
    scored = con.execute("SELECT * FROM scored_accounts").df()
    con.close()
    assert len(scored) == result["accounts"] > 0
    assert scored[f"p_{skipped}"].isna().all() and scored[f"{skipped}_tier"].isna().all()
    assert scored[f"p_{trained}"].between(0, 1).all()
    assert scored.health_score.between(0, 100).all() and scored.play_name.notna().all()
    report = Path(result["report"]).read_text(encoding="utf-8")
    assert "Targets without a model" in report and f"skipped {skipped}" in report
    return result


def test_churn_only_data_trains_and_scores_with_upsell_columns_empty(demo):
    result = train_then_score(layout(demo, "churn_only", NO_EXPANSIONS), "churn", "upsell")
    assert result["scored"]["drivers_json"].str.contains('"family"').any()


def test_upsell_only_data_trains_and_scores_with_churn_columns_empty(demo):
    result = train_then_score(layout(demo, "upsell_only", NO_CHURN), "upsell", "churn")
    assert result["scored"]["upsell_drivers_json"].str.contains('"family"').any()
    assert result["scored"]["arr_at_risk"].isna().all()
