"""One typed configuration for a churnml deployment, loaded from one YAML file.

Every model forbids unknown keys, so a typo in the file is an error instead of a silent default.
Secrets never live in the file: connection URLs are read from the environment variable the file
names (``url_env``) or from a Prefect Secret block (``url_secret``).
"""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

CANONICAL_TABLES = ("accounts", "subscriptions", "usage_events", "support_tickets", "nps_responses")
OPTIONAL_TABLES = ("nps_responses",)

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_identifier(value: str, what: str) -> str:
    if not _IDENTIFIER.match(value):
        raise ValueError(
            f"{what} {value!r} is not a plain SQL identifier (letters, digits, underscore, "
            "optionally schema.table)"
        )
    return value


def _url_has_password(url: str) -> bool:
    return bool(re.match(r"^[a-zA-Z0-9+]+://[^/@:]+:[^/@]+@", url))


class FileSource(StrictModel):
    """CSV or Parquet files: a path or a glob, relative to the config file."""

    kind: Literal["file"] = "file"
    path: str
    format: Literal["csv", "parquet", "auto"] = "auto"
    encoding: Literal["utf-8", "latin-1", "utf-16"] = Field(
        "utf-8", description="text encoding of CSV files; other encodings are refused, not guessed"
    )


class DuckDBTableSource(StrictModel):
    """A table in a DuckDB database file (the warehouse by default)."""

    kind: Literal["duckdb"] = "duckdb"
    table: str
    database: str | None = None

    @field_validator("table")
    @classmethod
    def _table_identifier(cls, v: str) -> str:
        return _check_identifier(v, "table")


class SqlSource(StrictModel):
    """A SQL query on any SQLAlchemy URL, read from an environment variable or a Secret block."""

    kind: Literal["sql"] = "sql"
    query: str
    url_env: str = "CHURNML_SOURCE_URL"
    url_secret: str | None = Field(
        None, description="name of a Prefect Secret block holding the URL (instead of url_env)"
    )


Source = Annotated[FileSource | DuckDBTableSource | SqlSource, Field(discriminator="kind")]


class AccountKey(StrictModel):
    """How a table keyed by another id reaches account_id, through a lookup table.

    ``via`` names another canonical table (already mapped to the contract, e.g. ``subscriptions``)
    or is omitted when ``lookup`` gives a separate source such as a users table.
    """

    column: str = Field(description="column of this table holding the other key (source name)")
    via: str | None = Field(None, description="canonical table used as lookup")
    lookup: Source | None = None
    lookup_key: str = Field(description="column of the lookup holding the same key")
    lookup_account_id: str = Field(
        "account_id", description="column of the lookup holding account_id"
    )

    @model_validator(mode="after")
    def _one_lookup(self) -> AccountKey:
        if (self.via is None) == (self.lookup is None):
            raise ValueError(
                "account_key needs exactly one of `via` (a canonical table) or `lookup`"
            )
        if self.via is not None and self.via not in CANONICAL_TABLES:
            raise ValueError(f"account_key.via must be one of {CANONICAL_TABLES}, got {self.via!r}")
        return self


class TableMapping(StrictModel):
    """Where one canonical table comes from and how its columns map onto the contract."""

    source: Source
    columns: dict[str, str] = Field(
        default_factory=dict, description="contract column -> source column, for renamed columns"
    )
    account_key: AccountKey | None = None


class WarehouseConfig(StrictModel):
    path: str = "data/warehouse.duckdb"
    threads: int = Field(2, ge=1)
    memory_limit: str | None = "6GB"
    lock_timeout_seconds: float = Field(
        120.0,
        ge=0,
        description="how long to wait for another process holding the warehouse before failing",
    )


class SnapshotConfig(StrictModel):
    """The grid of as-of dates at which features and labels are computed for training."""

    frequency: Literal["monthly", "weekly"] = "monthly"
    count: int = Field(12, ge=2, le=240)
    end: date | None = Field(None, description="last snapshot; default: the latest data date")


class FeatureConfig(StrictModel):
    windows_days: list[int] = Field(default_factory=lambda: [7, 30, 90])
    trend_window_days: int = Field(30, ge=1)
    onboarding_events: list[str] = Field(default_factory=list)
    account_attributes_categorical: list[str] = Field(default_factory=list)
    account_attributes_numeric: list[str] = Field(default_factory=list)

    @field_validator("account_attributes_categorical", "account_attributes_numeric")
    @classmethod
    def _attribute_identifiers(cls, v: list[str]) -> list[str]:
        # attribute names become feature and output column names
        return [_check_identifier(a, "account attribute") for a in v]

    @field_validator("windows_days")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if not v or any(w <= 0 for w in v):
            raise ValueError("windows_days must be a non-empty list of positive day counts")
        return sorted(set(v))


class ValidationConfig(StrictModel):
    """How strict the data checks are where a choice is the customer's to make."""

    mixed_timezones: Literal["refuse", "utc"] = Field(
        "refuse",
        description="a text timestamp column mixing naive and offset values: refuse it, or read "
        "the naive values as UTC like the rest",
    )
    unknown_categories: Literal["stop", "score_as_missing"] = Field(
        "stop",
        description="category values the champion never saw: stop scoring, or score them as "
        "missing and report them",
    )
    absurd_mrr: float = Field(10_000_000.0, gt=0, description="MRR above this is an input error")


class RetryConfig(StrictModel):
    """Retries of steps that touch the outside world (source reads)."""

    source_reads: int = Field(2, ge=0, description="retries after a failed source read")
    delay_seconds: float = Field(5.0, ge=0)


