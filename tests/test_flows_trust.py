"""The flows under bad input, faults and hostile text, end to end (Prefect harness, real PostgreSQL).

One module-scoped training run on a small demo whose accounts come from PostgreSQL through a URL
carrying a password; account names and ticket categories carry script payloads.
"""

from __future__ import annotations

import logging
import socket
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from mlflow.tracking import MlflowClient

from churnml.io.sinks import write_duckdb
from churnml.io.warehouse_writer import write_demo_warehouse
from flow_training import flow_training
from pg_server import postgres_server

SECRET = "s3cr3t-Pa55word-7f1d"
ACCOUNT_PAYLOAD = '<script>alert("account")</script>'
CATEGORY_PAYLOAD = "<script>alert('category')</script>"
AS_OF = "2026-07-01"

pytestmark = pytest.mark.slow


class Collect(logging.Handler):
    """Every log record of the process, formatted, whatever logger it went to."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture(scope="module")
def logs():
    return Collect()


@contextmanager
def listening(handler: Collect):
    """Attach the collector right around a flow call (imports may reconfigure logging before)."""
    names = ("", "prefect", "prefect.flow_runs", "prefect.task_runs", "churnml", "mlflow")
    loggers = [logging.getLogger(n) for n in names]
    for lg in loggers:
        lg.addHandler(handler)
    try:
        yield
    finally:
        for lg in loggers:
            lg.removeHandler(handler)


def write_config(root: Path, name: str, accounts_query: str, **overrides) -> Path:
    raw = yaml.safe_load((root / "churnml.yaml").read_text()) if name != "churnml" else None
    if raw is None:
        from importlib.resources import files

        raw = yaml.safe_load(files("churnml.defaults").joinpath("churnml.yaml").read_text())
        raw["training"] = flow_training(n_estimators=60, min_auc=0.5)  # no test here judges it
        raw["output"] = {
            "sinks": [
                {"kind": "duckdb", "table": "scored_accounts"},
                {"kind": "csv", "path": "crm"},
            ]
        }
    raw["sources"]["accounts"] = {
        "source": {"kind": "sql", "query": accounts_query, "url_env": "CHURNML_TEST_ACCOUNTS_URL"}
    }
    raw.update(overrides)
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(prefect_backend, logs, tmp_path_factory):
    """A champion trained on the demo, accounts read from PostgreSQL with a password in the URL."""
    from flows.training import training_flow

    root = tmp_path_factory.mktemp("trust")
    warehouse = root / "data" / "warehouse.duckdb"
    write_demo_warehouse(warehouse, 400, 20, 3, events_per_user_day=0.04)
    con = duckdb.connect(str(warehouse))
    con.execute(
        "UPDATE support_tickets SET category = ? WHERE hash(ticket_id) % 4 = 0", [CATEGORY_PAYLOAD]
    )
    accounts = con.execute("SELECT * FROM accounts").df()
    con.execute("DROP TABLE accounts")  # accounts live in PostgreSQL only
    con.close()
    accounts["name"] = ACCOUNT_PAYLOAD + " " + accounts["name"]
    with postgres_server() as url, pytest.MonkeyPatch.context() as mp:
        engine = sa.create_engine(url)
        with engine.begin() as c:
            accounts.to_sql("accounts", c, index=False)
            bad = pd.concat([accounts, accounts.head(2)], ignore_index=True)
            bad.to_sql("accounts_duplicated", c, index=False)
            mars = accounts.copy()
            mars.loc[mars.index[::3], "region"] = "Mars"  # some of them are active
            mars.to_sql("accounts_on_mars", c, index=False)
        engine.dispose()
        # trust authentication ignores the password, so it can travel everywhere a real one would
        secret_url = url.replace("churnml@", f"churnml:{SECRET}@")
        assert SECRET in secret_url
        mp.setenv("CHURNML_TEST_ACCOUNTS_URL", secret_url)
        config = write_config(root, "churnml", "SELECT * FROM accounts")
        with listening(logs):
            summary = training_flow(config_path=str(config))
        client = MlflowClient()
        for target in ("churn", "upsell"):  # this fixture needs a champion, not a gate verdict
            name = f"churnml-{target}"
            client.set_registered_model_alias(
                name, "champion", summary["targets"][target]["version"]
            )
        yield root, config


@pytest.fixture(scope="module")
def scored(trained, logs):
    from flows.scoring import scoring_flow

    root, config = trained
    with listening(logs):
        return scoring_flow(config_path=str(config), as_of=pd.Timestamp(AS_OF).date())


def warehouse_table(root: Path, table: str = "scored_accounts") -> pd.DataFrame:
    con = duckdb.connect(str(root / "data" / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(f"SELECT * FROM {table} ORDER BY account_id").df()
    finally:
        con.close()


def outputs_snapshot(root: Path) -> dict:
    """Everything a scoring run writes: sink tables, CRM files and reports (with contents)."""
    files = {}
    for folder in ("crm", "reports"):
        for f in sorted((root / folder).glob("*")) if (root / folder).exists() else []:
            files[str(f.relative_to(root))] = f.read_bytes()
    return {
        "current": warehouse_table(root),
        "history": warehouse_table(root, "scored_accounts_history"),
        "files": files,
    }


def assert_unchanged(before: dict, after: dict) -> None:
    pd.testing.assert_frame_equal(before["current"], after["current"])
    pd.testing.assert_frame_equal(before["history"], after["history"])
    assert before["files"] == after["files"]


# --- security ---------------------------------------------------------------------------------


@pytest.mark.postgres
def test_secret_never_reaches_mlflow_logs_outputs_or_report(trained, scored, logs):
    root, _ = trained
    log_text = "\n".join(logs.lines)
    assert f"scored {scored['accounts']} accounts" in log_text  # the capture does see the logs
    assert "churnml training run" in log_text
    assert SECRET not in log_text

    mlruns = [p for p in (root / "mlruns").rglob("*") if p.is_file()]
    assert any(p.name == "mlflow.db" for p in mlruns)
    blobs = b"".join(p.read_bytes() for p in mlruns)
    assert b"churn_horizon_days" in blobs  # the search does read params and artifacts
    assert SECRET.encode() not in blobs
    for p in [*(root / "reports").glob("*"), *(root / "crm").glob("*"), root / "churnml.yaml"]:
        assert SECRET.encode() not in p.read_bytes(), p


@pytest.mark.postgres
def test_script_payloads_reach_the_report_only_escaped(scored):
    html = Path(scored["report"]).read_text(encoding="utf-8")
    assert ACCOUNT_PAYLOAD not in html and CATEGORY_PAYLOAD not in html
    assert 'alert("account")</script>' not in html and "alert('category')</script>" not in html
    # the names did reach the report, as JSON data that cannot close its script element
    assert "\\u003cscript\\u003ealert(" in html
    assert html.count("<script") == 2  # the report's own data block and script only


# --- bad input and missing dependencies stop the run before anything is written -----------------


@pytest.mark.postgres
def test_bad_source_stops_scoring_before_anything_is_written(trained, scored, monkeypatch):
    from flows.scoring import scoring_flow

    from churnml.validation import DataValidationError

    root, _ = trained
    before = outputs_snapshot(root)
    assert len(before["current"]) == scored["accounts"]
    config = write_config(root, "duplicated", "SELECT * FROM accounts_duplicated")
    with pytest.raises(DataValidationError, match=r"accounts\.account_id: duplicate key"):
        scoring_flow(config_path=str(config), as_of=pd.Timestamp("2026-08-01").date())
    assert_unchanged(before, outputs_snapshot(root))


@pytest.mark.postgres
def test_unknown_categories_stop_scoring_or_are_reported(trained, scored):
    from flows.scoring import scoring_flow

    from churnml.validation import UnknownCategoriesError

    root, _ = trained
    before = outputs_snapshot(root)
    config = write_config(root, "mars", "SELECT * FROM accounts_on_mars")
    with pytest.raises(UnknownCategoriesError, match=r"features\.attr_region: .*'Mars'"):
        scoring_flow(config_path=str(config), as_of=pd.Timestamp("2026-08-01").date())
    assert_unchanged(before, outputs_snapshot(root))

    config = write_config(
        root,
        "mars_missing",
        "SELECT * FROM accounts_on_mars",
        validation={"unknown_categories": "score_as_missing"},
    )
    result = scoring_flow(config_path=str(config), as_of=pd.Timestamp("2026-08-01").date())
    assert any("attr_region" in p and "'Mars'" in p for p in result["scored_as_missing"])


def subscriptions_variant(root: Path, name: str, select: str) -> Path:
    """A changed copy of the warehouse's subscriptions, and a config reading it instead."""
    con = duckdb.connect(str(root / "data" / "warehouse.duckdb"))
    try:
        con.execute(f"CREATE OR REPLACE TABLE {name} AS {select}")
    finally:
        con.close()
    config = write_config(root, name, "SELECT * FROM accounts")
    raw = yaml.safe_load(config.read_text())
    raw["sources"]["subscriptions"] = {"source": {"kind": "duckdb", "table": name}}
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return config


