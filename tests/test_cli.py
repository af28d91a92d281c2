"""The CLI: `check-data` names table, column, check and examples; every command answers a config
or source mistake in one line with exit 2 before anything starts; known failures in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from churnml.cli import app


def write_csv_config(tmp_path, frames) -> str:
    srcs = {}
    for name, frame in frames.items():
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
        srcs[name] = {"source": {"kind": "file", "path": f"{name}.csv"}}
    path = tmp_path / "churnml.yaml"
    path.write_text(yaml.safe_dump({"sources": srcs, "warehouse": {"path": "wh.duckdb"}}))
    return str(path)


def test_check_data_passes_clean_data(tmp_path, tiny_frames):
    result = CliRunner().invoke(app, ["check-data", "-c", write_csv_config(tmp_path, tiny_frames)])
    assert result.exit_code == 0, result.output
    assert "all checks passed" in result.output


def test_check_data_names_table_column_check_and_examples(tmp_path, tiny_frames):
    tiny_frames["subscriptions"].loc[0, "mrr"] = -5.0
    tiny_frames["support_tickets"].loc[0, "closed_at"] = "2025-01-01"
    result = CliRunner().invoke(app, ["check-data", "-c", write_csv_config(tmp_path, tiny_frames)])
    assert result.exit_code == 1
    assert "subscriptions.mrr: negative MRR (1 rows)" in result.output
    assert "'subscription_id': 's1'" in result.output
    assert "support_tickets.closed_at: ticket closed before it was opened" in result.output


def test_check_data_reports_a_non_utf8_file_without_a_traceback(tmp_path, tiny_frames):
    tiny_frames["accounts"].loc[0, "name"] = "Café"
    tiny_frames["accounts"].loc[2, "name"] = "Gamma KK"
    config = write_csv_config(tmp_path, tiny_frames)
    path = tmp_path / "accounts.csv"
    path.write_bytes(path.read_text(encoding="utf-8").encode("latin-1"))
    result = CliRunner().invoke(app, ["check-data", "-c", config])
    assert result.exit_code == 2  # a source mistake: answered before anything starts
    assert "table accounts, column name" in result.output and "not UTF-8" in result.output
    assert "Traceback" not in result.output and "UnicodeDecodeError" not in result.output


def test_score_stops_with_the_report_and_no_traceback(tmp_path, monkeypatch):
    """Any flow failing on a known problem prints its message and exits 1."""
    import flows.scoring

    from churnml.validation import DataProblem, DataValidationError

    def failing(**kwargs):
        raise DataValidationError(
            [DataProblem("accounts", "account_id", "duplicate key", 1, [{"account_id": "a"}])]
        )

    monkeypatch.setattr(flows.scoring, "scoring_flow", failing)
    monkeypatch.setattr("churnml.cli._require_a_champion", lambda cfg: None)  # no store here
    monkeypatch.setattr("churnml.io.preflight.refuse_bad_data", lambda cfg, labels=False: None)
    result = CliRunner().invoke(app, ["score"])
    assert result.exit_code == 1
    assert "accounts.account_id: duplicate key (1 rows)" in result.output
    assert "Traceback" not in result.output


COMMANDS = {
    "train": ("flows.training", "training_flow"),
    "score": ("flows.scoring", "scoring_flow"),
    "evaluate": ("flows.evaluation", "evaluation_flow"),
    "serve": ("flows.deployments", "serve_schedules"),
    "check-data": None,
    "demo-data": None,
}


@pytest.fixture
def no_flows(monkeypatch):
    """Any command that gets as far as a flow fails the test: mistakes are answered before."""
    import importlib

    def started(*args, **kwargs):
        raise AssertionError("a flow started despite the mistake")

    # imported before patching: it binds the flows at import and would keep the stubs for good
    importlib.import_module("flows.deployments")
    for module, name in filter(None, COMMANDS.values()):
        monkeypatch.setattr(importlib.import_module(module), name, started)


def assert_one_line_refusal(result, folder: Path, before: set[str]) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output and "input_value" not in result.output
    assert {p.name for p in folder.rglob("*")} == before, "something was written"
    return lines[0]


def config_mistakes() -> dict[str, str]:
    """Each mistake as the text of a config file."""
    base = {"sources": _file_sources(), "warehouse": {"path": "wh.duckdb"}}

    def variant(**changes) -> str:
        raw = yaml.safe_load(yaml.safe_dump(base))
        for dotted, value in changes.items():
            node = raw
            *parents, last = dotted.split("__")
            for key in parents:
                node = node.setdefault(key, {})
            node[last] = value
        return yaml.safe_dump(raw)

    no_outcome = yaml.safe_load(yaml.safe_dump(base))
    del no_outcome["sources"]["subscriptions"]  # and labels.churn_source left at subscriptions
    return {
        "no churn outcome": yaml.safe_dump(no_outcome),
        "unknown key": variant(labels__churn_horizn_days=90),
        "wrong type": variant(training__n_estimators="many"),
        "negative horizon": variant(labels__churn_horizon_days=-30),
        "empty window list": variant(features__windows_days=[]),
        "not a mapping": "- just\n- a list\n",
        "unparsable YAML": "sources: {accounts: [\n",
        "injected table name": variant(output__sinks=[{"kind": "duckdb", "table": 'x"; DROP'}]),
        "secret in the file": variant(
            sources__accounts__url="postgresql://etl:Pw-in-file-77@db:5432/prod"
        ),
    }


def _frames():
    from factories import frames

    return frames()


def _file_sources() -> dict:
    names = ("accounts", "subscriptions", "usage_events", "support_tickets", "nps_responses")
    return {n: {"source": {"kind": "file", "path": f"{n}.csv"}} for n in names}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_refuses_each_config_mistake_in_one_line(tmp_path, no_flows, command):
    for mistake, text in config_mistakes().items():
        folder = tmp_path / mistake.replace(" ", "_")
        folder.mkdir()
        (folder / "churnml.yaml").write_text(text)
        before = {p.name for p in folder.rglob("*")}
        result = CliRunner().invoke(app, [command, "-c", str(folder / "churnml.yaml")])
        line = assert_one_line_refusal(result, folder, before)
        assert "config file" in line, (mistake, line)
        assert "Pw-in-file-77" not in result.output
    missing = CliRunner().invoke(app, [command, "-c", str(tmp_path / "nowhere.yaml")])
    assert missing.exit_code == 2 and "does not exist" in missing.stderr


def source_mistakes() -> dict:
    """Each source mistake as (file edits, config edits) on the tiny CSV layout."""

    def latin1(folder):
        path = folder / "accounts.csv"
        path.write_bytes(
            path.read_text(encoding="utf-8").replace("Alpha", "Café").encode("latin-1", "replace")
        )

    def truncated(folder):
        path = folder / "subscriptions.csv"
        path.write_text(path.read_text().rstrip("\n").rsplit(",", 3)[0] + "\n")

    def duplicated_header(folder):
        path = folder / "support_tickets.csv"
        header, rest = path.read_text().split("\n", 1)
        path.write_text(header.replace("priority", "status") + "\n" + rest)

    def renamed_key(folder):
        path = folder / "usage_events.csv"
        path.write_text(path.read_text().replace("account_id", "acct", 1))

    def missing_file(folder):
        (folder / "nps_responses.csv").unlink()

    return {
        "missing file": (missing_file, {}, "no file matches"),
        "glob matches nothing": (
            None,
            {"usage_events": {"source": {"kind": "file", "path": "usage/*.csv"}}},
            "no file matches",
        ),
        "renamed key column": (renamed_key, {}, "usage_events, column account_id"),
        "mapped column missing": (
            None,
            {
                "accounts": {
                    "source": {"kind": "file", "path": "accounts.csv"},
                    "columns": {"name": "company"},
                }
            },
            "mapped to source column 'company'",
        ),
        "latin-1 file": (latin1, {}, "not UTF-8"),
        "truncated last row": (truncated, {}, "looks cut off"),
        "duplicated header": (duplicated_header, {}, "repeats column name(s) ['status']"),
    }


@pytest.mark.parametrize("command", ["train", "score", "evaluate", "serve", "check-data"])
def test_every_command_refuses_each_source_mistake_in_one_line(tmp_path, no_flows, command):
    for mistake, (edit_files, edit_config, expected) in source_mistakes().items():
        folder = tmp_path / mistake.replace(" ", "_")
        folder.mkdir()
        config = Path(write_csv_config(folder, _frames()))
        if edit_files:
            edit_files(folder)
        raw = yaml.safe_load(config.read_text())
        raw["sources"].update(edit_config)
        config.write_text(yaml.safe_dump(raw))
        before = {p.name for p in folder.rglob("*")}
        result = CliRunner().invoke(app, [command, "-c", str(config)])
        line = assert_one_line_refusal(result, folder, before)
        assert expected in line, (mistake, line)


def test_config_mistakes_are_answered_without_importing_prefect(tmp_path):
    """Checked in a fresh interpreter: nothing slow is imported before the config is checked."""
    (tmp_path / "churnml.yaml").write_text("sources: {accounts: [\n")
    script = (
        "import sys\n"
        "from churnml.cli import app\n"
        "for command in ('train', 'score', 'evaluate', 'serve', 'check-data'):\n"
        "    try:\n"
        "        app([command, '-c', sys.argv[1]], standalone_mode=False)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print('prefect' in sys.modules, 'flows' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "churnml.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.stdout.strip().splitlines()[-1] == "False False", out.stdout + out.stderr
    assert out.stderr.count("not valid YAML at line 2") == 5, out.stderr


@pytest.mark.parametrize("command", ["score", "evaluate"])
def test_as_of_must_be_a_date(no_flows, command):
    result = CliRunner().invoke(app, [command, "--as-of", "2025-13-40"])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "--as-of must be a date YYYY-MM-DD, got '2025-13-40' (month must be in 1..12)"
    )


def test_version():
    from importlib.metadata import version

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"churnml {version('churnml')}"


def test_a_training_error_ends_in_one_line(tmp_path, monkeypatch):
    """Data with no churn and no expansion (or a single account) stops training in one line."""
    import flows.training

    from churnml.train import TrainingError

    def failing(**kwargs):
        raise TrainingError("churn_label: the fit period has only one outcome; cannot train")

    monkeypatch.setattr(flows.training, "training_flow", failing)
    # the flow's own check, for data the start-up check cannot judge (tests/test_bad_inputs.py)
    monkeypatch.setattr("churnml.io.preflight.refuse_bad_data", lambda cfg, labels=False: None)
    result = CliRunner().invoke(app, ["train", "-c", write_csv_config(tmp_path, _frames())])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "training error: churn_label: the fit period has only one outcome; cannot train"
    ]


def test_a_row_with_extra_fields_is_named_not_read_as_one_column(tmp_path):
    """DuckDB's sniffer falls back to one column when a middle row has an extra field."""
    config = write_csv_config(tmp_path, _frames())
    path = tmp_path / "subscriptions.csv"
    lines = path.read_text().split("\n")
    lines[2] += ",extra"
    path.write_text("\n".join(lines))
    result = CliRunner().invoke(app, ["check-data", "-c", config])
    assert result.exit_code == 2
    assert "has 8 columns in its header but DuckDB found 1" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_a_semicolon_separated_file_passes_the_file_checks(tmp_path):
    config = write_csv_config(tmp_path, _frames())
    _frames()["subscriptions"].to_csv(tmp_path / "subscriptions.csv", index=False, sep=";")
    result = CliRunner().invoke(app, ["check-data", "-c", config])
    assert result.exit_code == 0, result.output


