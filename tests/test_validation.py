"""Bad input is named precisely: table, column, check and example rows."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from churnml.config import load_config
from churnml.io.sources import SourceError, connect_warehouse, load_sources
from churnml.validation import DataValidationError, raise_for_problems, validate_sources


def write_sources(tmp_path: Path, frames: dict[str, pd.DataFrame], columns: dict | None = None):
    sources = {}
    for name, frame in frames.items():
        path = tmp_path / f"{name}.csv"
        frame.to_csv(path, index=False)
        sources[name] = {"source": {"kind": "file", "path": path.name}}
        if columns and name in columns:
            sources[name]["columns"] = columns[name]
    cfg_path = tmp_path / "churnml.yaml"
    cfg_path.write_text(
        yaml.safe_dump({"sources": sources, "warehouse": {"path": "wh.duckdb"}}), encoding="utf-8"
    )
    cfg = load_config(cfg_path)
    con = connect_warehouse(cfg)
    return load_sources(con, cfg)


def problems_of(tmp_path, frames, columns=None):
    return validate_sources(write_sources(tmp_path, frames, columns))


def test_clean_data_has_no_problems(tmp_path, tiny_frames):
    assert problems_of(tmp_path, tiny_frames) == []


def test_missing_required_column_names_table_and_column(tmp_path, tiny_frames):
    tiny_frames["usage_events"] = tiny_frames["usage_events"].drop(columns="event_type")
    with pytest.raises(
        SourceError, match=r"usage_events, column event_type: required column not found"
    ):
        write_sources(tmp_path, tiny_frames)


def test_mapping_to_a_missing_source_column(tmp_path, tiny_frames):
    with pytest.raises(
        SourceError, match=r"accounts, column name: mapped to source column 'org_name'"
    ):
        write_sources(tmp_path, tiny_frames, {"accounts": {"name": "org_name"}})


def test_unparseable_dates_and_numbers(tmp_path, tiny_frames):
    subs = tiny_frames["subscriptions"].astype({"start_at": "str", "mrr": "str"})
    subs.loc[1, "start_at"] = "31/02/2024"
    subs.loc[2, "mrr"] = "lots"
    tiny_frames["subscriptions"] = subs
    found = {(p.table, p.column, p.check): p for p in problems_of(tmp_path, tiny_frames)}
    p = found[("subscriptions", "start_at", "unparseable date")]
    assert p.failing_rows == 1 and p.examples[0]["subscription_id"] == "s2"
    assert found[("subscriptions", "mrr", "not a valid float64")].examples[0]["mrr"] == "lots"


def test_duplicates_negative_mrr_orphans_and_time_travel(tmp_path, tiny_frames):
    acc = tiny_frames["accounts"]
    tiny_frames["accounts"] = pd.concat([acc, acc.iloc[[0]]], ignore_index=True)
    tiny_frames["subscriptions"].loc[0, "mrr"] = -5.0
    tiny_frames["usage_events"].loc[0, "account_id"] = "acc_ghost"
    tiny_frames["support_tickets"].loc[0, "closed_at"] = pd.Timestamp("2025-01-01")
    tiny_frames["usage_events"].loc[1, "occurred_at"] = pd.Timestamp("2099-01-01")
    checks = {(p.table, p.column, p.check) for p in problems_of(tmp_path, tiny_frames)}
    assert ("accounts", "account_id", "duplicate key") in checks
    assert ("subscriptions", "mrr", "negative MRR") in checks
    assert ("usage_events", "account_id", "rows for unknown accounts") in checks
    assert ("support_tickets", "closed_at", "ticket closed before it was opened") in checks
    assert ("usage_events", "occurred_at", "timestamp in the future") in checks


def test_empty_table_is_a_problem(tmp_path, tiny_frames):
    tiny_frames["support_tickets"] = tiny_frames["support_tickets"].iloc[0:0]
    checks = {(p.table, p.check) for p in problems_of(tmp_path, tiny_frames)}
    assert ("support_tickets", "table is empty") in checks


def test_error_message_lists_every_problem(tmp_path, tiny_frames):
    tiny_frames["subscriptions"].loc[0, "mrr"] = -5.0
    with pytest.raises(
        DataValidationError, match=r"subscriptions\.mrr: negative MRR \(1 rows\) e\.g\. .*s1"
    ):
        raise_for_problems(problems_of(tmp_path, tiny_frames))
