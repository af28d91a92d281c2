"""Bad input is named precisely: table, column, check and example rows."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from churnml.config import ValidationConfig, load_config
from churnml.io.sources import SourceError, connect_warehouse, load_sources
from churnml.validation import (
    DataValidationError,
    UnknownCategoriesError,
    raise_for_problems,
    screen_unknown_categories,
    validate_sources,
)


def write_sources(
    tmp_path: Path,
    frames: dict[str, pd.DataFrame],
    columns: dict | None = None,
    parquet: tuple[str, ...] = (),
    extra: dict | None = None,
):
    sources = {}
    for name, frame in frames.items():
        path = tmp_path / f"{name}.{'parquet' if name in parquet else 'csv'}"
        if name in parquet:
            frame.to_parquet(path, index=False)
        else:
            frame.to_csv(path, index=False)
        sources[name] = {"source": {"kind": "file", "path": path.name}}
        if columns and name in columns:
            sources[name]["columns"] = columns[name]
    cfg_path = tmp_path / "churnml.yaml"
    raw = {"sources": sources, "warehouse": {"path": "wh.duckdb"}, **(extra or {})}
    cfg_path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    cfg = load_config(cfg_path)
    con = connect_warehouse(cfg)
    return load_sources(con, cfg)


def problems_of(tmp_path, frames, columns=None, parquet=(), extra=None, settings=None):
    return validate_sources(
        write_sources(tmp_path, frames, columns, parquet, extra), None, settings
    )


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


def test_empty_required_table_is_a_problem(tmp_path, tiny_frames):
    tiny_frames["subscriptions"] = tiny_frames["subscriptions"].iloc[0:0]
    checks = {(p.table, p.check) for p in problems_of(tmp_path, tiny_frames)}
    assert ("subscriptions", "table is empty") in checks


def test_empty_or_category_less_optional_tables_are_fine(tmp_path, tiny_frames):
    tiny_frames["support_tickets"] = tiny_frames["support_tickets"].drop(
        columns=["category", "priority"]
    )
    tiny_frames["usage_events"] = tiny_frames["usage_events"].iloc[0:0]
    mapped = write_sources(tmp_path, tiny_frames)
    assert validate_sources(mapped) == []
    tickets = mapped["support_tickets"].table.to_pandas()
    assert tickets.category.isna().all() and tickets.priority.isna().all()


def test_outcome_tables_are_checked_for_orphans_and_future_dates(tmp_path, tiny_frames):
    tiny_frames["churn_events"] = pd.DataFrame(
        {
            "account_id": ["acc_a", "acc_ghost"],
            "churned_at": ["2025-04-15", "2099-01-01"],
            "reason": ["price", None],
        }
    )
    tiny_frames["expansion_events"] = pd.DataFrame(
        {"account_id": ["acc_b"], "occurred_at": ["2025-03-10"], "amount": ["lots"]}
    )
    checks = {(p.table, p.column, p.check) for p in problems_of(tmp_path, tiny_frames)}
    assert ("churn_events", "account_id", "rows for unknown accounts") in checks
    assert ("churn_events", "churned_at", "timestamp in the future") in checks
    assert ("expansion_events", "amount", "not a valid float64") in checks


def test_error_message_lists_every_problem(tmp_path, tiny_frames):
    tiny_frames["subscriptions"].loc[0, "mrr"] = -5.0
    with pytest.raises(
        DataValidationError, match=r"subscriptions\.mrr: negative MRR \(1 rows\) e\.g\. .*s1"
    ):
        raise_for_problems(problems_of(tmp_path, tiny_frames))


# --- one test per kind of bad input -------------------------------------------------------


def _as_text(frame: pd.DataFrame, *cols: str) -> pd.DataFrame:
    return frame.astype({c: "str" for c in cols})


def _dup_account(f):
    f["accounts"] = pd.concat([f["accounts"], f["accounts"].iloc[[0]]], ignore_index=True)


def _dup_ticket(f):
    f["support_tickets"].loc[2, "ticket_id"] = "t1"


def _negative_mrr(f):
    f["subscriptions"].loc[0, "mrr"] = -5.0


def _absurd_mrr(f):
    f["subscriptions"].loc[1, "mrr"] = 5e10


def _unknown_account(f):
    f["usage_events"].loc[0, "account_id"] = "acc_ghost"


def _future_event(f):
    f["usage_events"].loc[1, "occurred_at"] = pd.Timestamp("2099-01-01")


def _closed_before_opened(f):
    f["support_tickets"].loc[0, "closed_at"] = pd.Timestamp("2025-01-01")


def _unparseable_date(f):
    f["subscriptions"] = _as_text(f["subscriptions"], "start_at")
    f["subscriptions"].loc[1, "start_at"] = "31/02/2024"


def _not_a_number(f):
    f["subscriptions"] = _as_text(f["subscriptions"], "mrr")
    f["subscriptions"].loc[2, "mrr"] = "lots"


def _infinite_mrr(f):
    f["subscriptions"] = _as_text(f["subscriptions"], "mrr")
    f["subscriptions"].loc[2, "mrr"] = "inf"


def _nan_satisfaction(f):
    f["support_tickets"] = _as_text(f["support_tickets"], "satisfaction")
    f["support_tickets"].loc[0, "satisfaction"] = "NaN"


def _mixed_time_zones(f):
    f["accounts"] = _as_text(f["accounts"], "created_at")
    f["accounts"]["created_at"] = [
        "2024-01-01 10:00:00+00:00",
        "2024-06-01 10:00:00+09:00",
        "2024-09-01 10:00:00",
    ]


def _empty_subscriptions(f):
    f["subscriptions"] = f["subscriptions"].iloc[0:0]


BAD_INPUTS = {
    # id: (how the tiny frames are broken, (table, column, check starts with), example key)
    "duplicate account key": (_dup_account, ("accounts", "account_id", "duplicate key"), "acc_a"),
    "duplicate ticket key": (_dup_ticket, ("support_tickets", "ticket_id", "duplicate key"), "t1"),
    "negative MRR": (_negative_mrr, ("subscriptions", "mrr", "negative MRR"), "s1"),
    "absurd MRR": (_absurd_mrr, ("subscriptions", "mrr", "absurd MRR"), "s2"),
    "events for unknown accounts": (
        _unknown_account,
        ("usage_events", "account_id", "rows for unknown accounts"),
        "acc_ghost",
    ),
    "events in the future": (
        _future_event,
        ("usage_events", "occurred_at", "timestamp in the future"),
        "2099-01-01",
    ),
    "ticket closed before opened": (
        _closed_before_opened,
        ("support_tickets", "closed_at", "ticket closed before it was opened"),
        "t1",
    ),
    "unparseable date": (_unparseable_date, ("subscriptions", "start_at", "unparseable"), "s2"),
    "number that does not parse": (
        _not_a_number,
        ("subscriptions", "mrr", "not a valid float64"),
        "lots",
    ),
    "infinite MRR": (_infinite_mrr, ("subscriptions", "mrr", "NaN or infinite"), "s3"),
    "NaN satisfaction": (
        _nan_satisfaction,
        ("support_tickets", "satisfaction", "NaN or infinite"),
        "t1",
    ),
    "mixed time zones": (
        _mixed_time_zones,
        ("accounts", "created_at", "mixed time zones"),
        "2024-09-01 10:00:00",
    ),
    "empty table": (_empty_subscriptions, ("subscriptions", "*", "table is empty"), None),
}


@pytest.mark.parametrize("kind", list(BAD_INPUTS))
def test_each_bad_input_is_named(tmp_path, tiny_frames, kind):
    break_frames, (table, column, check), example = BAD_INPUTS[kind]
    break_frames(tiny_frames)
    (tmp_path / "bad").mkdir()
    found = [
        p
        for p in problems_of(tmp_path / "bad", tiny_frames)
        if (p.table, p.column) == (table, column) and p.check.startswith(check)
    ]
    assert found, f"no {check!r} problem on {table}.{column}"
    if example is not None:
        assert example in str(found[0].examples), found[0]


def test_wrong_type_in_a_typed_source(tmp_path, tiny_frames):
    """A Parquet column holding booleans where the contract expects a timestamp."""
    tiny_frames["accounts"]["created_at"] = [True, False, True]
    found = {
        (p.table, p.column): p for p in problems_of(tmp_path, tiny_frames, parquet=("accounts",))
    }
    p = found[("accounts", "created_at")]
    assert p.check.startswith("wrong type: boolean") and p.failing_rows == 3
    assert p.examples[0]["account_id"] == "acc_a"


def test_offsets_are_converted_to_utc(tmp_path, tiny_frames):
    """With mixed zones allowed, +09:00 is nine hours earlier in UTC and naive values are UTC."""
    _mixed_time_zones(tiny_frames)
    mapped = write_sources(tmp_path, tiny_frames, extra={"validation": {"mixed_timezones": "utc"}})
    settings = ValidationConfig(mixed_timezones="utc")
    assert validate_sources(mapped, None, settings) == []
    created = mapped["accounts"].table.order_by("account_id").to_pandas().created_at.tolist()
    assert created == [
        pd.Timestamp("2024-01-01 10:00"),
        pd.Timestamp("2024-06-01 01:00"),
        pd.Timestamp("2024-09-01 10:00"),
    ]


def test_one_offset_per_column_is_not_a_problem(tmp_path, tiny_frames):
    tiny_frames["accounts"] = _as_text(tiny_frames["accounts"], "created_at")
    tiny_frames["accounts"]["created_at"] = [
        "2024-01-01T10:00:00Z",
        "2024-06-01 10:00:00+09:00",
        "2024-09-01 10:00:00-05:00",
    ]
    assert problems_of(tmp_path, tiny_frames) == []


def test_latin1_csv_is_refused_with_file_line_column_and_offset(tmp_path, tiny_frames):
    tiny_frames["accounts"].loc[1, "name"] = "Café Beta"
    tiny_frames["accounts"].loc[2, "name"] = "Gamma KK"  # latin-1 cannot hold the Japanese name
    write_sources(tmp_path, tiny_frames)  # writes UTF-8 files; now re-encode one as latin-1
    path = tmp_path / "accounts.csv"
    text = path.read_text(encoding="utf-8")
    path.write_bytes(text.encode("latin-1"))
    offset = text.encode("latin-1").index(b"Caf") + 3
    with pytest.raises(SourceError) as err:
        write_sources_existing(tmp_path)
    message = str(err.value)
    assert "table accounts, column name" in message
    assert str(path) in message and f"offset {offset}" in message and "line 3" in message
    assert "Caf" in message and "encoding: latin-1" in message


def test_latin1_csv_reads_when_declared(tmp_path, tiny_frames):
    tiny_frames["accounts"].loc[1, "name"] = "Café Beta"
    tiny_frames["accounts"].loc[2, "name"] = "Gamma KK"  # latin-1 cannot hold the Japanese name
    write_sources(tmp_path, tiny_frames)
    path = tmp_path / "accounts.csv"
    path.write_bytes(path.read_text(encoding="utf-8").encode("latin-1"))
    raw = yaml.safe_load((tmp_path / "churnml.yaml").read_text())
    raw["sources"]["accounts"]["source"]["encoding"] = "latin-1"
    (tmp_path / "churnml.yaml").write_text(yaml.safe_dump(raw))
    mapped = write_sources_existing(tmp_path)
    names = mapped["accounts"].table.to_pandas().name.tolist()
    assert "Café Beta" in names


def write_sources_existing(tmp_path: Path):
    cfg = load_config(tmp_path / "churnml.yaml")
    return load_sources(connect_warehouse(cfg), cfg)


def test_unknown_categories_stop_scoring_by_default():
    features = pd.DataFrame(
        {
            "account_id": ["acc_a", "acc_b", "acc_c"],
            "attr_region": ["EMEA", "Mars", "Mars"],
        }
    )
    with pytest.raises(UnknownCategoriesError) as err:
        screen_unknown_categories({"attr_region": ["Mars"]}, features)
    message = str(err.value)
    assert "features.attr_region" in message and "'Mars'" in message
    assert "acc_b" in message and "(2 rows)" in message


def test_unknown_categories_can_be_scored_as_missing_and_reported():
    features = pd.DataFrame({"account_id": ["acc_a", "acc_b"], "attr_region": ["EMEA", "Mars"]})
    problems = screen_unknown_categories(
        {"attr_region": ["Mars"]}, features, policy="score_as_missing"
    )
    assert [(p.column, p.failing_rows, p.examples[0]["account_id"]) for p in problems] == [
        ("attr_region", 1, "acc_b")
    ]
