"""`churnml evaluate` end to end: demo warehouse, train, score one horizon back, evaluate, report."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from churnml.cli import app
from churnml.io.warehouse_writer import write_demo_warehouse
from flow_training import flow_training

pytestmark = pytest.mark.slow

MATURE = date(2026, 6, 1)  # the demo data ends 2026-10-31: 120 days of outcomes are in
LATEST = date(2026, 10, 1)  # its outcomes are not known yet


@pytest.fixture(scope="module")
def trained(prefect_backend, tmp_path_factory):
    """Champions trained only on snapshots whose outcomes were known by the scored as-of."""
    from importlib.resources import files

    from flows.training import training_flow
    from mlflow import MlflowClient

    root = tmp_path_factory.mktemp("track")
    write_demo_warehouse(root / "data" / "warehouse.duckdb", 700, 20, 5, events_per_user_day=0.05)
    raw = yaml.safe_load(files("churnml.defaults").joinpath("churnml.yaml").read_text("utf-8"))
    raw["mlflow"] = {"tracking_uri": "sqlite:///mlruns/mlflow.db", "artifact_root": "mlruns/a"}
    raw["training"] = flow_training(n_estimators=120, min_auc=0.55)
    raw["snapshots"] = {"frequency": "monthly", "count": 10, "end": "2026-02-01"}
    config = root / "churnml.yaml"
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    summary = training_flow(config_path=str(config))
    client = MlflowClient()
    for target in ("churn", "upsell"):  # this module needs champions, not a gate verdict
        version = summary["targets"][target]["version"]
        client.set_registered_model_alias(f"churnml-{target}", "champion", version)
    return root, config


def tables_in(root: Path) -> set[str]:
    con = duckdb.connect(str(root / "data" / "warehouse.duckdb"), read_only=True)
    try:
        return {r[0] for r in con.execute("SHOW TABLES").fetchall()}
    finally:
        con.close()


def evaluation_runs(root: Path) -> list:
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlruns' / 'mlflow.db'}")
    experiment = MlflowClient().get_experiment_by_name("churnml")
    return MlflowClient().search_runs(
        [experiment.experiment_id], filter_string="tags.run_kind = 'evaluation'"
    )


def test_nothing_mature_exits_non_zero_and_writes_nothing(trained):
    from flows.scoring import scoring_flow

    root, config = trained
    scoring_flow(config_path=str(config), as_of=LATEST)
    result = CliRunner().invoke(app, ["evaluate", "-c", str(config)])
    assert result.exit_code == 1, result.output
    assert "evaluation error: no scored as-of is mature yet" in result.output
    assert "churnml score --as-of 2026-07-03" in result.output  # 2026-10-31 - 120 days
    assert "Traceback" not in result.output
    result = CliRunner().invoke(app, ["evaluate", "-c", str(config), "--as-of", str(LATEST)])
    assert result.exit_code == 1 and "2026-10-01 is not mature" in result.output
    assert "track_record" not in tables_in(root)
    assert not list((root / "reports").glob("churnml-track-record-*"))
    assert evaluation_runs(root) == []


def test_evaluate_scores_one_horizon_back_and_the_next_report_shows_it(trained):
    from flows.evaluation import evaluation_flow
    from flows.scoring import scoring_flow
    from mlflow import MlflowClient

    root, config = trained
    scored = scoring_flow(config_path=str(config), as_of=MATURE)
    result = evaluation_flow(config_path=str(config))  # LATEST is scored too, but immature
    assert result["as_of"] == str(MATURE)
    s = result["summary"]
    assert s["accounts_scored"] == scored["accounts"] == s["accounts_evaluated"]
    assert 0.6 < s["churn_roc_auc"] < 0.99 and 0.5 < s["upsell_roc_auc"] < 0.99
    assert s["arr_churned"] == pytest.approx(s["arr_flagged_lost"] + s["arr_missed"])
    assert s["churned_accounts"] > 0 and s["expansion_arr_realised"] > 0
    print("demo track record:", result["headline"])

    runs = evaluation_runs(root)
    assert [r.info.run_id for r in runs] == [result["run_id"]]
    run = runs[0]
    assert run.data.tags["scored_as_of"] == str(MATURE)
    assert run.data.tags["churn_model_version"] == "1"
    for metric in ("churn_roc_auc", "upsell_pr_auc", "arr_missed", "expansion_arr_realised"):
        assert f"track_record.{metric}" in run.data.metrics
    assert run.data.metrics["track_record.churn_roc_auc"] == pytest.approx(s["churn_roc_auc"])
    names = {a.path for a in MlflowClient().list_artifacts(run.info.run_id, "track_record")}
    assert "track_record/churn_calibration.json" in names
    calibration = json.loads(
        Path(
            MlflowClient().download_artifacts(
                run.info.run_id, "track_record/churn_calibration.json"
            )
        ).read_text()
    )
    assert calibration["columns"] == ["accounts", "predicted", "observed"]

    con = duckdb.connect(str(root / "data" / "warehouse.duckdb"), read_only=True)
    kept = con.execute("SELECT * FROM track_record").df()
    con.close()
    assert len(kept) == 1 and kept.mlflow_run_id.iloc[0] == result["run_id"]
    assert kept.as_of.iloc[0].date() == MATURE
    page = Path(result["report"]).read_text(encoding="utf-8")
    assert "ARR saved versus lost" in page and "Definitions" in page
    # the demo's activity log: each recommended play, done or not, with the counts behind it
    plays = result["plays"]
    assert plays is not None and plays["recommended"].sum() == s["accounts_evaluated"]
    assert plays["done"].sum() > 0 and "Which plays work" in page
    assert "not a controlled experiment" in page
    con = duckdb.connect(str(root / "data" / "warehouse.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM play_effects").fetchall()[0][0] == len(plays)
    con.close()

    report = Path(scoring_flow(config_path=str(config), as_of=LATEST)["report"])
    html = report.read_text(encoding="utf-8")
    assert "<h2>Track record</h2>" in html and f"<td>{MATURE}</td>" in html
    assert "<h2>Which plays work</h2>" in html

    # the quarter's forecast written at the as-of, beside what happened
    forecast = scored["forecast"].set_index("segment").loc["all"]
    assert 0 < forecast["churned_arr"] < forecast["base_arr"]
    assert forecast["nrr_low"] < forecast["nrr"] < forecast["nrr_high"]
    assert scored["kpi_headline"].startswith("NRR over the trailing 12 months to 2026-05")
    comparison = result["forecast_vs_actual"].set_index("measure")
    assert list(comparison.index) == ["churned_arr", "expansion_arr", "grr", "nrr"]
    assert comparison.loc["churned_arr", "actual"] == pytest.approx(s["arr_churned"])
    assert comparison.loc["churned_arr", "forecast"] == pytest.approx(forecast["churned_arr"])
    print("demo forecast versus actual:\n", comparison.to_string())
    assert "Forecast versus actual" in page
    con = duckdb.connect(str(root / "data" / "warehouse.duckdb"), read_only=True)
    kept = con.execute("SELECT * FROM track_record").df()
    board = con.execute("SELECT * FROM cs_kpis WHERE as_of = ?", [MATURE]).df()
    as_ofs = {r[0].date() for r in con.execute("SELECT DISTINCT as_of FROM cs_forecast").fetchall()}
    con.close()
    assert kept["forecast_churned_arr"].iloc[0] == pytest.approx(forecast["churned_arr"])
    assert board["month"].max() == pd.Timestamp("2026-05-01")  # months before the as-of only
    assert set(board["segment"]) >= {"all", "SMB"} and as_ofs == {MATURE, LATEST}
    assert "kpi-board" in html and "<svg" in html

    # evaluating the same as-of again replaces its row
    again = CliRunner().invoke(app, ["evaluate", "-c", str(config), "--as-of", str(MATURE)])
    assert again.exit_code == 0, again.output
    assert "Churn ROC AUC" in again.output
    con = duckdb.connect(str(root / "data" / "warehouse.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM track_record").fetchall()[0][0] == 1
    con.close()


def test_bad_as_of_format_is_a_usage_error():
    result = CliRunner().invoke(app, ["evaluate", "--as-of", "June"])
    assert result.exit_code == 2 and "YYYY-MM-DD" in result.output
