"""Mistakes a new user makes with the CLI, each answered in one line before any flow starts:
a warehouse that is not a DuckDB file, explain and models with a broken config, explain before
any scoring run, score before any training."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from churnml.cli import app
from test_cli import COMMANDS, assert_one_line_refusal, no_flows, write_csv_config  # noqa: F401

NOT_DUCKDB = {
    "another kind of file": b"account_id,name\nacc_a,Alpha\n",
    "an empty file": b"",
    "an SQLite database": b"SQLite format 3\x00" + bytes(100),
}


def _config(folder: Path, frames, **changes) -> Path:
    path = Path(write_csv_config(folder, frames))
    raw = yaml.safe_load(path.read_text())
    raw.update(changes)
    path.write_text(yaml.safe_dump(raw))
    return path


def _args(command: str, config: Path) -> list[str]:
    return [command, *(["acc_a"] if command == "explain" else []), "-c", str(config)]


@pytest.mark.parametrize("command", [*[c for c in COMMANDS if c != "demo-data"], "explain"])
@pytest.mark.usefixtures("no_flows")
def test_a_warehouse_that_is_not_duckdb_is_refused_in_one_line(tmp_path, tiny_frames, command):
    for what, content in NOT_DUCKDB.items():
        folder = tmp_path / what.replace(" ", "_")
        folder.mkdir()
        config = _config(folder, tiny_frames)
        (folder / "wh.duckdb").write_bytes(content)
        before = {p.name for p in folder.rglob("*")}
        result = CliRunner().invoke(app, _args(command, config))
        line = assert_one_line_refusal(result, folder, before)
        assert line.startswith("source error: warehouse.path: "), line
        assert f"is not a DuckDB database file ({what})" in line
        assert (folder / "wh.duckdb").read_bytes() == content


@pytest.mark.usefixtures("no_flows")
def test_a_duckdb_source_database_that_is_not_duckdb(tmp_path, tiny_frames):
    config = _config(tmp_path, tiny_frames)
    raw = yaml.safe_load(config.read_text())
    raw["sources"]["nps_responses"] = {
        "source": {"kind": "duckdb", "database": "survey.duckdb", "table": "answers"}
    }
    config.write_text(yaml.safe_dump(raw))
    result = CliRunner().invoke(app, ["check-data", "-c", str(config)])
    assert result.exit_code == 2 and "survey.duckdb does not exist" in result.stderr
    (tmp_path / "survey.duckdb").write_text("score\n9\n")
    before = {p.name for p in tmp_path.rglob("*")}
    result = CliRunner().invoke(app, ["train", "-c", str(config)])
    line = assert_one_line_refusal(result, tmp_path, before)
    assert line == (
        f"source error: table nps_responses: {tmp_path / 'survey.duckdb'} is not a DuckDB "
        "database file (another kind of file); fix sources.nps_responses.source.database"
    )


def test_a_real_duckdb_warehouse_passes(tmp_path, tiny_frames):
    import duckdb

    config = _config(tmp_path, tiny_frames)
    duckdb.connect(str(tmp_path / "wh.duckdb")).close()
    result = CliRunner().invoke(app, ["check-data", "-c", str(config)])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("command", ["explain", "models"])
def test_explain_and_models_refuse_config_mistakes_in_one_line(tmp_path, command):
    from test_cli import config_mistakes

    mistakes = {**config_mistakes(), "empty file": ""}
    for mistake, text in mistakes.items():
        folder = tmp_path / mistake.replace(" ", "_")
        folder.mkdir()
        (folder / "churnml.yaml").write_text(text)
        before = {p.name for p in folder.rglob("*")}
        result = CliRunner().invoke(app, _args(command, folder / "churnml.yaml"))
        line = assert_one_line_refusal(result, folder, before)
        assert "config file" in line, (mistake, line)
        assert "Pw-in-file-77" not in result.output
    (tmp_path / "folder.yaml").mkdir()
    for path, expected in (
        (tmp_path / "nowhere.yaml", "does not exist"),
        (tmp_path / "folder.yaml", "is a folder"),
    ):
        result = CliRunner().invoke(app, _args(command, path))
        assert result.exit_code == 2 and expected in result.stderr


def test_explain_before_any_scoring_run(tmp_path, tiny_frames):
    config = _config(tmp_path, tiny_frames)
    before = {p.name for p in tmp_path.rglob("*")}
    result = CliRunner().invoke(app, ["explain", "acc_a", "-c", str(config)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.strip() == (
        f"no scoring run is stored yet (warehouse {tmp_path / 'wh.duckdb'} does not exist): "
        "run `churnml score` first"
    )
    assert {p.name for p in tmp_path.rglob("*")} == before


@pytest.mark.usefixtures("no_flows")
def test_score_before_any_training_stops_before_the_flow(tmp_path, tiny_frames):
    store = tmp_path / "mlruns" / "mlflow.db"
    config = _config(tmp_path, tiny_frames, mlflow={"tracking_uri": f"sqlite:///{store}"})
    (tmp_path / "mlruns").mkdir()
    result = CliRunner().invoke(app, ["score", "-c", str(config)])
    assert result.exit_code == 1, result.output
    assert result.stderr.strip() == (
        f"no champion: no model is registered yet (MLflow store {store} does not exist): run "
        "`churnml train` first; nothing was scored or written"
    )
    assert not store.exists()
    # a store that exists but holds no champion (e.g. every model refused by the gate)
    from churnml.config import load_config
    from churnml.io.tracking import configure

    configure(load_config(config))
    result = CliRunner().invoke(app, ["score", "-c", str(config)])
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("no champion: no champion model registered")
    assert "run `churnml train` first" in lines[0]
    assert lines[0].endswith("nothing was scored or written")
    assert not (tmp_path / "wh.duckdb").exists() and not (tmp_path / "reports").exists()


def test_several_config_mistakes_are_still_one_line(tmp_path):
    (tmp_path / "churnml.yaml").write_text("sorces: {}\nsnapshots: {count: many}\n")
    result = CliRunner().invoke(app, ["check-data", "-c", str(tmp_path / "churnml.yaml")])
    line = assert_one_line_refusal(result, tmp_path, {"churnml.yaml"})
    for part in ("sources: Field required", "sorces: Extra inputs", "snapshots.count"):
        assert part in line


@pytest.mark.usefixtures("no_flows")
@pytest.mark.parametrize("command", ["models", "score"])
def test_models_and_score_before_any_training_create_no_store(tmp_path, tiny_frames, command):
    config = _config(tmp_path, tiny_frames)  # the default store: mlruns/mlflow.db, not there
    before = {p.name for p in tmp_path.rglob("*")}
    result = CliRunner().invoke(app, [command, "-c", str(config)])
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    store = tmp_path / "mlruns" / "mlflow.db"
    assert lines[0].startswith(
        f"no champion: no model is registered yet (MLflow store {store} does not exist): run "
        "`churnml train` first"
    )
    assert {p.name for p in tmp_path.rglob("*")} == before, "a store was created"
