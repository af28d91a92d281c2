"""The CS activity log: mapping, checks, the "activity" feature family and its leakage property."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import ibis
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from churnml.activity_features import RECENCY_CAP_DAYS
from churnml.catalogue import feature_entry, sentence
from churnml.config import ConfigError, default_config, load_config
from churnml.features import FeatureSpec, build_features, derive_spec
from churnml.io.preflight import SourceError, preflight_sources
from churnml.io.sources import connect_warehouse, load_sources
from churnml.schemas import validate_features
from churnml.snapshots import active_accounts, as_of_table
from churnml.validation import validate_sources
from compiled_features import CompiledFeatures
from factories import frames

AS_OF = date(2025, 2, 1)
AS_OF_TS = pd.Timestamp(AS_OF)


def activities() -> pd.DataFrame:
    """acc_a: a call in December, an in-app message in January, a meeting exactly at the as-of.
    acc_b: an email an hour before the as-of, a QBR in June. acc_c: never touched."""
    return pd.DataFrame(
        {
            "account_id": ["acc_a", "acc_a", "acc_b", "acc_a", "acc_b"],
            "occurred_at": pd.to_datetime(
                [
                    "2024-12-01 10:00",
                    "2025-01-25 00:00",
                    "2025-01-31 23:00",
                    "2025-02-01 00:00",
                    "2024-06-01 00:00",
                ]
            ),
            "kind": ["Call", "in_app", "email", "meeting", "qbr"],
            "owner": ["Kim", None, "Lee", "Kim", "Lee"],
            "play": [None, None, "Health check", None, None],
        }
    )


def with_activities(log: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    data = frames()
    data["cs_activities"] = activities() if log is None else log
    return data


def features_at(data: dict[str, pd.DataFrame], spec: FeatureSpec | None = None) -> pd.DataFrame:
    tables = {k: ibis.memtable(v) for k, v in data.items()}
    spec = spec or derive_spec(tables, default_config())
    spine = active_accounts(tables["subscriptions"], as_of_table([AS_OF]))
    out = build_features(tables, spine, spec).to_pandas()
    return out.sort_values("account_id").reset_index(drop=True)


def test_activity_features_count_touches_strictly_before_the_as_of():
    out = features_at(with_activities()).set_index("account_id")
    a, b, c = out.loc["acc_a"], out.loc["acc_b"], out.loc["acc_c"]
    # the meeting at the as-of itself is not seen; the in-app message is a touch, not a human one
    assert (a.activity_touches_7d, a.activity_human_touches_7d) == (1, 0)
    assert (a.activity_touches_90d, a.activity_human_touches_90d) == (2, 1)
    assert a.activity_days_since_human_touch == pytest.approx(61 + 14 / 24)  # the December call
    assert b.activity_human_touches_7d == 1 and b.activity_touches_90d == 1  # June is too old
    assert b.activity_days_since_human_touch == pytest.approx(1 / 24)
    assert (c.activity_touches_90d, c.activity_days_since_human_touch) == (0, RECENCY_CAP_DAYS)
    validate_features(out.reset_index())


def test_the_family_exists_only_when_the_log_is_mapped():
    without = features_at(frames())
    assert not [c for c in without.columns if c.startswith("activity_")]
    spec = derive_spec(
        {k: ibis.memtable(v) for k, v in with_activities().items()}, default_config()
    )
    assert "activity" in spec.families and spec.human_kinds == ("call", "email", "meeting", "qbr")
    assert FeatureSpec.from_dict(spec.to_dict()) == spec
    # a spec stored before the family existed loads without it
    old = {k: v for k, v in spec.to_dict().items() if k not in ("has_activity", "human_kinds")}
    assert "activity" not in FeatureSpec.from_dict(old).families


def test_human_kinds_are_configurable():
    cfg = default_config().model_copy(
        update={"activity": default_config().activity.model_copy(update={"human_kinds": ["qbr"]})}
    )
    data = with_activities()
    spec = derive_spec({k: ibis.memtable(v) for k, v in data.items()}, cfg)
    out = features_at(data, spec).set_index("account_id")
    assert out.loc["acc_b", "activity_human_touches_7d"] == 0  # the email no longer counts
    assert out.loc["acc_b", "activity_days_since_human_touch"] == pytest.approx(245.0)  # the QBR


def test_catalogue_describes_the_family_in_both_languages():
    entry = feature_entry("activity_human_touches_30d")
    assert entry.family == "activity" and "30 days" in entry.description
    assert sentence("activity_days_since_human_touch", 12.0) == "Last personal CS touch 12 days ago"
    assert sentence("activity_touches_90d", 3, "ja") == "直近90日間のCSの接点は3件"


SETTINGS = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
later = st.integers(min_value=0, max_value=60 * 24 * 200)
COMPILED: list[tuple[CompiledFeatures, pd.DataFrame]] = []


def compiled_baseline() -> tuple[CompiledFeatures, pd.DataFrame]:
    """The feature query with the spec fixed by the baseline data, as at training, and its
    result on that data (which the query on memtables reproduces)."""
    if not COMPILED:
        data = with_activities()
        spec = derive_spec({k: ibis.memtable(v) for k, v in data.items()}, default_config())
        features = CompiledFeatures(spec, AS_OF)
        baseline = features(data)
        pd.testing.assert_frame_equal(baseline, features_at(data, spec))
        COMPILED.append((features, baseline))
    return COMPILED[0]


@SETTINGS
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["acc_a", "acc_b", "acc_c"]),
            later,
            st.sampled_from(["call", "email", "in_app", "meeting", "QBR"]),
        ),
        max_size=6,
    )
)
def test_activities_at_or_after_the_as_of_never_change_its_features(future):
    features, baseline = compiled_baseline()
    log = pd.concat(
        [
            activities(),
            pd.DataFrame(
                {
                    "account_id": [f[0] for f in future],
                    "occurred_at": [AS_OF_TS + timedelta(minutes=f[1]) for f in future],
                    "kind": [f[2] for f in future],
                    "owner": [None] * len(future),
                    "play": ["Health check"] * len(future),
                }
            ).astype({"occurred_at": "datetime64[us]"}),
        ],
        ignore_index=True,
    )
    pd.testing.assert_frame_equal(features(with_activities(log)), baseline)


# --- mapping, checks, config ----------------------------------------------------------------


def write_config(tmp_path: Path, data: dict[str, pd.DataFrame], activity_mapping: dict) -> Path:
    for name, frame in data.items():
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    sources = {
        name: {"source": {"kind": "file", "path": f"{name}.csv"}}
        for name in data
        if name != "cs_activities"
    }
    sources["cs_activities"] = {
        "source": {"kind": "file", "path": "cs_activities.csv"}
    } | activity_mapping
    path = tmp_path / "churnml.yaml"
    raw = {"sources": sources, "warehouse": {"path": "wh.duckdb"}}
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def crm_export() -> pd.DataFrame:
    """An activity export in a CRM's own words: other column names, coded activity types."""
    log = activities()
    return pd.DataFrame(
        {
            "customer": log.account_id,
            "logged_at": log.occurred_at.dt.strftime("%Y-%m-%d %H:%M:%S"),
            "type_code": ["C", "I", "E", "M", "Q"],
            "rep": log.owner,
        }
    )