@pytest.mark.postgres
def test_a_plan_seen_only_at_scoring_stops_it_and_is_flagged_by_the_checks(trained, scored, logs):
    from flows.scoring import scoring_flow

    from churnml.validation import UnknownCategoriesError

    root, _ = trained
    before = outputs_snapshot(root)
    config = subscriptions_variant(
        root,
        "subscriptions_new_plan",
        "SELECT * REPLACE (CASE WHEN plan = 'enterprise' THEN 'platinum' ELSE plan END AS plan) "
        "FROM subscriptions",
    )
    seen = len(logs.lines)
    with (
        listening(logs),
        pytest.raises(UnknownCategoriesError, match=r"features\.contract_plan: .*'platinum'"),
    ):
        scoring_flow(config_path=str(config), as_of=pd.Timestamp("2026-08-01").date())
    warned = [line for line in logs.lines[seen:] if "plan not in labels.plan_order" in line]
    assert warned and "'platinum'" in warned[0]  # logged by the data checks, which go on
    assert_unchanged(before, outputs_snapshot(root))


@pytest.mark.postgres
def test_no_active_account_at_the_as_of_is_refused_in_one_line(trained, scored):
    """Every account churned: one line naming the as-of and the last active date, not a
    schema traceback; nothing written."""
    from flows.scoring import scoring_flow

    from churnml.validation import NoActiveAccountsError

    root, _ = trained
    before = outputs_snapshot(root)
    config = subscriptions_variant(
        root,
        "subscriptions_all_ended",
        "SELECT * REPLACE (COALESCE(end_at, GREATEST(start_at + INTERVAL 1 DAY, "
        "TIMESTAMP '2026-09-01')) AS end_at) FROM subscriptions",
    )
    con = duckdb.connect(str(root / "data" / "warehouse.duckdb"), read_only=True)
    last = con.execute("SELECT max(end_at) FROM subscriptions_all_ended").fetchone()[0]
    con.close()
    as_of = (pd.Timestamp(last) + pd.Timedelta(days=2)).date()
    with pytest.raises(NoActiveAccountsError) as err:
        scoring_flow(config_path=str(config), as_of=as_of)
    message = str(err.value)
    assert "\n" not in message and f"no active account at the scoring as-of {as_of}" in message
    assert f"the last on {last:%Y-%m-%d}" in message
    assert_unchanged(before, outputs_snapshot(root))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepared_root(tmp_path: Path, mlflow: dict) -> tuple[Path, dict]:
    """A warehouse whose sink already holds a previous run, and a config using the given store."""
    from importlib.resources import files

    root = tmp_path
    warehouse = root / "data" / "warehouse.duckdb"
    write_demo_warehouse(warehouse, 60, 6, 1, events_per_user_day=0.02)
    con = duckdb.connect(str(warehouse))
    previous = pd.DataFrame(
        {"account_id": ["acc_1", "acc_2"], "as_of": pd.Timestamp("2026-01-01"), "p_churn": 0.3}
    )
    write_duckdb(con, previous, "scored_accounts")
    con.close()
    raw = yaml.safe_load(files("churnml.defaults").joinpath("churnml.yaml").read_text())
    raw["mlflow"] = mlflow
    raw["output"] = {
        "sinks": [{"kind": "duckdb", "table": "scored_accounts"}, {"kind": "csv", "path": "crm"}]
    }
    (root / "churnml.yaml").write_text(yaml.safe_dump(raw))
    return root, outputs_snapshot(root)


