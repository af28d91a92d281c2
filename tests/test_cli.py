"""`churnml check-data` exits non-zero with a report naming table, column, check and examples."""

from __future__ import annotations

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
    assert result.exit_code == 1
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
    result = CliRunner().invoke(app, ["score"])
    assert result.exit_code == 1
    assert "accounts.account_id: duplicate key (1 rows)" in result.output
    assert "Traceback" not in result.output
