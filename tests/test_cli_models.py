"""`churnml models` and `churnml explain`: the registry and one account's drivers, in text."""

from __future__ import annotations

import contextlib

import duckdb
import mlflow
import numpy as np
import yaml
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from churnml.cli import app
from churnml.io.sinks import write_duckdb
from report_data import scored_frame


def write_config(root, **extra) -> str:
    from importlib.resources import files

    raw = yaml.safe_load(files("churnml.defaults").joinpath("churnml.yaml").read_text())
    raw["warehouse"] = {"path": "wh.duckdb"}
    raw["mlflow"] = {"tracking_uri": "sqlite:///mlruns/mlflow.db", "artifact_root": "mlruns/a"}
    raw["output"] = {"sinks": [{"kind": "duckdb", "table": "scored_accounts"}]}
    raw.update(extra)
    path = root / "churnml.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return str(path)


def test_models_lists_versions_the_champion_and_why_none(tmp_path):
    config = write_config(tmp_path)
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    client = MlflowClient()
    for target, gates in (("churn", ["PROMOTE: no current champion", "KEEP CHAMPION: worse"]),):
        name = f"churnml-{target}"
        with contextlib.suppress(mlflow.exceptions.MlflowException):
            client.create_registered_model(name)
        for gate in gates:
            v = client.create_model_version(name, source=(tmp_path / "m").as_uri()).version
            client.set_model_version_tag(name, v, "gate", gate)
        client.set_registered_model_alias(name, "champion", "1")
    result = CliRunner().invoke(app, ["models", "-c", config])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "churn (churnml-churn): champion version 1"
    assert "version 2" in lines[1] and lines[1].endswith("KEEP CHAMPION: worse")
    assert lines[2].startswith(" * version 1") and lines[2].endswith("PROMOTE: no current champion")
    assert "upsell (churnml-upsell): no champion model registered" in result.output


def test_explain_prints_the_drivers_of_one_account(tmp_path):
    config = write_config(tmp_path)
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    write_duckdb(con, scored_frame(5, as_of="2026-10-01"), "scored_accounts")
    latest = scored_frame(5, as_of="2026-11-01")
    latest.loc[2, "p_churn"] = np.nan  # a run without a churn model
    write_duckdb(con, latest, "scored_accounts")
    con.close()

    result = CliRunner().invoke(app, ["explain", "acc_003", "--as-of", "2026-10-01", "-c", config])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Account 03 (acc_003), as of 2026-10-01")
    assert "churn risk, pushing up:" in result.output
    assert "Active users fell from 43 to 17" in result.output and "NPS 9" in result.output

    by_name = CliRunner().invoke(app, ["explain", "account 02", "-c", config])
    assert by_name.exit_code == 0 and "as of 2026-11-01" in by_name.output
    assert "no churn model scored this run" in by_name.output

    missing = CliRunner().invoke(app, ["explain", "nobody", "-c", config])
    assert missing.exit_code == 1 and "'nobody' is not in the run of 2026-11-01" in missing.output
    bad = CliRunner().invoke(app, ["explain", "acc_001", "--as-of", "2026-09-01", "-c", config])
    assert bad.exit_code == 1 and "no scoring run for as-of 2026-09-01" in bad.output
    assert "Traceback" not in bad.output + missing.output
