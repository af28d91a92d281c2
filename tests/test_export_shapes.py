"""Values as real exports write them: event types and ticket categories in mixed case or with
spaces, names the families use for their own features, priorities in another vocabulary."""

from __future__ import annotations

from datetime import date

import ibis
import pandas as pd
import pytest

from churnml.config import default_config
from churnml.features import FeatureSpec, build_features, derive_spec
from churnml.snapshots import active_accounts, as_of_table

AS_OF = date(2025, 2, 1)


def features_at(frames: dict[str, pd.DataFrame], onboarding=()) -> tuple[FeatureSpec, pd.DataFrame]:
    tables = {k: ibis.memtable(v) for k, v in frames.items()}
    cfg = default_config()
    cfg = cfg.model_copy(
        update={"features": cfg.features.model_copy(update={"onboarding_events": list(onboarding)})}
    )
    spec = derive_spec(tables, cfg)
    spine = active_accounts(tables["subscriptions"], as_of_table([AS_OF]))
    frame = build_features(tables, spine, spec).to_pandas().set_index("account_id")
    return spec, frame.sort_index()


def test_event_types_spelt_differently_are_one_feature(tiny_frames):
    usage = tiny_frames["usage_events"].copy()
    usage["event_type"] = [
        "Login",
        "login",
        "Report Created",
        "LOGIN",
        "login",
        "export",
        "login ",
        "Login",
    ]
    tiny_frames["usage_events"] = usage
    spec, f = features_at(tiny_frames)
    assert spec.event_types == ("Login", "Report Created", "export")  # the first of a tie shows
    assert sorted(spec.spellings("event_type")[0]) == ["LOGIN", "Login", "login", "login "]
    a = f.loc["acc_a"]
    assert a["usage_login_90d"] == 2  # "Login" and "login" before the as-of; "LOGIN" is at it
    assert a["usage_login_lifetime"] == 2
    assert a["usage_report_created_7d"] == 1
    assert f.loc["acc_b", "usage_login_30d"] == 2  # "login" and "login " (a trailing space)
    assert f.columns.is_unique


def test_spellings_survive_the_stored_spec(tiny_frames):
    tiny_frames["usage_events"]["event_type"] = ["Login", "login"] * 4
    spec, _ = features_at(tiny_frames)
    assert FeatureSpec.from_dict(spec.to_dict()) == spec
    assert sorted(spec.spellings("event_type")[0]) == ["Login", "login"]
    old = {k: v for k, v in spec.to_dict().items() if not k.endswith("_spellings")}
    assert FeatureSpec.from_dict(old).spellings("event_type") == [(spec.event_types[0],)]


def test_a_type_named_like_a_family_feature_keeps_both(tiny_frames):
    tiny_frames["usage_events"]["event_type"] = ["Events"] * 2 + ["active users"] * 6
    tiny_frames["support_tickets"]["category"] = ["High Priority", "bug", "Bug"]
    _, f = features_at(tiny_frames)
    a = f.loc["acc_a"]
    assert a["usage_events_90d"] == 3  # all events, as always
    assert a["usage_events_type_90d"] == 2  # the type called "Events"
    assert a["usage_active_users_type_90d"] == 1
    assert a["support_high_priority_category_tickets_90d"] == 1
    assert a["support_bug_tickets_90d"] == 1
    assert f.loc["acc_b", "support_bug_tickets_90d"] == 1
    assert f.columns.is_unique


def test_onboarding_events_match_their_spellings_once(tiny_frames):
    usage = tiny_frames["usage_events"].copy()
    usage["event_type"] = [
        "Invite User",
        "invite_user",
        "Report Created",
        "login",
        "login",
        "export",
        "login",
        "login",
    ]
    tiny_frames["usage_events"] = usage
    _, f = features_at(tiny_frames, onboarding=["invite_user", "report_created"])
    assert f.loc["acc_a", "usage_onboarding_milestones"] == 2  # not 3: two spellings, one event
    assert f.loc["acc_b", "usage_onboarding_milestones"] == 0


@pytest.mark.parametrize(
    ("priorities", "flagged"),
    [
        (["P1", "P2", "P4"], ["'P1'", "'P2'", "'P4'"]),
        (["Critical", "high", "Low"], ["'Critical'"]),
        (["high", " URGENT", "medium"], []),
    ],
)
def test_priorities_outside_the_vocabulary_are_a_warning(
    tmp_path, tiny_frames, priorities, flagged
):
    from test_validation import problems_of

    tiny_frames["support_tickets"]["priority"] = priorities
    found = [p for p in problems_of(tmp_path, tiny_frames) if p.column == "priority"]
    if not flagged:
        assert found == []
        return
    (problem,) = found
    assert problem.severity == "warning" and problem.failing_rows == len(flagged)
    assert all(value in problem.check for value in flagged)
    assert "derive map" in problem.check
    assert problem.examples[0]["ticket_id"] == "t" + str(priorities.index(flagged[0][1:-1]) + 1)


def _unix(values: pd.Series, per_second: int = 1) -> pd.Series:
    seconds = (values - pd.Timestamp("1970-01-01")) // pd.Timedelta("1s")
    return (seconds * per_second).astype("Int64")


