"""The flows end to end under a temporary Prefect backend, MLflow in tmp_path."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml

from churnml.io.warehouse_writer import write_demo_warehouse
from flow_training import flow_training

TRAINING = flow_training(n_estimators=120, min_auc=0.55)


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("demo")
    write_demo_warehouse(root / "data" / "warehouse.duckdb", 900, 20, 11, events_per_user_day=0.05)
    return root


def demo_config(root: Path) -> Path:
    from importlib.resources import files

    raw = yaml.safe_load(files("churnml.defaults").joinpath("churnml.yaml").read_text("utf-8"))
    raw["mlflow"] = {
        "tracking_uri": "sqlite:///mlruns/mlflow.db",
        "artifact_root": "mlruns/artifacts",
    }
    raw["training"] = TRAINING
    path = root / "churnml.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def active_accounts_at(warehouse: Path, as_of: str) -> set[str]:
    con = duckdb.connect(str(warehouse), read_only=True)
    rows = con.execute(
        "SELECT DISTINCT account_id FROM subscriptions WHERE start_at <= ? AND (end_at IS NULL OR end_at > ?)",
        [as_of, as_of],
    ).fetchall()
    con.close()
    return {r[0] for r in rows}


def assert_training_run_is_complete(root: Path, run_id: str) -> None:
    """What a data scientist opens in MLflow after `churnml train`."""
    import json

    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlruns' / 'mlflow.db'}")
    client = MlflowClient()
    run = client.get_run(run_id)
    assert run.data.tags["code_version"]
    assert run.data.params["labels.churn_horizon_days"] == "90"
    for target in ("churn", "upsell"):
        for metric in ("roc_auc", "pr_auc", "brier", "log_loss", "top_decile_lift"):
            assert f"{target}.{metric}" in run.data.metrics
            assert f"{target}.baseline.{metric}" in run.data.metrics
        assert f"{target}.recall_at_capacity" in run.data.metrics
        assert f"{target}.shuffled_label_auc" in run.data.metrics
        assert f"{target}.gate" in run.data.tags
        names = {
            a.path
            for folder in (target, f"{target}/plots")
            for a in client.list_artifacts(run_id, folder)
        }
        for artifact in (
            "plots/evaluation.png",
            "plots/shap_summary.png",
            "feature_catalogue.json",
            "feature_schema.json",
            "calibration.json",
            "metrics_by_segment.json",
            "backtest_split.json",
        ):
            assert f"{target}/{artifact}" in names, (artifact, names)
        segments = json.loads(
            Path(client.download_artifacts(run_id, f"{target}/metrics_by_segment.json")).read_text()
        )
        column = segments["columns"].index("segment_column")
        assert {"contract_plan", "size_band"} <= {row[column] for row in segments["data"]}
        model = "churnml-churn" if target == "churn" else "churnml-upsell"
        assert str(client.get_model_version_by_alias(model, "champion").version) == "1"
    fingerprint = json.loads(
        Path(client.download_artifacts(run_id, "data/fingerprint.json")).read_text()
    )
    assert fingerprint["rows"] > 0 and len(fingerprint["content_hash"]) >= 16
    rates = json.loads(Path(client.download_artifacts(run_id, "data/label_rates.json")).read_text())
    assert 0 < rates["snapshots"][0]["churn_rate"] < 0.5


@pytest.mark.slow
def test_train_then_score_on_the_demo(prefect_backend, demo_dir):
    from flows.scoring import scoring_flow
    from flows.training import training_flow

    config = demo_config(demo_dir)
    summary = training_flow(config_path=str(config))
    for target in ("churn", "upsell"):
        t = summary["targets"][target]
        assert t["version"] == "1"
        assert 0.5 < t["metrics"]["roc_auc"] < 0.98
        assert t["promoted"], t["decision"]
    assert_training_run_is_complete(demo_dir, summary["run_id"])

    result = scoring_flow(config_path=str(config), as_of=pd.Timestamp("2026-10-01").date())
    warehouse = demo_dir / "data" / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse), read_only=True)
    scored = con.execute("SELECT * FROM scored_accounts").df()
    con.close()
    assert set(scored.account_id) == active_accounts_at(warehouse, "2026-10-01")
    assert scored.account_id.is_unique
    assert scored.p_churn.between(0, 1).all() and scored.p_upsell.between(0, 1).all()
    assert (scored.churn_model_version == "1").all()
    assert Path(result["report"]).exists()

    # rerunning the same as-of replaces the rows, never duplicates them
    scoring_flow(config_path=str(config), as_of=pd.Timestamp("2026-10-01").date())
    con = duckdb.connect(str(warehouse), read_only=True)
    n_hist = con.execute("SELECT count(*) FROM scored_accounts_history").fetchall()[0][0]
    con.close()
    assert n_hist == len(scored)

    # the next run says what changed since this one
    later = scoring_flow(config_path=str(config), as_of=pd.Timestamp("2026-10-15").date())["scored"]
    seen_before = later[later.account_id.isin(scored.account_id)]
    assert (seen_before.previous_as_of == pd.Timestamp("2026-10-01")).all()
    assert seen_before.p_churn_change.notna().all()
    assert seen_before.change_summary.str.startswith("churn risk").all()


def export_differently(demo_dir: Path, target: Path) -> Path:
    """The demo tables renamed, re-keyed and moved to files, as another company would keep them."""
    con = duckdb.connect(str(demo_dir / "data" / "warehouse.duckdb"), read_only=True)
    target.mkdir(parents=True, exist_ok=True)
    # users: usage is keyed by user, which belongs to an organisation
    con.execute(
        f"""COPY (SELECT DISTINCT user_id AS uid, account_id AS org_ref FROM usage_events)
            TO '{target}/users.parquet' (FORMAT parquet)"""
    )
    con.execute(
        f"""COPY (SELECT user_id AS uid, occurred_at AS ts, event_type AS action, quantity AS amount
                  FROM usage_events) TO '{target}/events.parquet' (FORMAT parquet)"""
    )
    con.execute(
        f"""COPY (SELECT account_id AS org_id, name AS org_name, created_at AS signup_date, segment AS tier,
                  industry, region, csm_owner AS owner, employee_count AS headcount FROM accounts)
            TO '{target}/orgs.csv' (HEADER)"""
    )
    con.execute(
        f"""COPY (SELECT subscription_id AS contract_no, account_id AS org_id, start_at AS valid_from,
                  end_at AS valid_to, mrr AS monthly_fee, plan AS product, seats AS licences,
                  billing_period FROM subscriptions) TO '{target}/contracts.csv' (HEADER)"""
    )
    # tickets carry the contract number, not the organisation
    con.execute(
        f"""COPY (SELECT t.ticket_id AS case_id, s.subscription_id AS contract_no, t.opened_at AS created,
                  t.closed_at AS solved, t.status, t.category AS inquiry_type, t.priority AS severity,
                  t.first_response_at AS first_reply, t.satisfaction AS csat, t.escalated
                  FROM support_tickets t
                  JOIN (SELECT account_id, min(subscription_id) AS subscription_id FROM subscriptions GROUP BY 1) s
                  USING (account_id)) TO '{target}/cases.csv' (HEADER)"""
    )
    con.close()
    raw = {
        "warehouse": {"path": "wh/other.duckdb"},
        "sources": {
            "accounts": {
                "source": {"kind": "file", "path": "orgs.csv"},
                "columns": {
                    "account_id": "org_id",
                    "name": "org_name",
                    "created_at": "signup_date",
                    "segment": "tier",
                    "csm_owner": "owner",
                    "employee_count": "headcount",
                },
            },
            "subscriptions": {
                "source": {"kind": "file", "path": "contracts.csv"},
                "columns": {
                    "subscription_id": "contract_no",
                    "account_id": "org_id",
                    "start_at": "valid_from",
                    "end_at": "valid_to",
                    "mrr": "monthly_fee",
                    "plan": "product",
                    "seats": "licences",
                },
            },
            "usage_events": {
                "source": {"kind": "file", "path": "events.parquet"},
                "columns": {
                    "occurred_at": "ts",
                    "event_type": "action",
                    "quantity": "amount",
                    "user_id": "uid",
                },
                "account_key": {
                    "column": "uid",
                    "lookup": {"kind": "file", "path": "users.parquet"},
                    "lookup_key": "uid",
                    "lookup_account_id": "org_ref",
                },
            },
            "support_tickets": {
                "source": {"kind": "file", "path": "cases.csv"},
                "columns": {
                    "ticket_id": "case_id",
                    "opened_at": "created",
                    "closed_at": "solved",
                    "category": "inquiry_type",
                    "priority": "severity",
                    "first_response_at": "first_reply",
                    "satisfaction": "csat",
                },
                "account_key": {
                    "column": "contract_no",
                    "via": "subscriptions",
                    "lookup_key": "subscription_id",
                    "lookup_account_id": "account_id",
                },
            },
        },
        "features": {
            "onboarding_events": ["integration_connected", "report_shared", "user_invited"],
            "account_attributes_categorical": ["segment", "industry", "region"],
            "account_attributes_numeric": ["employee_count"],
        },
        "labels": {"plan_order": ["starter", "growth", "business", "enterprise"]},
        "training": TRAINING,
        "mlflow": {
            "tracking_uri": "sqlite:///runs/mlflow.db",
            "artifact_root": "runs/artifacts",
            "experiment": "other",
        },
        "output": {
            "sinks": [{"kind": "duckdb", "table": "scores"}, {"kind": "csv", "path": "crm"}]
        },
    }
    path = target / "other.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


@pytest.mark.slow
def test_same_pipeline_on_differently_laid_out_tables(prefect_backend, demo_dir, tmp_path):
    from flows.scoring import scoring_flow
    from flows.training import training_flow

    config = export_differently(demo_dir, tmp_path / "other")
    summary = training_flow(config_path=str(config))
    assert summary["targets"]["churn"]["metrics"]["roc_auc"] > 0.55
    result = scoring_flow(config_path=str(config), as_of=pd.Timestamp("2026-10-01").date())
    con = duckdb.connect(str(tmp_path / "other" / "wh" / "other.duckdb"), read_only=True)
    scored = con.execute("SELECT account_id, p_churn FROM scores").df()
    con.close()
    assert set(scored.account_id) == active_accounts_at(
        demo_dir / "data" / "warehouse.duckdb", "2026-10-01"
    )
    crm = pd.read_csv(tmp_path / "other" / "crm" / "scored_accounts_2026-10-01.csv")
    assert sorted(crm.account_id) == sorted(scored.account_id)
    assert result["accounts"] == len(scored)


@pytest.mark.slow
def test_gate_refuses_a_leaky_model_and_scoring_leaves_churn_empty_saying_why(
    prefect_backend, demo_dir, tmp_path
):
    """A CRM status column that already knows who cancelled must never become champion.

    Scoring then uses the upsell champion alone: churn columns stay empty and the run says what
    the training decided (before, it stopped with "run `churnml train` first")."""
    import shutil

    from flows.scoring import scoring_flow
    from flows.training import training_flow

    root = tmp_path / "leaky"
    (root / "data").mkdir(parents=True)
    warehouse = root / "data" / "warehouse.duckdb"
    shutil.copy(demo_dir / "data" / "warehouse.duckdb", warehouse)
    con = duckdb.connect(str(warehouse))
    con.execute("DROP TABLE IF EXISTS scored_accounts")  # earlier tests in this module score
    con.execute("DROP TABLE IF EXISTS scored_accounts_history")
    con.execute("ALTER TABLE accounts ADD COLUMN status VARCHAR")
    con.execute(
        """UPDATE accounts SET status = CASE WHEN account_id IN (
               SELECT account_id FROM subscriptions GROUP BY 1 HAVING count(*) = count(end_at))
           THEN 'cancelled' ELSE 'active' END"""
    )
    con.close()
    config = demo_config(root)
    raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    raw["features"]["account_attributes_categorical"].append("status")
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")

    summary = training_flow(config_path=str(config))
    churn = summary["targets"]["churn"]
    assert not churn["promoted"]
    assert churn["top_feature"] == "attr_status"
    assert churn["decision"].startswith("NOT PROMOTED") and "leakage alarm" in churn["decision"]
    assert summary["targets"]["upsell"]["promoted"], summary["targets"]["upsell"]["decision"]

    result = scoring_flow(config_path=str(config), as_of=pd.Timestamp("2026-10-01").date())
    reason = result["missing_targets"]["churn"]
    assert reason.startswith("no churn champion: the last training") and "leakage alarm" in reason
    assert "churnml train" not in reason
    con = duckdb.connect(str(warehouse), read_only=True)
    scored = con.execute("SELECT p_churn, churn_tier, p_upsell FROM scored_accounts").df()
    con.close()
    assert len(scored) and scored.p_churn.isna().all() and scored.churn_tier.isna().all()
    assert scored.p_upsell.between(0, 1).all()
