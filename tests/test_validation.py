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
    subs.loc[1, "start_at"] = "2024-02-31"
    subs.loc[2, "mrr"] = "lots"
    tiny_frames["subscriptions"] = subs
    found = {(p.table, p.column, p.check): p for p in problems_of(tmp_path, tiny_frames)}
    p = found[
        (
            "subscriptions",
            "start_at",
            "unparseable date (export dates as YYYY-MM-DD or YYYY-MM-DD HH:MM:SS)",
        )
    ]
    assert p.failing_rows == 1 and p.examples[0]["subscription_id"] == "s2"
    assert (
        found[
            ("subscriptions", "mrr", "not a valid float64 (export plain numbers such as 1234.5)")
        ].examples[0]["mrr"]
        == "lots"
    )


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
    assert (
        "usage_events",
        "account_id",
        "rows for unknown accounts (not in sources.accounts: export accounts and this table at the same time, or leave these rows out of the export)",
    ) in checks
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
    assert (
        "churn_events",
        "account_id",
        "rows for unknown accounts (not in sources.accounts: export accounts and this table at the same time, or leave these rows out of the export)",
    ) in checks
    assert ("churn_events", "churned_at", "timestamp in the future") in checks
    assert (
        "expansion_events",
        "amount",
        "not a valid float64 (export plain numbers such as 1234.5)",
    ) in checks


def test_without_subscriptions_every_account_needs_a_creation_date(tmp_path, tiny_frames):
    del tiny_frames["subscriptions"]
    accounts = tiny_frames["accounts"].assign(
        status=["churned", "active", "active"], churned_at=["2025-04-15", None, None]
    )
    accounts.loc[1, "created_at"] = None
    tiny_frames["accounts"] = accounts
    extra = {"labels": {"churn_source": "account_status"}}
    problems = problems_of(tmp_path, tiny_frames, extra=extra)
    assert [(p.table, p.column, p.severity) for p in problems] == [
        ("accounts", "created_at", "error")
    ]
    assert "required when sources.subscriptions is not configured" in problems[0].check
    assert problems[0].failing_rows == 1
    assert problems[0].examples == [{"account_id": "acc_b", "created_at": None}]
    tiny_frames["accounts"] = accounts.drop(columns="created_at")  # not in the source at all
    (tmp_path / "unmapped").mkdir()
    problems = problems_of(tmp_path / "unmapped", tiny_frames, extra=extra)
    assert [(p.column, p.failing_rows) for p in problems] == [("created_at", 3)]
    with pytest.raises(DataValidationError, match=r"accounts\.created_at: no creation date"):
        raise_for_problems(problems)


def test_accounts_mrr_is_checked_like_subscription_mrr(tmp_path, tiny_frames):
    tiny_frames["accounts"] = tiny_frames["accounts"].assign(mrr=[100.0, -5.0, None])
    checks = {(p.table, p.column, p.check) for p in problems_of(tmp_path, tiny_frames)}
    assert checks == {("accounts", "mrr", "negative MRR")}


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
        (
            "usage_events",
            "account_id",
            "rows for unknown accounts (not in sources.accounts: export accounts and this table at the same time, or leave these rows out of the export)",
        ),
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


# --- warnings beside errors; checks an analyst would run ----------------------------------------


def _found(problems, table, column, check):
    return [
        p for p in problems if (p.table, p.column) == (table, column) and p.check.startswith(check)
    ]


@pytest.mark.parametrize(
    "table,column,row",
    [
        ("usage_events", "occurred_at", 0),
        ("accounts", "created_at", 2),
        ("subscriptions", "end_at", 3),
        ("support_tickets", "first_response_at", 0),
    ],
)
def test_epoch_zero_timestamps_are_errors_on_every_timestamp_column(
    tmp_path, tiny_frames, table, column, row
):
    tiny_frames[table].loc[row, column] = pd.Timestamp("1970-01-01")
    problems = problems_of(tmp_path, tiny_frames)
    found = _found(problems, table, column, "timestamp before validation.earliest_date")
    assert len(found) == 1 and found[0].failing_rows == 1, problems
    assert found[0].severity == "error" and "1970-01-01" in str(found[0].examples)
    assert "(1990-01-01;" in found[0].check
    with pytest.raises(DataValidationError, match=rf"{table}\.{column}: timestamp before"):
        raise_for_problems(problems)


