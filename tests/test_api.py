"""`churnml.api` on a small trained demo: frames with the documented columns, the same answers as
the command line, one clear error for bad input, and no Prefect API behind the read-only calls."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

from churnml import api
from churnml.config import ConfigError
from churnml.drift import DRIFT_COLUMNS
from churnml.io.sinks import SinkError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(trained_demo):
    return trained_demo


def active_accounts_at(warehouse: Path, as_of: str) -> set[str]:
    con = duckdb.connect(str(warehouse), read_only=True)
    rows = con.execute(
        "SELECT DISTINCT account_id FROM subscriptions "
        "WHERE start_at <= ? AND (end_at IS NULL OR end_at > ?)",
        [as_of, as_of],
    ).fetchall()
    con.close()
    return {r[0] for r in rows}


def test_train_gives_one_row_per_target_with_the_gate(demo):
    trained = demo.trained
    assert list(trained.columns) == api.TRAIN_COLUMNS
    assert sorted(trained["target"]) == ["churn", "upsell"]
    churn = trained.set_index("target").loc["churn"]
    assert churn["trained"] and churn["promoted"] and churn["version"] == "1"
    assert churn["decision"].startswith("PROMOTE")
    assert 0.5 < churn["roc_auc"] < 1 and 0 < churn["brier"] < 1
    assert (trained["run_id"] == trained.attrs["run_id"]).all()
    assert "# churnml training run" in trained.attrs["markdown"]


def test_score_gives_the_scored_accounts_it_wrote(demo):
    scored = demo.scored
    as_of = scored.attrs["as_of"]
    assert as_of == "2026-11-01"  # the day after the demo's last data
    warehouse = demo.root / "data" / "warehouse.duckdb"
    assert set(scored["account_id"]) == active_accounts_at(warehouse, as_of)
    assert scored["account_id"].is_unique
    for column in ("account_name", "p_churn", "churn_tier", "health_score", "arr_at_risk"):
        assert column in scored.columns
    assert scored["p_churn"].between(0, 1).all()
    assert Path(scored.attrs["report"]).exists()
    con = duckdb.connect(str(warehouse), read_only=True)
    written = con.execute("SELECT account_id, p_churn FROM scored_accounts").df()
    con.close()
    merged = written.merge(scored[["account_id", "p_churn"]], on="account_id")
    assert len(merged) == len(scored)
    assert (merged["p_churn_x"] - merged["p_churn_y"]).abs().max() < 1e-6


def test_explain_gives_the_drivers_churnml_explain_prints(demo):
    account = demo.scored.sort_values("p_churn").iloc[-1]["account_id"]
    drivers = api.explain(demo.config, account)
    assert list(drivers.columns) == api.EXPLAIN_COLUMNS
    assert not drivers.empty and (drivers["account_id"] == account).all()
    assert set(drivers["direction"]) <= {"risk", "protective"}
    risk = drivers[drivers["direction"] == "risk"]
    protective = drivers[drivers["direction"] == "protective"]
    assert (risk["impact"] > 0).all() and (protective["impact"] < 0).all()
    assert risk.groupby("target")["impact"].apply(lambda s: s.is_monotonic_decreasing).all()
    assert drivers["probability"].iloc[0] == pytest.approx(
        demo.scored.set_index("account_id").loc[account, "p_churn"], abs=1e-6
    )

    from churnml.cli import app

    printed = CliRunner().invoke(app, ["explain", account, "-c", str(demo.config)])
    assert printed.exit_code == 0, printed.output
    assert printed.output.strip() == drivers.attrs["card"]
    for sentence in drivers["sentence"]:
        assert sentence in printed.output

    by_name = api.explain(demo.config, drivers["account_name"].iloc[0].upper(), "2026-11-01")
    assert by_name[["target", "family", "impact"]].equals(drivers[["target", "family", "impact"]])


def test_scoring_before_any_training_says_so(demo):
    from churnml.io.registry import NoChampion

    assert isinstance(demo.before_training, NoChampion)
    assert "no champion model registered as 'churnml-churn'" in str(demo.before_training)
    assert "run `churnml train` first" in str(demo.before_training)
    assert "nothing was scored or written" in str(demo.before_training)


def test_bad_input_is_one_clear_error(demo, tmp_path):
    with pytest.raises(api.AccountNotFound, match=r"'acc_nobody' is not in the run of 2026-11-01"):
        api.explain(demo.config, "acc_nobody")
    with pytest.raises(SinkError, match=r"no scoring run for as-of 2026-09-01; stored as-ofs"):
        api.explain(demo.config, "acc_000001", as_of="2026-09-01")
    with pytest.raises(ValueError, match=r"as_of must be a date or YYYY-MM-DD, got 'yesterday'"):
        api.explain(demo.config, "acc_000001", as_of="yesterday")
    missing = tmp_path / "nowhere" / "churnml.yaml"
    for call in (api.train, api.score, api.kpis, lambda c: api.explain(c, "acc_000001")):
        with pytest.raises(ConfigError, match=rf"config file {missing} does not exist"):
            call(missing)
    with pytest.raises(ConfigError, match="config must be a path to churnml.yaml or a Chur"):
        api.score({"warehouse": {}})
    with pytest.raises(ValueError, match="lang must be en or ja, got 'fr'"):
        api.score(demo.config, lang="fr")


def test_champion_features_drift_and_calibration(demo):
    champion = api.champion(demo.config, "churn")
    assert champion.version == "1" and champion.bundle.target == "churn"
    features = api.features(demo.config)
    assert set(champion.bundle.features) <= set(features.columns)
    assert set(features["account_id"]) == set(demo.scored["account_id"])
    ordered = demo.scored.set_index("account_id").loc[features["account_id"], "p_churn"]
    assert abs(champion.bundle.predict(features) - ordered.to_numpy()).max() < 1e-6

    drift = api.drift(demo.config)
    assert list(drift.columns) == DRIFT_COLUMNS
    churn_rows = drift[drift["model"] == "churn"]
    assert churn_rows["name"].iloc[0] == "p_churn" and churn_rows["psi"].ge(0).all()
    calibration = api.calibration(demo.config, "churn")
    assert list(calibration.columns) == ["predicted", "observed"] and len(calibration) >= 3
    assert calibration.stack().between(0, 1).all()

    from churnml.io.registry import NoChampion

    if not demo.trained.set_index("target").loc["upsell", "promoted"]:
        with pytest.raises(NoChampion, match="upsell"):
            api.champion(demo.config, "upsell")


def test_read_only_calls_never_reach_a_prefect_api(demo):
    """explain and drift (champion and features within) read the warehouse and MLflow only:
    they work with Prefect pointed at an address where nothing answers."""
    code = (
        "from churnml import api; import sys; c = sys.argv[1]; "
        "acc = api.stored_scores(api.load(c))['account_id'].iloc[0]; "
        "print(len(api.explain(c, acc)), len(api.drift(c)))"
    )
    env = {
        **os.environ,
        "PREFECT_API_URL": "http://127.0.0.1:9/api",
        "PREFECT_SERVER_EPHEMERAL_ENABLED": "false",
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    done = subprocess.run(
        [sys.executable, "-c", code, str(demo.config)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    explained, drifted = (int(x) for x in done.stdout.split()[-2:])
    assert explained > 0 and drifted == len(api.drift(demo.config))


def test_kpis_hands_the_canonical_tables_and_config_to_the_kpi_board(demo, monkeypatch):
    seen = {}

    def kpi_board(tables, cfg, as_of=None):
        seen.update(tables=sorted(tables), cfg=cfg, rows=tables["accounts"].count().execute())
        seen["as_of"] = as_of
        return pd.DataFrame({"month": ["2026-10"], "logo_churn_rate": [0.01]})

    monkeypatch.setitem(sys.modules, "churnml.kpis", types.SimpleNamespace(kpi_board=kpi_board))
    board = api.kpis(demo.config)
    assert list(board.columns) == ["month", "logo_churn_rate"]
    assert {"accounts", "subscriptions", "usage_events"} <= set(seen["tables"])
    assert seen["rows"] == 400 and seen["cfg"] == api.load(demo.config)
    assert seen["as_of"] is None
    api.kpis(demo.config, "2026-08-01")
    assert seen["as_of"] == date(2026, 8, 1)


def test_kpis_of_the_demo(demo):
    import importlib
    import importlib.util

    if importlib.util.find_spec("churnml.kpis") is None or not hasattr(
        importlib.import_module("churnml.kpis"), "kpi_board"
    ):
        pytest.skip("churnml.kpis.kpi_board is not part of this tree")
    board = api.kpis(demo.config)
    assert isinstance(board, pd.DataFrame) and not board.empty


def test_version_is_the_package_version():
    from importlib.metadata import version

    import churnml
    from churnml.cli import app

    assert churnml.__version__ == version("churnml")
    printed = CliRunner().invoke(app, ["--version"])
    assert printed.stdout.strip() == f"churnml {churnml.__version__}"
