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


def test_missing_required_table_is_an_error(tmp_path):
    raw = minimal()
    del raw["sources"]["usage_events"]
    with pytest.raises(ConfigError, match="usage_events"):
        load_config(write(tmp_path, raw))


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
