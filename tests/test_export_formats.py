"""Files as billing platforms, analytics streams and European CRMs write them: JSON lines,
day-first dates, decimal commas, money in cents per seat and billing interval, one row per
month without an end. Each is declared in the config and read by the mapping alone."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from churnml.config import ConfigError, load_config
from churnml.io.preflight import preflight_sources
from churnml.io.sources import SourceError, connect_warehouse, load_sources
from churnml.validation import validate_sources


def load(tmp_path: Path, frames: dict[str, pd.DataFrame], mappings: dict[str, dict]):
    """Every tiny table as CSV unless ``mappings`` gives its mapping (its file written by the
    test); the mapped tables and the data problems found in them."""
    sources = {}
    for name, frame in frames.items():
        if name in mappings:
            sources[name] = mappings[name]
            continue
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
        sources[name] = {"source": {"kind": "file", "path": f"{name}.csv"}}
    raw = {"sources": sources, "warehouse": {"path": "wh.duckdb"}}
    (tmp_path / "churnml.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    cfg = load_config(tmp_path / "churnml.yaml")
    preflight_sources(cfg)
    mapped = load_sources(connect_warehouse(cfg), cfg)
    return mapped, validate_sources(mapped)


def table(mapped, name: str, key: str) -> pd.DataFrame:
    return mapped[name].table.to_pandas().set_index(key).sort_index()


def test_day_first_dates_and_decimal_commas_are_read_as_declared(tmp_path, tiny_frames):
    subs = tiny_frames["subscriptions"].copy()
    text = subs.assign(
        start_at=subs.start_at.dt.strftime("%d/%m/%Y"),
        end_at=subs.end_at.dt.strftime("%d/%m/%Y").fillna(""),
        mrr=["500,00", "1.000,00", "1 500,5", "100", "-3,25"],
    )
    text.to_csv(tmp_path / "contracts.csv", sep=";", index=False)
    source = {"kind": "file", "path": "contracts.csv", "date_format": "%d/%m/%Y", "decimal": ","}
    mapped, problems = load(tmp_path, tiny_frames, {"subscriptions": {"source": source}})
    got = table(mapped, "subscriptions", "subscription_id")
    want = subs.set_index("subscription_id")
    assert got.start_at.equals(want.start_at.astype(got.start_at.dtype))
    assert got.end_at.equals(want.end_at.astype(got.end_at.dtype))
    assert got.mrr.tolist() == [500.0, 1000.0, 1500.5, 100.0, -3.25]
    assert got.seats.tolist() == [10, 20, 30, 3, 3]  # plain numbers stay as they were
    assert [(p.column, p.check) for p in problems] == [("mrr", "negative MRR")]


def test_a_value_not_in_the_declared_format_is_reported_with_its_own_text(tmp_path, tiny_frames):
    subs = tiny_frames["subscriptions"].copy()
    text = subs.assign(start_at=subs.start_at.dt.strftime("%d/%m/%Y"))
    text.loc[1, "start_at"] = "2024-06-01"  # ISO still reads
    text.loc[2, "start_at"] = "31/02/2025"  # no such day
    text.to_csv(tmp_path / "contracts.csv", index=False)
    source = {"kind": "file", "path": "contracts.csv", "date_format": "%d/%m/%Y"}
    _, problems = load(tmp_path, tiny_frames, {"subscriptions": {"source": source}})
    (problem,) = problems
    assert (problem.table, problem.column, problem.failing_rows) == ("subscriptions", "start_at", 1)
    assert problem.check.startswith("unparseable date")
    assert problem.examples[0]["start_at"] == "31/02/2025"


def test_json_lines_are_read_as_text_so_offsets_are_honoured(tmp_path, tiny_frames):
    usage = tiny_frames["usage_events"]
    stamps = [
        t.tz_localize("UTC").tz_convert("Europe/Paris").isoformat() for t in usage.occurred_at
    ]
    stamps[0] = usage.occurred_at[0].strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = [
        json.dumps(
            {"groupId": a, "timestamp": s, "event": e, "properties": {"n": k}, "userId": None}
        )
        for k, (a, s, e) in enumerate(zip(usage.account_id, stamps, usage.event_type, strict=True))
    ]
    (tmp_path / "tracks.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    mapping = {
        "source": {"kind": "file", "path": "tracks.jsonl"},
        "columns": {"account_id": "groupId", "occurred_at": "timestamp", "event_type": "event"},
    }
    mapped, problems = load(tmp_path, tiny_frames, {"usage_events": mapping})
    assert problems == []
    got = mapped["usage_events"].table.to_pandas()
    assert sorted(got.occurred_at) == sorted(usage.occurred_at)

    lines[1] = lines[1].replace("+01:00", "")  # one naive value: the text rules still apply
    (tmp_path / "tracks.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    _, problems = load(tmp_path, tiny_frames, {"usage_events": mapping})
    assert [p.check.split(":")[0] for p in problems] == ["mixed time zones"]


def test_json_read_as_csv_and_broken_json_are_refused_in_one_line(tmp_path, tiny_frames):
    (tmp_path / "tracks.txt").write_text('{"groupId": "acc_a"}\n', encoding="utf-8")
    mapping = {"source": {"kind": "file", "path": "tracks.txt"}, "columns": {}}
    with pytest.raises(SourceError, match=r"tracks.txt is JSON, not a CSV file; name it .jsonl"):
        load(tmp_path, tiny_frames, {"usage_events": mapping})
    (tmp_path / "tracks.jsonl").write_text('{"groupId": "acc_a", "ti', encoding="utf-8")
    mapping = {"source": {"kind": "file", "path": "tracks.jsonl"}}
    with pytest.raises(SourceError, match=r"tracks.jsonl is not JSON lines \(one object a line\)"):
        load(tmp_path, tiny_frames, {"usage_events": mapping})


def test_cents_per_seat_and_interval_become_mrr(tmp_path, tiny_frames):
    subs = tiny_frames["subscriptions"].copy()
    subs["unit_amount"] = ["5000", "60000", "60000", "3333", "soon"]
    subs["interval"] = ["month", "year", "12", "fortnight", "month"]
    mapping = {
        "source": {"kind": "file", "path": "subs.csv"},
        "columns": {"billing_period": "interval"},
        "derive": {
            "mrr": {"from": "unit_amount", "scale": 0.01, "times": "seats", "per": "interval"}
        },
    }
    subs.drop(columns=["mrr", "billing_period"]).to_csv(tmp_path / "subs.csv", index=False)
    mapped, problems = load(tmp_path, tiny_frames, {"subscriptions": mapping})
    mrr = table(mapped, "subscriptions", "subscription_id").mrr
    assert mrr[["s1", "s2", "s3"]].tolist() == [500.0, 1000.0, 1500.0]
    assert mrr[["s4", "s5"]].isna().all()
    checks = {p.check: p for p in problems if p.column == "mrr"}
    wrong = "unit_amount is not a number: unit_amount x 0.01 x seats per interval"
    assert checks[wrong].examples[0]["unit_amount"] == "soon"
    period = "interval is not a billing period (month, year, 12...): " + wrong.split(": ")[1]
    assert checks[period].examples[0]["interval"] == "fortnight"


def test_amounts_in_several_currencies_are_converted_at_the_configured_rates(tmp_path, tiny_frames):
    """Euros and pounds are not added to dollars: each amount takes its currency's rate, a
    code is compared trimmed and in any case, and a code without a rate is a data problem."""
    subs = tiny_frames["subscriptions"].copy()
    subs["amount"] = ["1200", "100", "100", "100", "100"]
    subs["interval"] = ["year", "month", "month", "month", "month"]
    subs["currency"] = ["EUR", " gbp", "USD", "CHF", ""]
    mapping = {
        "source": {"kind": "file", "path": "subs.csv"},
        "derive": {
            "mrr": {
                "from": "amount",
                "scale": 1,
                "per": "interval",
                "currency": "currency",
                "rates": {"USD": 1, "EUR": 1.1, "GBP": 1.25},
            }
        },
    }
    subs.drop(columns=["mrr"]).to_csv(tmp_path / "subs.csv", index=False)
    mapped, problems = load(tmp_path, tiny_frames, {"subscriptions": mapping})
    mrr = table(mapped, "subscriptions", "subscription_id").mrr
    assert mrr[["s1", "s2", "s3"]].round(6).tolist() == [110.0, 125.0, 100.0]
    assert mrr[["s4", "s5"]].isna().all()  # CHF has no rate; an empty code stays empty
    (problem,) = [p for p in problems if "currency" in p.check]
    assert problem.check == (
        "currency is not a currency of rates (EUR, GBP, USD): amount x 1 per interval x the "
        "rate of currency"
    )
    assert problem.failing_rows == 1 and problem.examples[0]["currency"] == "CHF"


def test_a_row_per_month_ends_a_month_or_some_days_later(tmp_path, tiny_frames):
    subs = tiny_frames["subscriptions"].drop(columns="end_at")
    subs["month"] = subs.pop("start_at").dt.strftime("%Y-%m-%d")
    subs.loc[4, "month"] = "someday"
    subs.to_csv(tmp_path / "mrr_history.csv", index=False)
    mapping = {
        "source": {"kind": "file", "path": "mrr_history.csv"},
        "columns": {"start_at": "month"},
        "derive": {"end_at": {"from": "month", "add_months": 1}},
    }
    mapped, problems = load(tmp_path, tiny_frames, {"subscriptions": mapping})
    ends = table(mapped, "subscriptions", "subscription_id").end_at
    assert ends["s1"] == pd.Timestamp("2024-02-01") and ends["s3"] == pd.Timestamp("2025-04-10")
    assert pd.isna(ends["s5"])
    checks = [p.check for p in problems if p.column == "end_at"]
    assert checks == ["month is not a date: month + 1 months"]

    mapping["derive"] = {"end_at": {"from": "month", "add_days": 7}}
    mapped, _ = load(tmp_path, tiny_frames, {"subscriptions": mapping})
    ends = table(mapped, "subscriptions", "subscription_id").end_at
    assert ends["s1"] == pd.Timestamp("2024-01-08")


@pytest.mark.parametrize(
    ("table_name", "derive", "source", "message"),
    [
        ("subscriptions", {"plan": {"from": "p", "scale": 0.01}}, {}, "plan is not a number"),
        ("subscriptions", {"mrr": {"from": "m", "add_months": 1}}, {}, "mrr is not a timestamp"),
        (
            "subscriptions",
            {"end_at": {"from": "m", "add_months": 1, "add_days": 3}},
            {},
            "exactly one of add_days or add_months",
        ),
        ("subscriptions", {"mrr": {"from": "m", "scale": 0}}, {}, "greater than 0"),
        (
            "subscriptions",
            {"mrr": {"from": "m", "scale": 1, "currency": "c"}},
            {},
            "currency and rates go together",
        ),
        (
            "subscriptions",
            {"mrr": {"from": "m", "scale": 1, "currency": "c", "rates": {"EUR": 0}}},
            {},
            "rates must be greater than 0",
        ),
        (
            "subscriptions",
            {"mrr": {"from": "m", "scale": 1, "currency": "c", "rates": {"EUR": 1, "eur": 1}}},
            {},
            "names a currency twice",
        ),
        ("accounts", {}, {"date_format": "dd/mm/yyyy"}, "has no day, month or year code"),
        ("accounts", {}, {"decimal": ";"}, "Input should be '.' or ','"),
    ],
)
def test_declarations_that_cannot_work_are_refused_at_load(
    tmp_path, table_name, derive, source, message
):
    raw = {
        "sources": {
            "accounts": {"source": {"kind": "file", "path": "a.csv"}},
            "subscriptions": {"source": {"kind": "file", "path": "s.csv"}},
        }
    }
    raw["sources"][table_name]["source"].update(source)
    raw["sources"][table_name]["derive"] = derive
    (tmp_path / "churnml.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path / "churnml.yaml")


def test_the_profile_says_when_no_date_was_read(tmp_path, tiny_frames):
    from churnml.io.profile import profile_sources

    subs = tiny_frames["subscriptions"].copy()
    subs["start_at"] = subs.start_at.dt.strftime("%d/%m/%Y")
    subs.to_csv(tmp_path / "contracts.csv", index=False)
    mapping = {"source": {"kind": "file", "path": "contracts.csv"}}
    mapped, problems = load(tmp_path, tiny_frames, {"subscriptions": mapping})
    profile = profile_sources(mapped)
    assert "subscriptions: 5 rows, no start_at read as a date" in profile
    assert "NaT" not in profile
    assert "date_format: '%d/%m/%Y'" in problems[0].check


def test_onboarding_milestones_no_event_is_written_as_are_a_warning(tiny_frames):
    import ibis

    from churnml.validation import check_onboarding_events

    usage = ibis.memtable(tiny_frames["usage_events"])  # login, report_created, export
    assert check_onboarding_events(usage, ["Report Created", "login"]) == []
    assert check_onboarding_events(usage, []) == []
    (problem,) = check_onboarding_events(usage, ["report_created", "user_invited"])
    assert problem.severity == "warning"
    assert str(problem) == (
        "usage_events.event_type: features.onboarding_events ['user_invited'] never occur as an "
        "event type (types seen: 'export', 'login', 'report_created'); no account can reach "
        "them, so onboarding completion reads 0%: list your own onboarding milestones, or set "
        "features.onboarding_events: [] (8 rows)"
    )


def test_keys_cut_short_are_named_as_such():
    import ibis

    from churnml.validation import check_orphans

    accounts = ibis.memtable({"account_id": ["0015g00000almHNl3U", "0015g00000tDekM4LZ"]})
    usage = ibis.memtable({"account_id": ["0015g00000almHN", "0015g00000tDekM4LZ", "0015"]})
    (problem,) = check_orphans("usage_events", usage, accounts)
    assert problem.failing_rows == 2
    assert problem.check == (
        "rows for unknown accounts (keys cut short: '0015g00000almHN' here is the beginning of "
        "'0015g00000almHNl3U' in accounts (15 of 18 characters); export the whole key in every "
        "table)"
    )
    usage = ibis.memtable({"account_id": ["0015"]})  # too short to say
    (problem,) = check_orphans("usage_events", usage, accounts)
    assert problem.check.startswith("rows for unknown accounts (not in sources.accounts")


def test_events_of_no_account_say_how_to_leave_them_out(tmp_path, tiny_frames):
    lines = [
        {"groupId": "acc_a", "timestamp": "2025-01-10T10:00:00Z", "event": "login"},
        {"groupId": None, "timestamp": "2025-01-11T10:00:00+02:00", "event": "Signed Up"},
    ]
    text = "\n".join(json.dumps(line) for line in lines)
    (tmp_path / "tracks.jsonl").write_text(text, encoding="utf-8")
    mapping = {
        "source": {"kind": "file", "path": "tracks.jsonl"},
        "columns": {"account_id": "groupId", "occurred_at": "timestamp", "event_type": "event"},
    }
    _, problems = load(tmp_path, tiny_frames, {"usage_events": mapping})
    (problem,) = [p for p in problems if p.severity == "error"]
    assert "anonymous events before a sign-up" in problem.check
    assert "WHERE <account column> IS NOT NULL" in problem.check
    assert problem.examples == [{"account_id": None, "occurred_at": "2025-01-11T10:00:00+02:00"}]
