"""A new user's mistakes in the data, each answered once and in one line: an empty accounts
table, a scoring as-of after the data, and the order check-data reports in."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from churnml.cli import app
from test_cli import assert_one_line_refusal, no_flows, write_csv_config  # noqa: F401


def test_an_empty_accounts_table_is_one_problem_not_a_cascade(tmp_path, tiny_frames):
    from test_validation import problems_of

    tiny_frames["accounts"] = tiny_frames["accounts"].iloc[:0]
    (problem,) = problems_of(tmp_path, tiny_frames)
    assert (problem.table, problem.column, problem.severity) == ("accounts", "*", "error")
    assert problem.check.startswith("table is empty: no account to match the other tables' rows")
    assert "sources.accounts" in problem.check


@pytest.mark.usefixtures("no_flows")
@pytest.mark.parametrize("command", ["check-data", "train", "score", "evaluate"])
@pytest.mark.parametrize(("table", "suffix"), [("accounts", "csv"), ("subscriptions", "parquet")])
def test_a_required_table_with_a_header_only_is_refused_before_anything(
    tmp_path, tiny_frames, command, table, suffix
):
    config = Path(write_csv_config(tmp_path, tiny_frames))
    empty = tmp_path / f"{table}.{suffix}"
    if suffix == "parquet":
        tiny_frames[table].iloc[:0].to_parquet(empty, index=False)
        (tmp_path / f"{table}.csv").unlink()
        raw = yaml.safe_load(config.read_text())
        raw["sources"][table]["source"]["path"] = empty.name
        config.write_text(yaml.safe_dump(raw))
    else:
        tiny_frames[table].iloc[:0].to_csv(empty, index=False)
    before = {p.name for p in tmp_path.rglob("*")}
    line = assert_one_line_refusal(
        CliRunner().invoke(app, [command, "-c", str(config)]), tmp_path, before
    )
    assert line.startswith(f"source error: table {table}: {empty} has a header but no rows, ")
    assert f"fix sources.{table}.source.path" in line
    assert "unknown accounts (" not in line


def test_an_empty_optional_table_is_fine(tmp_path, tiny_frames):
    tiny_frames["support_tickets"] = tiny_frames["support_tickets"].iloc[:0]
    result = CliRunner().invoke(app, ["check-data", "-c", write_csv_config(tmp_path, tiny_frames)])
    assert result.exit_code == 0, result.output


def test_check_data_reports_in_order_on_one_stream(tmp_path, tiny_frames):
    """Profile, warnings, then problems: on one stream, so no capture can splice a problem
    count onto the profile's last line."""
    tiny_frames["subscriptions"].loc[0, "mrr"] = -5.0
    tiny_frames["support_tickets"].loc[0, "priority"] = "P1"
    result = CliRunner().invoke(app, ["check-data", "-c", write_csv_config(tmp_path, tiny_frames)])
    assert result.exit_code == 1 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].startswith("accounts: 3 rows")  # the profile comes first
    assert lines[-4] == "1 data warning(s) (runs go on):"
    assert lines[-3].startswith("  - support_tickets.priority: priority not one of")
    assert lines[-2] == "1 data problem(s):"
    assert lines[-1].startswith("  - subscriptions.mrr: negative MRR (1 rows)")


@pytest.mark.usefixtures("no_flows")
@pytest.mark.parametrize(("as_of", "refused"), [("2025-03-17", False), ("2025-03-18", True)])
def test_score_refuses_an_as_of_after_the_data_before_anything_starts(
    tmp_path, tiny_frames, as_of, refused
):
    """The data ends 2025-03-10 (acc_b's upgrade): a week later is the last as-of that scores.
    No model is trained here: the as-of is answered first, in one line."""
    import time

    config = write_csv_config(tmp_path, tiny_frames)
    before = {p.name for p in tmp_path.rglob("*")}
    started = time.process_time()
    result = CliRunner().invoke(app, ["score", "--as-of", as_of, "-c", config])
    assert result.exit_code == 1, result.output
    (line,) = result.stderr.strip().splitlines()
    if not refused:
        assert line.startswith("NoChampion: no model is registered yet")
        return
    assert line.startswith(
        "AsOfAfterDataError: the scoring as-of 2025-03-18 is 8 days after the data ends "
        "(2025-03-10): every account would look inactive over the last 7 days. Score an as-of up "
        "to 2025-03-17"
    )
    assert time.process_time() - started < 2
    assert {p.name for p in tmp_path.rglob("*")} == before