@pytest.mark.parametrize("parquet", [True, False])
def test_unix_time_is_derived_into_timestamps(tmp_path, tiny_frames, parquet):
    import yaml

    from churnml.config import load_config
    from churnml.io.sources import connect_warehouse, load_sources
    from churnml.validation import validate_sources

    expected = tiny_frames["subscriptions"][["subscription_id", "start_at", "end_at"]].copy()
    subs = tiny_frames["subscriptions"]
    subs["begins"] = _unix(subs.pop("start_at"))
    subs["ends"] = _unix(subs.pop("end_at"), 1000)
    if not parquet:  # as text, with one value a person typed
        subs["begins"] = subs["begins"].astype("string")
        subs.loc[1, "begins"] = "soon"
    sources = {}
    for name, frame in tiny_frames.items():
        path = tmp_path / f"{name}.{'parquet' if parquet else 'csv'}"
        frame.to_parquet(path, index=False) if parquet else frame.to_csv(path, index=False)
        sources[name] = {"source": {"kind": "file", "path": path.name}}
    sources["subscriptions"]["derive"] = {
        "start_at": {"from": "begins", "unit": "epoch_seconds"},
        "end_at": {"from": "ends", "unit": "epoch_milliseconds"},
    }
    (tmp_path / "churnml.yaml").write_text(
        yaml.safe_dump({"sources": sources, "warehouse": {"path": "wh.duckdb"}})
    )
    cfg = load_config(tmp_path / "churnml.yaml")
    mapped = load_sources(connect_warehouse(cfg), cfg)
    problems = validate_sources(mapped)
    got = mapped["subscriptions"].table.to_pandas().set_index("subscription_id")
    want = expected.set_index("subscription_id")
    assert got.end_at.equals(want.end_at.astype(got.end_at.dtype))
    if parquet:
        assert problems == []
        assert got.start_at.equals(want.start_at.astype(got.start_at.dtype))
        return
    errors = {p.check.split(":")[0]: p for p in problems if p.severity == "error"}
    assert set(errors) == {"required value is missing", "not a number of seconds since 1970"}
    problem = errors["not a number of seconds since 1970"]
    assert (problem.table, problem.column) == ("subscriptions", "start_at")
    assert problem.examples[0]["begins"] == "soon"


@pytest.mark.parametrize(
    ("derive", "message"),
    [
        ({"plan": {"from": "p", "unit": "epoch_seconds"}}, "plan is not a timestamp column"),
        ({"start_at": {"from": "d", "unit": "days"}}, "only billing_period takes one"),
        ({"billing_period": {"from": "d", "unit": "epoch_seconds"}}, "takes days or months"),
    ],
)
def test_a_unit_on_the_wrong_column_is_refused_at_load(tmp_path, derive, message):
    import yaml

    from churnml.config import ConfigError, load_config

    raw = {
        "sources": {
            "accounts": {"source": {"kind": "file", "path": "a.csv"}},
            "subscriptions": {"source": {"kind": "file", "path": "s.csv"}, "derive": derive},
        }
    }
    (tmp_path / "churnml.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path / "churnml.yaml")


def test_a_number_in_a_timestamp_column_says_how_to_derive_it(tmp_path, tiny_frames):
    from test_validation import problems_of

    tiny_frames["usage_events"]["occurred_at"] = _unix(tiny_frames["usage_events"].occurred_at)
    found = problems_of(tmp_path, tiny_frames, parquet=("usage_events",))
    (problem,) = [p for p in found if p.column == "occurred_at"]
    assert "wrong type: int64" in problem.check
    assert "unit: epoch_seconds" in problem.check


@pytest.mark.parametrize(
    ("as_of", "refused"),
    [(date(2026, 11, 20), False), (date(2026, 11, 26), False), (date(2026, 11, 27), True)],
)
def test_an_as_of_long_after_the_data_is_refused(as_of, refused):
    from datetime import datetime

    from churnml.validation import AsOfAfterDataError, refuse_as_of_after_data

    end = datetime(2026, 11, 19, 23, 59)
    if not refused:
        refuse_as_of_after_data(as_of, end, (7, 30, 90))
        return
    with pytest.raises(AsOfAfterDataError) as caught:
        refuse_as_of_after_data(as_of, end, (30, 7, 90))
    assert str(caught.value) == (
        "the scoring as-of 2026-11-27 is 8 days after the data ends (2026-11-19): every account "
        "would look inactive over the last 7 days. Score an as-of up to 2026-11-26 (without "
        "--as-of: the day after the data ends), or refresh the sources. Nothing was scored or "
        "written."
    )


def test_numbers_with_commas_say_why_they_do_not_parse(tmp_path, tiny_frames):
    from test_validation import problems_of

    subs = tiny_frames["subscriptions"].astype({"mrr": "str"})
    subs.loc[0, "mrr"] = "1,500.00"
    subs.loc[1, "mrr"] = "lots"
    tiny_frames["subscriptions"] = subs
    found = {p.check: p for p in problems_of(tmp_path, tiny_frames) if p.column == "mrr"}
    comma = next(p for check, p in found.items() if "thousands separator" in check)
    assert comma.failing_rows == 1 and comma.examples[0]["mrr"] == "1,500.00"
    assert (
        found["not a valid float64 (export plain numbers such as 1234.5)"].examples[0]["mrr"]
        == "lots"
    )


def test_a_problem_without_examples_reads_without_e_g():
    from churnml.validation import DataProblem

    assert str(DataProblem("accounts", "*", "table is empty", 0)) == (
        "accounts.*: table is empty (0 rows)"
    )
    shown = str(DataProblem("accounts", "account_id", "duplicate key", 2, [{"account_id": "a"}]))
    assert shown == "accounts.account_id: duplicate key (2 rows) e.g. {'account_id': 'a'}"