def test_the_earliest_date_is_configurable(tmp_path, tiny_frames):
    tiny_frames["usage_events"].loc[0, "occurred_at"] = pd.Timestamp("1995-06-01")
    problems = problems_of(tmp_path, tiny_frames)
    assert not _found(problems, "usage_events", "occurred_at", "timestamp"), problems
    settings = ValidationConfig(earliest_date="2000-01-01")
    (tmp_path / "b").mkdir()
    problems = problems_of(tmp_path / "b", tiny_frames, settings=settings)
    found = _found(problems, "usage_events", "occurred_at", "timestamp before")
    assert "(2000-01-01;" in found[0].check and found[0].failing_rows == 1


def _early_activity(f):
    """acc_c (created and first subscribed 2024-09-01) used the product and raised a ticket in
    August; acc_b (created 2024-06-01) answered a survey in May."""
    usage = f["usage_events"]
    usage.loc[len(usage)] = ["acc_c", pd.Timestamp("2024-08-20"), "login", "u9", 1.0]
    tickets = f["support_tickets"]
    tickets.loc[len(tickets)] = [
        "t4",
        "acc_c",
        pd.Timestamp("2024-08-25"),
        pd.Timestamp("2024-08-26"),
        "closed",
        "how_to",
        "low",
        pd.NaT,
        None,
        False,
    ]
    nps = f["nps_responses"]
    nps.loc[len(nps)] = ["acc_b", pd.Timestamp("2024-05-01"), 7]


def test_activity_before_the_first_subscription_or_creation_is_a_warning(tmp_path, tiny_frames):
    _early_activity(tiny_frames)
    problems = problems_of(tmp_path, tiny_frames)
    for table, column, example in [
        ("usage_events", "occurred_at", "acc_c"),
        ("support_tickets", "opened_at", "t4"),
        ("nps_responses", "responded_at", "acc_b"),
    ]:
        for what in (
            "dated before the account's first subscription",
            "dated before the account was created",
        ):
            found = _found(problems, table, column, what)
            assert len(found) == 1, (table, what, problems)
            p = found[0]
            assert p.severity == "warning" and p.failing_rows == 1
            assert example in str(p.examples)
    usage = _found(problems, "usage_events", "occurred_at", "dated before the account's first")
    assert "(11% of rows;" in usage[0].check  # 1 of 9 rows
    assert usage[0].examples[0]["first_subscription_at"] == "2024-09-01 00:00:00"
    assert all(p.severity == "warning" for p in problems)
    raise_for_problems(problems)  # warnings alone do not stop a run


def test_same_plan_overlap_is_an_error_with_examples(tmp_path, tiny_frames):
    subs = tiny_frames["subscriptions"]
    duplicate = subs.iloc[[0]].assign(subscription_id="s1_copy")
    tiny_frames["subscriptions"] = pd.concat([subs, duplicate], ignore_index=True)
    problems = problems_of(tmp_path, tiny_frames)
    found = _found(problems, "subscriptions", "start_at", "overlaps another row")
    assert len(found) == 1 and found[0].failing_rows == 1, problems
    assert found[0].severity == "error"
    assert found[0].examples[0]["subscription_id"] == "s1_copy"
    assert found[0].examples[0]["overlaps_a_row_until"] == "2025-04-15 00:00:00"
    with pytest.raises(DataValidationError, match=r"subscriptions\.start_at: overlaps .*s1_copy"):
        raise_for_problems(problems)