def test_unreachable_mlflow_fails_scoring_before_anything_is_written(
    prefect_backend, tmp_path, monkeypatch
):
    from flows.scoring import scoring_flow

    from churnml.io.tracking import TrackingError

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    store = f"http://127.0.0.1:{free_port()}"
    root, before = prepared_root(tmp_path, {"tracking_uri": store})
    with pytest.raises(TrackingError, match="unreachable"):
        scoring_flow(config_path=str(root / "churnml.yaml"))
    assert_unchanged(before, outputs_snapshot(root))
    assert not (root / "reports").exists() and not (root / "crm").exists()


def test_missing_champion_fails_scoring_before_anything_is_written(prefect_backend, tmp_path):
    from flows.scoring import scoring_flow

    from churnml.io.tracking import TrackingError

    root, before = prepared_root(
        tmp_path, {"tracking_uri": "sqlite:///mlruns/mlflow.db", "artifact_root": "mlruns/a"}
    )
    with pytest.raises(TrackingError, match="no champion model registered"):
        scoring_flow(config_path=str(root / "churnml.yaml"))
    assert_unchanged(before, outputs_snapshot(root))
    assert not (root / "reports").exists() and not (root / "crm").exists()


# --- change since last run, from whichever sink comes first -------------------------------------


@pytest.mark.postgres
def test_change_since_last_run_comes_from_the_first_sink_of_any_kind(trained):
    """No DuckDB sink at all: the second run reads the first back from PostgreSQL."""
    from flows.scoring import scoring_flow

    root, _ = trained
    postgres = {"kind": "postgres", "table": "scores_pg", "url_env": "CHURNML_TEST_ACCOUNTS_URL"}
    parquet = {"kind": "parquet", "table": "scores_pq", "path": "crm_pq"}
    config = write_config(
        root, "parquet_first", "SELECT * FROM accounts", output={"sinks": [parquet, postgres]}
    )
    first = scoring_flow(config_path=str(config), as_of=pd.Timestamp("2026-07-01").date())
    assert first["scored"].previous_as_of.isna().all()  # the Parquet folder was empty
    assert first["written"][1] == "postgres:$CHURNML_TEST_ACCOUNTS_URL#scores_pg"

    config = write_config(
        root, "postgres_first", "SELECT * FROM accounts", output={"sinks": [postgres, parquet]}
    )
    second = scoring_flow(config_path=str(config), as_of=pd.Timestamp("2026-07-15").date())
    seen = second["scored"][second["scored"].account_id.isin(first["scored"].account_id)]
    assert len(seen) and (seen.previous_as_of == pd.Timestamp("2026-07-01")).all()
    assert seen.p_churn_change.notna().all()
    assert seen.change_summary.str.startswith("churn risk").all()
