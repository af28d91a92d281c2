"""Declarative derivations in the mapping, view sources, billing periods and account fallbacks."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import ibis
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from churnml.catalogue import feature_entry, sentence
from churnml.cli import app
from churnml.config import ConfigError, default_config, load_config
from churnml.contract import account_created_at, billing_period_days
from churnml.features import contract_features, derive_spec
from churnml.io.profile import profile_sources
from churnml.io.sources import SourceError, connect_warehouse, load_sources
from churnml.snapshots import active_accounts, as_of_table
from churnml.validation import validate_sources


def write_config(tmp_path: Path, frames: dict[str, pd.DataFrame], sources: dict) -> Path:
    """CSV files for the frames, and a config whose sources default to one file per table."""
    for name, frame in frames.items():
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    merged = {}
    for name in ("accounts", "subscriptions", "usage_events", "support_tickets", "nps_responses"):
        merged[name] = {"source": {"kind": "file", "path": f"{name}.csv"}} | sources.get(name, {})
    path = tmp_path / "churnml.yaml"
    raw = {"sources": merged, "warehouse": {"path": "wh.duckdb"}}
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def mapped_of(tmp_path, frames, sources):
    cfg = load_config(write_config(tmp_path, frames, sources))
    return load_sources(connect_warehouse(cfg), cfg)


def problems_by_column(mapped) -> dict[tuple[str, str], object]:
    return {(p.table, p.column): p for p in validate_sources(mapped)}


def column(mapped, table: str, name: str) -> list:
    frame = mapped[table].table.to_pandas()
    return frame[name].tolist()


# --- composite keys -------------------------------------------------------------------------


def without_subscription_id(frames):
    frames["subscriptions"] = frames["subscriptions"].drop(columns="subscription_id")
    return frames


def test_concat_composes_a_subscription_key(tmp_path, tiny_frames):
    frames = without_subscription_id(tiny_frames)
    derive = {"subscription_id": {"concat": ["account_id", "plan", "start_at"]}}
    mapped = mapped_of(tmp_path, frames, {"subscriptions": {"derive": derive}})
    keys = column(mapped, "subscriptions", "subscription_id")
    assert keys[0] == "acc_a|growth|2024-01-01"
    assert len(set(keys)) == 5
    assert validate_sources(mapped) == []
    assert "unmapped" not in profile_sources(mapped).split("subscriptions:")[1].split("\n")[2]


def test_concat_with_a_missing_part_gives_no_key(tmp_path, tiny_frames):
    frames = without_subscription_id(tiny_frames)
    frames["subscriptions"]["code"] = ["x", None, "y", "z", "w"]
    derive = {"subscription_id": {"concat": ["account_id", "code"]}}
    mapped = mapped_of(tmp_path, frames, {"subscriptions": {"derive": derive}})
    problem = problems_by_column(mapped)[("subscriptions", "subscription_id")]
    assert problem.check == "required value is missing" and problem.failing_rows == 1


def test_concat_takes_a_separator(tmp_path, tiny_frames):
    frames = without_subscription_id(tiny_frames)
    derive = {"subscription_id": {"concat": ["account_id", "plan"], "sep": "/"}}
    mapped = mapped_of(tmp_path, frames, {"subscriptions": {"derive": derive}})
    assert column(mapped, "subscriptions", "subscription_id")[0] == "acc_a/growth"


def test_a_composite_key_still_duplicated_names_the_key_and_its_sources(tmp_path, tiny_frames):
    frames = without_subscription_id(tiny_frames)
    derive = {"subscription_id": {"concat": ["account_id", "plan"]}}
    mapped = mapped_of(tmp_path, frames, {"subscriptions": {"derive": derive}})
    problem = problems_by_column(mapped)[("subscriptions", "subscription_id")]
    assert "duplicate key, derived as concat of account_id, plan" in str(problem)
    assert problem.failing_rows == 2
    assert {"subscription_id": "acc_b|business", "copies": 2} in problem.examples


# --- value maps -----------------------------------------------------------------------------


def with_size_codes(frames, codes=("S", "M", "S")):
    frames["accounts"] = frames["accounts"].drop(columns="segment").assign(size_code=list(codes))
    return frames


def test_map_translates_values(tmp_path, tiny_frames):
    frames = with_size_codes(tiny_frames)
    derive = {"segment": {"from": "size_code", "map": {"S": "SMB", "M": "Mid-Market"}}}
    mapped = mapped_of(tmp_path, frames, {"accounts": {"derive": derive}})
    assert column(mapped, "accounts", "segment") == ["SMB", "Mid-Market", "SMB"]
    assert validate_sources(mapped) == []
    assert "segment (map of size_code)" in profile_sources(mapped)


def test_a_value_missing_from_the_map_is_named_with_example_rows(tmp_path, tiny_frames):
    frames = with_size_codes(tiny_frames, ("S", "XL", "S"))
    derive = {"segment": {"from": "size_code", "map": {"S": "SMB", "M": "Mid-Market"}}}
    mapped = mapped_of(tmp_path, frames, {"accounts": {"derive": derive}})
    problem = problems_by_column(mapped)[("accounts", "segment")]
    assert "value not in the map" in problem.check and "map of size_code" in problem.check
    assert problem.failing_rows == 1
    assert problem.examples == [{"account_id": "acc_b", "size_code": "XL"}]


def test_map_default_covers_other_values(tmp_path, tiny_frames):
    frames = with_size_codes(tiny_frames, ("S", "XL", None))
    derive = {"segment": {"from": "size_code", "map": {"S": "SMB"}, "default": "Other"}}
    mapped = mapped_of(tmp_path, frames, {"accounts": {"derive": derive}})
    assert column(mapped, "accounts", "segment")[:2] == ["SMB", "Other"]
    assert pd.isna(column(mapped, "accounts", "segment")[2])  # an empty value stays empty
    assert validate_sources(mapped) == []


def test_numeric_map_keys_match_numeric_source_values(tmp_path, tiny_frames):
    frames = with_size_codes(tiny_frames, (1, 2, 1))
    derive = {"segment": {"from": "size_code", "map": {1: "SMB", 2: "Enterprise"}}}
    mapped = mapped_of(tmp_path, frames, {"accounts": {"derive": derive}})
    assert column(mapped, "accounts", "segment") == ["SMB", "Enterprise", "SMB"]


# --- lookups --------------------------------------------------------------------------------


def with_event_type_ids(tmp_path, frames, labels=None):
    ids = {"login": 1, "report_created": 2, "export": 3}
    frames["usage_events"] = (
        frames["usage_events"]
        .assign(type_id=frames["usage_events"].event_type.map(ids))
        .drop(columns="event_type")
    )
    labels = labels if labels is not None else {1: "login", 2: "report_created", 3: "export"}
    pd.DataFrame({"id": list(labels), "label": list(labels.values())}).to_csv(
        tmp_path / "event_types.csv", index=False
    )
    lookup = {"source": {"kind": "file", "path": "event_types.csv"}, "key": "id", "value": "label"}
    return frames, {
        "usage_events": {"derive": {"event_type": {"from": "type_id", "lookup": lookup}}}
    }


def test_lookup_names_ids_from_another_source(tmp_path, tiny_frames):
    expected = sorted(tiny_frames["usage_events"].event_type)
    frames, sources = with_event_type_ids(tmp_path, tiny_frames)
    mapped = mapped_of(tmp_path, frames, sources)
    events = mapped["usage_events"].table.to_pandas()
    assert sorted(events.event_type) == expected
    assert validate_sources(mapped) == []


@pytest.mark.parametrize("kind", ["duckdb", "sql"])
def test_lookup_from_a_database_source(tmp_path, tiny_frames, monkeypatch, kind):
    import duckdb
    import sqlalchemy as sa

    expected = sorted(tiny_frames["usage_events"].event_type)
    frames, sources = with_event_type_ids(tmp_path, tiny_frames)
    labels = pd.read_csv(tmp_path / "event_types.csv")
    if kind == "duckdb":
        with duckdb.connect(str(tmp_path / "lookup.duckdb")) as con:
            con.execute("CREATE TABLE event_types AS SELECT * FROM labels")
        source = {"kind": "duckdb", "table": "event_types", "database": "lookup.duckdb"}
    else:
        url = f"sqlite:///{tmp_path / 'lookup.sqlite'}"
        labels.to_sql("event_types", sa.create_engine(url), index=False)
        monkeypatch.setenv("LOOKUP_URL", url)
        source = {
            "kind": "sql",
            "query": "SELECT id, label FROM event_types",
            "url_env": "LOOKUP_URL",
        }
    sources["usage_events"]["derive"]["event_type"]["lookup"]["source"] = source
    mapped = mapped_of(tmp_path, frames, sources)
    assert sorted(column(mapped, "usage_events", "event_type")) == expected


def test_a_lookup_key_not_found_is_named_with_example_rows(tmp_path, tiny_frames):
    frames, sources = with_event_type_ids(tmp_path, tiny_frames, {1: "login", 2: "report"})
    mapped = mapped_of(tmp_path, frames, sources)
    problem = problems_by_column(mapped)[("usage_events", "event_type")]
    assert "key not found in the lookup" in problem.check
    assert "lookup of type_id in id -> label" in problem.check
    assert problem.failing_rows == 1
    assert problem.examples == [{"account_id": "acc_b", "type_id": "3"}]


def test_a_lookup_key_with_two_values_is_a_problem(tmp_path, tiny_frames):
    frames, sources = with_event_type_ids(tmp_path, tiny_frames)
    pd.DataFrame({"id": [1, 1, 2, 3], "label": ["login", "sign_in", "report", "export"]}).to_csv(
        tmp_path / "event_types.csv", index=False
    )
    mapped = mapped_of(tmp_path, frames, sources)
    problem = problems_by_column(mapped)[("usage_events", "event_type")]
    assert "several values" in problem.check and problem.failing_rows == 6  # the logins


def test_a_lookup_column_that_does_not_exist(tmp_path, tiny_frames):
    frames, sources = with_event_type_ids(tmp_path, tiny_frames)
    sources["usage_events"]["derive"]["event_type"]["lookup"]["value"] = "name"
    with pytest.raises(SourceError, match=r"usage_events, column event_type: lookup column 'name'"):
        mapped_of(tmp_path, frames, sources)


def test_a_missing_lookup_file_names_the_table_and_column(tmp_path, tiny_frames):
    frames, sources = with_event_type_ids(tmp_path, tiny_frames)
    (tmp_path / "event_types.csv").unlink()
    with pytest.raises(
        SourceError,
        match=r"table usage_events, column event_type: lookup source: .*no file matches",
    ):
        mapped_of(tmp_path, frames, sources)


# --- constants, source columns, contract columns --------------------------------------------


def test_constant_fills_a_column(tmp_path, tiny_frames):
    tiny_frames["accounts"] = tiny_frames["accounts"].drop(columns="region")
    sources = {"accounts": {"derive": {"region": {"constant": "EMEA"}}}}
    mapped = mapped_of(tmp_path, tiny_frames, sources)
    assert column(mapped, "accounts", "region") == ["EMEA"] * 3


def test_a_derivation_naming_a_missing_source_column(tmp_path, tiny_frames):
    derive = {"segment": {"from": "size_code", "map": {"S": "SMB"}}}
    with pytest.raises(
        SourceError,
        match=r"table accounts, column segment: derivation map of size_code names source column "
        r"'size_code', which does not exist \(source columns: \['account_id'",
    ):
        mapped_of(tmp_path, tiny_frames, {"accounts": {"derive": derive}})


def test_a_derivation_on_a_non_contract_column_is_refused_at_load(tmp_path, tiny_frames):
    sources = {"accounts": {"derive": {"tier": {"constant": "gold"}}}}
    with pytest.raises(ConfigError, match=r"sources.accounts.derive names \['tier'\]"):
        load_config(write_config(tmp_path, tiny_frames, sources))


def test_a_derivation_of_a_declared_account_attribute_is_accepted(tmp_path, tiny_frames):
    path = write_config(tmp_path, tiny_frames, {"accounts": {"derive": {"tier": {"constant": 1}}}})
    raw = yaml.safe_load(path.read_text())
    raw["features"] = {"account_attributes_numeric": ["tier"]}
    path.write_text(yaml.safe_dump(raw))
    cfg = load_config(path)
    mapped = load_sources(connect_warehouse(cfg), cfg)
    assert column(mapped, "accounts", "tier") == [1.0] * 3


@pytest.mark.parametrize(
    "derivation, message",
    [
        ({"from": "plan"}, "a derivation needs exactly one of"),
        ({"concat": ["a"], "constant": "x"}, "a derivation needs exactly one of"),
        (
            {"from": "x", "unit": "weeks"},
            "Input should be 'days', 'months', 'epoch_seconds' or 'epoch_milliseconds'",
        ),
    ],
)
def test_malformed_derivations_are_refused_at_load(tmp_path, tiny_frames, derivation, message):
    sources = {"subscriptions": {"derive": {"billing_period": derivation}}}
    with pytest.raises(ConfigError, match=message):
        load_config(write_config(tmp_path, tiny_frames, sources))


def test_unit_applies_only_to_the_billing_period(tmp_path, tiny_frames):
    sources = {"subscriptions": {"derive": {"plan": {"from": "plan", "unit": "days"}}}}
    with pytest.raises(ConfigError, match="only billing_period takes one"):
        load_config(write_config(tmp_path, tiny_frames, sources))


def test_a_column_both_mapped_and_derived_is_refused(tmp_path, tiny_frames):
    sources = {
        "accounts": {"columns": {"region": "segment"}, "derive": {"region": {"constant": "x"}}}
    }
    with pytest.raises(ConfigError, match="both mapped under columns and derived"):
        load_config(write_config(tmp_path, tiny_frames, sources))


def test_config_values_are_literals_not_sql(tmp_path, tiny_frames):
    frames = with_size_codes(tiny_frames, ("S'; DROP TABLE x; --", "M", "S"))
    derive = {
        "segment": {
            "from": "size_code",
            "map": {"S'; DROP TABLE x; --": "it's SMB", "M": "M", "S": "S"},
        }
    }
    mapped = mapped_of(tmp_path, frames, {"accounts": {"derive": derive}})
    assert column(mapped, "accounts", "segment") == ["it's SMB", "M", "S"]


# --- billing periods ------------------------------------------------------------------------


def test_billing_period_names_and_month_numbers():
    values = ["monthly", "Quarterly", "semiannual", "annual", "yearly", "1", "6", "12", "182 days"]
    values += ["fortnightly", "0", "-3", None]
    t = ibis.memtable({"p": values}, schema={"p": "string"})
    days = t.select(d=billing_period_days(t.p)).to_pandas().d.tolist()
    month = 365.25 / 12
    expected = [month, 3 * month, 6 * month, 12 * month, 12 * month, month, 6 * month]
    assert days[:7] == pytest.approx(expected)
    assert days[7:9] == pytest.approx([12 * month, 182.0])
    assert all(pd.isna(d) for d in days[9:])


def test_period_lengths_derived_from_days_and_months(tmp_path, tiny_frames):
    subs = tiny_frames["subscriptions"].drop(columns="billing_period")
    for unit, values in (("days", [30, 365, 365, 182, 91]), ("months", [1, 12, 12, 6, 3])):
        folder = tmp_path / unit
        folder.mkdir()
        frames = tiny_frames | {"subscriptions": subs.assign(term=values)}
        sources = {"subscriptions": {"derive": {"billing_period": {"from": "term", "unit": unit}}}}
        mapped = mapped_of(folder, frames, sources)
        periods = column(mapped, "subscriptions", "billing_period")
        assert periods == [f"{v} days" if unit == "days" else str(v) for v in values]
        assert validate_sources(mapped) == []


def test_a_period_that_is_not_a_number_is_named(tmp_path, tiny_frames):
    subs = tiny_frames["subscriptions"].drop(columns="billing_period")
    frames = tiny_frames | {
        "subscriptions": subs.assign(term=["30", "365", "one year", "30", "30"])
    }
    sources = {"subscriptions": {"derive": {"billing_period": {"from": "term", "unit": "days"}}}}
    problem = problems_by_column(mapped_of(tmp_path, frames, sources))[
        ("subscriptions", "billing_period")
    ]
    assert "not a number of days" in problem.check
    assert problem.examples == [{"account_id": "acc_b", "term": "one year"}]


def test_an_unknown_billing_period_is_a_problem(tmp_path, tiny_frames):
    tiny_frames["subscriptions"].loc[1, "billing_period"] = "fortnightly"
    problem = problems_by_column(mapped_of(tmp_path, tiny_frames, {}))[
        ("subscriptions", "billing_period")
    ]
    assert problem.check.startswith("unknown billing period") and problem.failing_rows == 1


def contract_at(frames, as_of):
    tables = {name: ibis.memtable(frame) for name, frame in frames.items()}
    spec = derive_spec(tables, default_config())
    spine = active_accounts(tables["subscriptions"], as_of_table([as_of]))
    out = contract_features(tables["subscriptions"], tables["accounts"], spine, spec)
    return out.to_pandas().set_index("account_id")


def test_days_to_renewal_follows_any_period_length(tiny_frames):
    subs = tiny_frames["subscriptions"]
    subs["billing_period"] = ["6", "semiannual", "annual", "182 days", "quarterly"]
    f = contract_at(tiny_frames, date(2025, 2, 1))
    half_year = 6 * 365.25 / 12
    # acc_a: six-month terms from 2024-01-01; 397 days later the third period has begun
    assert f.loc["acc_a", "contract_days_to_renewal"] == pytest.approx(3 * half_year - 397)
    assert f.loc["acc_a", "contract_billing_months"] == pytest.approx(6)
    assert f.loc["acc_a", "contract_is_annual"] == 0
    assert f.loc["acc_b", "contract_is_annual"] == 0  # only its semiannual row is live
    assert f.loc["acc_b", "contract_billing_months"] == pytest.approx(6)
    # acc_c: 182-day terms from 2024-09-01 (153 days before the as-of)
    assert f.loc["acc_c", "contract_days_to_renewal"] == pytest.approx(182 - 153)


def test_long_contract_flag_for_month_numbers(tiny_frames):
    tiny_frames["subscriptions"]["billing_period"] = ["12", "yearly", "24", "1", "1"]
    f = contract_at(tiny_frames, date(2025, 2, 1))
    assert f.contract_is_annual.to_dict() == {"acc_a": 1, "acc_b": 1, "acc_c": 0}
    assert f.loc["acc_b", "contract_billing_months"] == pytest.approx(12)


def test_billing_sentences_read_well():
    assert feature_entry("contract_billing_months").family == "contract"
    assert sentence("contract_billing_months", 6.0) == "Billed every 6 months"
    assert sentence("contract_billing_months", 1.0) == "Billed monthly"
    assert sentence("contract_billing_months", 182 / (365.25 / 12)) == "Billed every 182 days"
    assert sentence("contract_is_annual", 0) == "Billed more often than yearly"
    assert sentence("contract_is_annual", 1) == "Billed annually (or longer)"


# --- optional account name and created_at ---------------------------------------------------


def test_accounts_without_name_and_created_at(tmp_path, tiny_frames):
    tiny_frames["accounts"] = tiny_frames["accounts"].drop(columns=["name", "created_at"])
    mapped = mapped_of(tmp_path, tiny_frames, {})
    assert column(mapped, "accounts", "name") == ["acc_a", "acc_b", "acc_c"]
    assert all(pd.isna(v) for v in column(mapped, "accounts", "created_at"))
    assert validate_sources(mapped) == []
    profile = profile_sources(mapped)
    assert "name: not in the source; the account_id is shown instead" in profile
    assert "created_at: not in the source; tenure counts from the account's first" in profile


def test_tenure_counts_from_the_first_subscription_without_created_at(tiny_frames):
    tiny_frames["subscriptions"].loc[0, "start_at"] = pd.Timestamp("2024-03-01")
    with_created = contract_at(tiny_frames, date(2025, 2, 1))
    tiny_frames["accounts"]["created_at"] = pd.NaT
    without = contract_at(tiny_frames, date(2025, 2, 1))
    assert with_created.loc["acc_a", "contract_tenure_days"] == 397  # since 2024-01-01
    assert without.loc["acc_a", "contract_tenure_days"] == 337  # since 2024-03-01


def test_account_created_at_falls_back_to_the_first_subscription(tiny_frames):
    tiny_frames["accounts"].loc[0, "created_at"] = pd.NaT
    tiny_frames["subscriptions"].loc[0, "start_at"] = pd.Timestamp("2024-03-01")
    accounts = ibis.memtable(tiny_frames["accounts"])
    subscriptions = ibis.memtable(tiny_frames["subscriptions"])
    created = account_created_at(accounts, subscriptions).to_pandas().set_index("account_id")
    assert created.created_at.to_dict() == {
        "acc_a": pd.Timestamp("2024-03-01"),
        "acc_b": pd.Timestamp("2024-06-01"),
        "acc_c": pd.Timestamp("2024-09-01"),
    }


# --- view sources ---------------------------------------------------------------------------


def test_a_view_source_runs_duckdb_sql_over_files(tmp_path, tiny_frames):
    sub = tiny_frames["subscriptions"]
    sub.drop(columns="mrr").to_csv(tmp_path / "contracts.csv", index=False)
    sub[["subscription_id", "mrr"]].to_csv(tmp_path / "fees.csv", index=False)
    query = (
        "SELECT c.*, f.mrr FROM read_csv('contracts.csv') c "
        "JOIN read_csv('fees.csv') f USING (subscription_id)"
    )
    sources = {"subscriptions": {"source": {"kind": "view", "query": query}}}
    mapped = mapped_of(tmp_path, tiny_frames, sources)
    frame = mapped["subscriptions"].table.to_pandas().sort_values("subscription_id")
    assert frame.mrr.tolist() == sub.mrr.tolist()
    assert validate_sources(mapped) == []


def test_a_failing_view_query_names_the_table(tmp_path, tiny_frames):
    sources = {"accounts": {"source": {"kind": "view", "query": "SELECT * FROM no_such_table"}}}
    with pytest.raises(
        SourceError, match=r"table accounts: the view query failed: .*no_such_table"
    ):
        mapped_of(tmp_path, tiny_frames, sources)


# --- check-data -----------------------------------------------------------------------------


def test_check_data_reports_a_derivation_error_in_one_line(tmp_path, tiny_frames):
    frames, sources = with_event_type_ids(tmp_path, tiny_frames, {1: "login", 2: "report"})
    config = write_config(tmp_path, frames, sources)
    result = CliRunner().invoke(app, ["check-data", "-c", str(config)])
    assert result.exit_code == 1, result.output
    assert "usage_events.event_type: key not found in the lookup" in result.output
    assert "'type_id': '3'" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "wh.duckdb").exists()


def test_check_data_passes_a_foreign_layout_mapped_by_config_alone(tmp_path, tiny_frames):
    """No subscription id, numeric event types, month numbers, accounts without name or date."""
    frames = without_subscription_id(tiny_frames)
    frames["subscriptions"]["billing_period"] = [1, 12, 12, 6, 6]
    frames["accounts"] = frames["accounts"].drop(columns=["name", "created_at", "region"])
    frames, sources = with_event_type_ids(tmp_path, frames)
    sources["subscriptions"] = {
        "derive": {"subscription_id": {"concat": ["account_id", "start_at"]}}
    }
    sources["accounts"] = {"derive": {"region": {"constant": "EMEA"}}}
    result = CliRunner().invoke(
        app, ["check-data", "-c", str(write_config(tmp_path, frames, sources))]
    )
    assert result.exit_code == 0, result.output
    assert "derived columns: subscription_id (concat of account_id, start_at)" in result.output
    assert "event_type (lookup of type_id in id -> label)" in result.output
    assert "name: not in the source; the account_id is shown instead" in result.output
    assert "all checks passed" in result.output