def test_same_plan_overlap_with_an_ongoing_row(tmp_path, tiny_frames):
    """acc_b's business row runs from 2025-03-10 with no end; a second one opens in June."""
    subs = tiny_frames["subscriptions"]
    later = subs.iloc[[2]].assign(subscription_id="s6", start_at=pd.Timestamp("2025-06-01"))
    tiny_frames["subscriptions"] = pd.concat([subs, later], ignore_index=True)
    found = _found(problems_of(tmp_path, tiny_frames), "subscriptions", "start_at", "overlaps")
    assert [(p.failing_rows, p.examples[0]["overlaps_a_row_until"]) for p in found] == [
        (1, "ongoing")
    ]


def test_touching_rows_and_other_plans_do_not_overlap(tmp_path, tiny_frames):
    """Half-open intervals: acc_b's s2 ends 2025-03-10 when s3 starts (same plan); an add-on on
    another plan running beside acc_a's growth row is a parallel subscription, summed."""
    subs = tiny_frames["subscriptions"]
    assert subs.loc[1, "end_at"] == subs.loc[2, "start_at"] and subs.loc[1, "plan"] == "business"
    addon = subs.iloc[[0]].assign(subscription_id="s1_addon", plan="extra_storage", mrr=50.0)
    tiny_frames["subscriptions"] = pd.concat([subs, addon], ignore_index=True)
    assert problems_of(tmp_path, tiny_frames) == []


def test_same_plan_overlap_can_be_summed_with_a_warning(tmp_path, tiny_frames):
    subs = tiny_frames["subscriptions"]
    duplicate = subs.iloc[[0]].assign(subscription_id="s1_copy")
    tiny_frames["subscriptions"] = pd.concat([subs, duplicate], ignore_index=True)
    settings = ValidationConfig(same_plan_overlap="sum")
    problems = problems_of(tmp_path, tiny_frames, settings=settings)
    assert [(p.check.split(" (")[0], p.severity) for p in problems] == [
        ("overlaps another row of the same account on the same plan", "warning")
    ]
    raise_for_problems(problems)


def test_plans_outside_plan_order_are_a_warning(tmp_path, tiny_frames):
    mapped = write_sources(tmp_path, tiny_frames)
    assert validate_sources(mapped, None, None, ["starter", "growth", "business"]) == []
    problems = validate_sources(mapped, None, None, ["growth", "business", "enterprise"])
    assert [(p.table, p.column, p.severity, p.failing_rows) for p in problems] == [
        ("subscriptions", "plan", "warning", 2)
    ]
    assert "'starter'" in problems[0].check and problems[0].examples[0]["plan"] == "starter"


def test_check_data_prints_warnings_and_exits_0(tmp_path, tiny_frames):
    from typer.testing import CliRunner

    from churnml.cli import app

    _early_activity(tiny_frames)
    write_sources(tmp_path, tiny_frames)
    result = CliRunner().invoke(app, ["check-data", "-c", str(tmp_path / "churnml.yaml")])
    assert result.exit_code == 0, result.output
    assert "6 data warnings (runs go on):" in result.output
    assert "usage_events.occurred_at: dated before the account's first subscription" in (
        result.output
    )
    assert "all checks passed (with warnings)" in result.output

    tiny_frames["usage_events"].loc[0, "occurred_at"] = pd.Timestamp("1970-01-01")
    (tmp_path / "b").mkdir()
    write_sources(tmp_path / "b", tiny_frames)
    result = CliRunner().invoke(app, ["check-data", "-c", str(tmp_path / "b" / "churnml.yaml")])
    assert result.exit_code == 1
    assert "usage_events.occurred_at: timestamp before validation.earliest_date" in result.output


# --- scoring edge cases: a plan the champion cannot rank, nobody active -------------------------