CRM_MAPPING = {
    "columns": {"account_id": "customer", "occurred_at": "logged_at", "owner": "rep"},
    "derive": {
        "kind": {
            "from": "type_code",
            "map": {"C": "call", "E": "email", "M": "meeting", "Q": "qbr", "I": "in_app"},
        }
    },
}


def test_a_crm_export_maps_onto_the_contract(tmp_path):
    data = frames() | {"cs_activities": crm_export()}
    cfg = load_config(write_config(tmp_path, data, CRM_MAPPING))
    preflight_sources(cfg)
    mapped = load_sources(connect_warehouse(cfg), cfg)
    table = mapped["cs_activities"].table.to_pandas()
    assert table.kind.tolist() == ["call", "in_app", "email", "meeting", "qbr"]
    assert table.play.isna().all()  # optional, not in the export
    assert [p for p in validate_sources(mapped) if p.severity == "error"] == []


def test_preflight_names_a_missing_activity_column(tmp_path):
    data = frames() | {"cs_activities": activities().drop(columns="kind")}
    cfg = load_config(write_config(tmp_path, data, {}))
    with pytest.raises(SourceError, match="table cs_activities, column kind: required column"):
        preflight_sources(cfg)


def test_checks_name_bad_dates_and_unknown_accounts(tmp_path):
    log = activities().astype({"occurred_at": "str"})
    log.loc[1, "occurred_at"] = "yesterday"
    log.loc[2, "account_id"] = "acc_zz"
    log.loc[3, "occurred_at"] = str(datetime.now() + timedelta(days=40))
    data = frames() | {"cs_activities": log}
    cfg = load_config(write_config(tmp_path, data, {}))
    mapped = load_sources(connect_warehouse(cfg), cfg)
    found = {(p.table, p.column, p.check): p for p in validate_sources(mapped)}
    checks = {check for table, _, check in found if table == "cs_activities"}
    assert {
        "unparseable date (export dates as YYYY-MM-DD or YYYY-MM-DD HH:MM:SS)",
        "timestamp in the future",
        "rows for unknown accounts (not in sources.accounts: export accounts and this table at the same time, or leave these rows out of the export)",
    } <= checks
    orphan = found[
        (
            "cs_activities",
            "account_id",
            "rows for unknown accounts (not in sources.accounts: export accounts and this table at the same time, or leave these rows out of the export)",
        )
    ]
    assert orphan.examples == [{"account_id": "acc_zz"}]


def test_a_playbook_rule_on_activity_needs_the_log(tmp_path):
    sources = {
        name: {"source": {"kind": "duckdb", "table": name}}
        for name in ("accounts", "subscriptions")
    }
    raw = {
        "sources": sources,
        "outreach": {
            "playbook": [
                {"name": "Reach out", "action": "Call", "top_driver_family": ["activity"]},
                {"name": "Rest", "action": "Nurture"},
            ]
        },
    }
    path = tmp_path / "churnml.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ConfigError, match="'Reach out'.*activity.*cs_activities"):
        load_config(path)
    raw["sources"]["cs_activities"] = {"source": {"kind": "duckdb", "table": "cs_activities"}}
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    assert load_config(path).outreach.playbook[0].top_driver_family == ["activity"]


def test_play_kinds_must_name_plays_of_the_playbook(tmp_path):
    sources = {
        name: {"source": {"kind": "duckdb", "table": name}}
        for name in ("accounts", "subscriptions")
    }
    raw = {"sources": sources, "activity": {"play_kinds": {"Helth check": ["call"]}}}
    path = tmp_path / "churnml.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ConfigError, match="Helth check"):
        load_config(path)