def test_prefect_logs_a_known_failure_without_its_traceback():
    import logging
    import sys

    from churnml.flow_logs import KnownFailureFilter
    from churnml.train import TrainingError

    def record(exc: Exception) -> logging.LogRecord:
        try:
            raise exc
        except Exception:
            info = sys.exc_info()
        return logging.LogRecord("prefect.task_runs", logging.ERROR, "x", 1, "failed", (), info)

    quiet = KnownFailureFilter((TrainingError,))
    known, bug = record(TrainingError("one outcome")), record(KeyError("bug"))
    assert quiet.filter(known) and quiet.filter(bug)
    assert known.exc_info is None and "Traceback" not in logging.Formatter().format(known)
    assert "Traceback" in logging.Formatter().format(bug)  # a real bug keeps its traceback


def test_source_mistakes_are_answered_without_importing_the_pipeline(tmp_path):
    """The source pre-flight needs neither Prefect nor pandas: a missing file is answered fast."""
    config = write_csv_config(tmp_path, _frames())
    (tmp_path / "usage_events.csv").unlink()
    script = (
        "import sys\n"
        "from churnml.cli import app\n"
        "try:\n"
        "    app(['train', '-c', sys.argv[1]], standalone_mode=False)\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in ('prefect', 'pandas', 'flows') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, config], capture_output=True, text=True, timeout=60
    )
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr
    assert "usage_events: no file matches" in out.stderr