def test_a_new_plan_is_an_unseen_category_at_scoring():
    from churnml.validation import blank_unknown_plans, unknown_plans

    features = pd.DataFrame(
        {
            "account_id": ["acc_a", "acc_b", "acc_c"],
            "contract_plan": ["growth", "platinum", "platinum"],
            "contract_plan_rank": [2, 0, 0],
        }
    )
    order = ("starter", "growth", "business")
    unseen = unknown_plans(features, order)
    assert unseen == {"contract_plan": ["platinum"]}
    assert unknown_plans(features, ()) == {}  # no order: the plan does not reach the model
    with pytest.raises(UnknownCategoriesError, match=r"features\.contract_plan: .*'platinum'"):
        screen_unknown_categories(unseen, features)
    problems = screen_unknown_categories(unseen, features, "score_as_missing")
    assert [(p.column, p.failing_rows) for p in problems] == [("contract_plan", 2)]
    blanked = blank_unknown_plans(features, unseen["contract_plan"])
    assert blanked["contract_plan_rank"].tolist()[0] == 2
    assert blanked["contract_plan_rank"].iloc[1:].isna().all()
    assert features["contract_plan_rank"].tolist() == [2, 0, 0]  # the input is left alone


def test_an_add_on_beside_a_ranked_plan_is_not_a_new_plan():
    from churnml.validation import unknown_plans

    features = pd.DataFrame(
        {"account_id": ["acc_a"], "contract_plan": ["zz_addon"], "contract_plan_rank": [3]}
    )
    assert unknown_plans(features, ("starter", "growth", "business")) == {}


@pytest.mark.parametrize(
    "as_of,ends,expected",
    [
        ("2023-06-01", None, "the first subscription starts 2024-01-01"),
        ("2026-01-01", "2025-06-30", "every subscription has ended, the last on 2025-06-30"),
    ],
)
def test_no_active_account_at_the_as_of_is_refused_in_one_line(tiny_frames, as_of, ends, expected):
    from datetime import date

    from churnml.validation import NoActiveAccountsError, refuse_empty_scoring
    from factories import tables

    if ends:
        subs = tiny_frames["subscriptions"]
        subs["end_at"] = subs["end_at"].fillna(pd.Timestamp(ends))
    with pytest.raises(NoActiveAccountsError) as err:
        refuse_empty_scoring(date.fromisoformat(as_of), tables(tiny_frames)["subscriptions"])
    message = str(err.value)
    assert "\n" not in message and f"no active account at the scoring as-of {as_of}" in message
    assert expected in message and "Nothing was scored or written" in message
    assert isinstance(err.value, DataValidationError)  # the CLI answers it in one line, exit 1


@pytest.mark.parametrize(
    "as_of,expected",
    [
        ("2023-06-01", "the first account is created 2024-01-01"),
        ("2026-01-01", "every account created by then has churned"),
    ],
)
def test_no_active_account_without_subscriptions_is_refused_in_one_line(
    tiny_frames, as_of, expected
):
    from datetime import date

    from churnml.validation import NoActiveAccountsError, refuse_empty_scoring
    from factories import tables

    with pytest.raises(NoActiveAccountsError) as err:
        refuse_empty_scoring(date.fromisoformat(as_of), None, tables(tiny_frames)["accounts"])
    message = str(err.value)
    assert "\n" not in message and f"no active account at the scoring as-of {as_of}" in message
    assert expected in message and "Nothing was scored or written" in message


def test_score_answers_no_active_account_in_one_line(monkeypatch):
    import flows.scoring
    from typer.testing import CliRunner

    from churnml.cli import app
    from churnml.validation import NoActiveAccountsError

    def nobody(**kwargs):
        raise NoActiveAccountsError("no active account at the scoring as-of 2030-01-01: ...")

    monkeypatch.setattr(flows.scoring, "scoring_flow", nobody)
    monkeypatch.setattr("churnml.cli._require_a_champion", lambda cfg: None)  # no store here
    monkeypatch.setattr("churnml.cli._refuse_an_as_of_outside_the_data", lambda cfg, as_of: None)
    monkeypatch.setattr("churnml.io.preflight.refuse_bad_data", lambda cfg, labels=False: None)
    result = CliRunner().invoke(app, ["score", "--as-of", "2030-01-01"])
    assert result.exit_code == 1
    assert result.output.strip() == (
        "as-of error: no active account at the scoring as-of 2030-01-01: ..."
    )