class LabelConfig(StrictModel):
    churn_horizon_days: int = Field(90, ge=1)
    reactivation_gap_days: int = Field(30, ge=0)
    upsell_horizon_days: int = Field(90, ge=1)
    upsell_min_mrr_share: float = Field(0.10, ge=0)
    upsell_min_mrr_amount: float = Field(0.0, ge=0)
    plan_order: list[str] = Field(default_factory=list, description="plans from lowest to highest")


class TrainingConfig(StrictModel):
    random_state: int = 42
    n_estimators: int = Field(400, ge=10)
    learning_rate: float = Field(0.05, gt=0, le=1)
    num_leaves: int = Field(15, ge=2)
    max_depth: int = Field(6, ge=-1)
    min_child_samples: int = Field(40, ge=1)
    early_stopping_rounds: int = Field(40, ge=1)
    validation_snapshots: int = Field(2, ge=1)
    backtest_folds: int = Field(
        3, ge=1, description="rolling out-of-time folds reported beside the final test"
    )
    min_auc: float = Field(0.6, ge=0.5, le=1)
    optuna_trials: int = Field(0, ge=0)


class MlflowConfig(StrictModel):
    tracking_uri: str = "sqlite:///mlruns/mlflow.db"
    artifact_root: str = "mlruns/artifacts"
    experiment: str = "churnml"
    churn_model_name: str = "churnml-churn"
    upsell_model_name: str = "churnml-upsell"

    @field_validator("tracking_uri")
    @classmethod
    def _no_password(cls, v: str) -> str:
        if _url_has_password(v):
            raise ValueError("tracking_uri must not contain a password; use MLFLOW_TRACKING_URI")
        return v


class OutreachConfig(StrictModel):
    capacity_top_k: int = Field(50, ge=1)
    high_touch_min_arr: float = Field(50_000, ge=0)
    low_touch_min_arr: float = Field(10_000, ge=0)
    churn_tier_thresholds: tuple[float, float] = (0.15, 0.35)
    upsell_tier_thresholds: tuple[float, float] = (0.20, 0.40)
    play_due_days: int = Field(7, ge=0)
    expected_expansion_share: float = Field(
        0.2, ge=0, description="typical ARR growth of an expansion"
    )


class SinkConfig(StrictModel):
    kind: Literal["duckdb", "postgres", "parquet", "csv"]
    table: str = "scored_accounts"
    url_env: str | None = None
    url_secret: str | None = Field(
        None, description="name of a Prefect Secret block holding the URL (instead of url_env)"
    )
    path: str | None = None

    @field_validator("table")
    @classmethod
    def _table_identifier(cls, v: str) -> str:
        return _check_identifier(v, "table")


class OutputConfig(StrictModel):
    sinks: list[SinkConfig] = Field(default_factory=lambda: [SinkConfig(kind="duckdb")])
    report_dir: str = "reports"


class ChurnmlConfig(StrictModel):
    """The whole deployment: sources, mapping, horizons, training, outreach and outputs."""

    warehouse: WarehouseConfig = WarehouseConfig()
    sources: dict[str, TableMapping]
    snapshots: SnapshotConfig = SnapshotConfig()
    features: FeatureConfig = FeatureConfig()
    labels: LabelConfig = LabelConfig()
    training: TrainingConfig = TrainingConfig()
    mlflow: MlflowConfig = MlflowConfig()
    outreach: OutreachConfig = OutreachConfig()
    output: OutputConfig = OutputConfig()
    validation: ValidationConfig = ValidationConfig()
    retries: RetryConfig = RetryConfig()
    base_dir: str = Field(".", description="paths are relative to this; set by the loader")

    @field_validator("sources")
    @classmethod
    def _known_tables(cls, v: dict[str, TableMapping]) -> dict[str, TableMapping]:
        unknown = sorted(set(v) - set(CANONICAL_TABLES))
        if unknown:
            raise ValueError(
                f"unknown source table(s) {unknown}; expected {list(CANONICAL_TABLES)}"
            )
        missing = [t for t in CANONICAL_TABLES if t not in v and t not in OPTIONAL_TABLES]
        if missing:
            raise ValueError(f"missing required source table(s) {missing}")
        return v

    def resolve(self, path: str) -> Path:
        """A config path made absolute against the config file's folder."""
        p = Path(os.path.expandvars(path)).expanduser()
        return p if p.is_absolute() else (Path(self.base_dir) / p).resolve()


class ConfigError(ValueError):
    """The config file is missing, unreadable, or does not match the model."""


def load_config(path: str | Path) -> ChurnmlConfig:
    """Read and validate a churnml YAML file; relative paths resolve against its folder."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    raw.setdefault("base_dir", str(path.resolve().parent))
    from pydantic import ValidationError

    try:
        return ChurnmlConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"config file {path} is invalid:\n{exc}") from exc


def default_config(base_dir: str | Path = ".", warehouse: str | None = None) -> ChurnmlConfig:
    """The embedded default: the demo tables in the DuckDB warehouse, MLflow on SQLite."""
    from importlib.resources import files

    raw = yaml.safe_load(files("churnml.defaults").joinpath("churnml.yaml").read_text("utf-8"))
    raw["base_dir"] = str(Path(base_dir).resolve())
    if warehouse is not None:
        raw.setdefault("warehouse", {})["path"] = warehouse
    return ChurnmlConfig.model_validate(raw)
