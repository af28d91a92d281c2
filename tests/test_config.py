from pathlib import Path

import pytest
import yaml

from churnml.config import ConfigError, default_config, load_config


def write(tmp_path: Path, raw: dict) -> Path:
    path = tmp_path / "churnml.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def minimal() -> dict:
    return {
        "sources": {
            name: {"source": {"kind": "duckdb", "table": name}}
            for name in ("accounts", "subscriptions", "usage_events", "support_tickets")
        }
    }


def test_default_config_is_valid_and_resolves_paths(tmp_path):
    cfg = default_config(tmp_path)
    assert cfg.resolve(cfg.warehouse.path) == tmp_path / "data" / "warehouse.duckdb"
    assert cfg.labels.churn_horizon_days == 90


def test_minimal_config_loads_relative_to_its_folder(tmp_path):
    cfg = load_config(write(tmp_path, minimal()))
    assert cfg.resolve("x.csv") == tmp_path / "x.csv"
    assert "nps_responses" not in cfg.sources


def test_typo_in_a_key_is_an_error(tmp_path):
    raw = minimal()
    raw["labels"] = {"churn_horizon_dayz": 60}
    with pytest.raises(ConfigError, match="churn_horizon_dayz"):
        load_config(write(tmp_path, raw))


def test_typo_in_a_nested_source_key_is_an_error(tmp_path):
    raw = minimal()
    raw["sources"]["accounts"]["colums"] = {"account_id": "id"}
    with pytest.raises(ConfigError, match="colums"):
        load_config(write(tmp_path, raw))


def test_missing_accounts_table_is_an_error(tmp_path):
    raw = minimal()
    del raw["sources"]["accounts"]
    with pytest.raises(ConfigError, match=r"missing required source table\(s\) \['accounts'\]"):
        load_config(write(tmp_path, raw))


def test_no_subscriptions_and_no_churn_source_names_what_to_map(tmp_path):
    raw = minimal()
    del raw["sources"]["subscriptions"]
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, raw))
    message = str(caught.value)
    assert len(message.splitlines()) == 1
    assert "no churn outcome: sources.subscriptions is not configured" in message
    for what in ("sources.churn_events", "churn_source: churn_events", "account_status"):
        assert what in message


@pytest.mark.parametrize("churn_source", ["churn_events", "account_status"])
def test_accounts_plus_one_churn_source_is_enough(tmp_path, churn_source):
    raw = minimal()
    del raw["sources"]["subscriptions"], raw["sources"]["support_tickets"]
    if churn_source == "churn_events":
        raw["sources"]["churn_events"] = {"source": {"kind": "duckdb", "table": "churns"}}
    raw["labels"] = {"churn_source": churn_source}
    cfg = load_config(write(tmp_path, raw))
    assert "subscriptions" not in cfg.sources


def test_playbook_rule_on_the_contract_family_is_refused_without_subscriptions(tmp_path):
    raw = minimal()
    del raw["sources"]["subscriptions"]
    raw["labels"] = {"churn_source": "account_status"}
    raw["outreach"] = {
        "playbook": [
            {"name": "Renewal call", "action": "Call", "top_driver_family": ["contract"]},
            {"name": "Rest", "action": "Nurture"},
        ]
    }
    with pytest.raises(ConfigError, match="'Renewal call'.*contract.*subscriptions"):
        load_config(write(tmp_path, raw))


def test_usage_and_support_tables_are_optional(tmp_path):
    raw = minimal()
    del raw["sources"]["usage_events"], raw["sources"]["support_tickets"]
    cfg = load_config(write(tmp_path, raw))
    assert set(cfg.sources) == {"accounts", "subscriptions"}


def test_reactivation_gap_below_one_day_is_refused(tmp_path):
    raw = minimal()
    raw["labels"] = {"reactivation_gap_days": 0}
    with pytest.raises(ConfigError, match="reactivation_gap_days"):
        load_config(write(tmp_path, raw))


@pytest.mark.parametrize(
    ("key", "value", "table"),
    [
        ("churn_source", "churn_events", "churn_events"),
        ("upsell_source", "expansion_events", "expansion_events"),
    ],
)
def test_outcome_source_needs_its_table(tmp_path, key, value, table):
    raw = minimal()
    raw["labels"] = {key: value}
    with pytest.raises(ConfigError, match=f"sources.{table} is not configured"):
        load_config(write(tmp_path, raw))
    raw["sources"][table] = {"source": {"kind": "duckdb", "table": table}}
    assert getattr(load_config(write(tmp_path, raw)).labels, key) == value


def test_playbook_rule_on_a_family_without_its_table_is_refused(tmp_path):
    raw = minimal()
    del raw["sources"]["support_tickets"]
    raw["outreach"] = {
        "playbook": [
            {"name": "Ticket triage", "action": "Call", "top_driver_family": ["support"]},
            {"name": "Rest", "action": "Nurture"},
        ]
    }
    with pytest.raises(ConfigError, match="'Ticket triage'.*support.*support_tickets"):
        load_config(write(tmp_path, raw))
    # the default playbook's support rule never matches then, and is not refused
    del raw["outreach"]
    assert load_config(write(tmp_path, raw)).outreach.playbook


def test_table_name_must_be_an_identifier(tmp_path):
    raw = minimal()
    raw["sources"]["accounts"]["source"]["table"] = "accounts; DROP TABLE x"
    with pytest.raises(ConfigError, match="identifier"):
        load_config(write(tmp_path, raw))


def test_password_in_tracking_uri_is_refused(tmp_path):
    raw = minimal()
    raw["mlflow"] = {"tracking_uri": "postgresql://ml:secret@db/mlflow"}
    with pytest.raises(ConfigError, match="password"):
        load_config(write(tmp_path, raw))


def test_account_key_needs_exactly_one_lookup(tmp_path):
    raw = minimal()
    raw["sources"]["usage_events"]["account_key"] = {"column": "uid", "lookup_key": "id"}
    with pytest.raises(ConfigError, match="exactly one"):
        load_config(write(tmp_path, raw))


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources: [unclosed", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


@pytest.mark.parametrize("weights", [[0, 1], [-0.25], []])
def test_linear_blend_weights_outside_zero_to_one_are_one_line(tmp_path, weights):
    raw = minimal()
    raw["training"] = {"linear_blend_weights": weights}
    with pytest.raises(ConfigError, match="linear_blend_weights") as caught:
        load_config(write(tmp_path, raw))
    assert len(str(caught.value).splitlines()) == 1


def test_linear_blend_weights_are_sorted_and_zero_switches_the_blend_off(tmp_path):
    raw = minimal()
    raw["training"] = {"linear_blend_weights": [0.5, 0, 0.5]}
    assert load_config(write(tmp_path, raw)).training.linear_blend_weights == [0.0, 0.5]
    assert default_config().training.linear_blend_weights == [0.0, 0.25, 0.5, 0.75]


@pytest.mark.parametrize(
    ("setting", "key"),
    [({"linear_blend_rule": "median"}, "linear_blend_rule"), ({"choice_folds": 0}, "choice_folds")],
)
def test_a_bad_blend_rule_or_fold_count_is_one_line(tmp_path, setting, key):
    raw = minimal()
    raw["training"] = setting
    with pytest.raises(ConfigError, match=key) as caught:
        load_config(write(tmp_path, raw))
    assert len(str(caught.value).splitlines()) == 1
