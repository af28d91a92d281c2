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
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from churnml.vocabulary import DRIVER_FAMILIES, TIER_NAMES, TOUCH_MODELS

CANONICAL_TABLES = (
    "accounts",
    "subscriptions",
    "usage_events",
    "support_tickets",
    "nps_responses",
    "churn_events",
    "expansion_events",
    "cs_activities",
)
OPTIONAL_TABLES = (
    "subscriptions",  # optional when churn comes from churn_events or account status
    "usage_events",
    "support_tickets",
    "nps_responses",
    "churn_events",
    "expansion_events",
    "cs_activities",
)
# The table each driver family is computed from: a family whose table is absent cannot exist.
FAMILY_TABLES = {
    "usage": "usage_events",
    "support": "support_tickets",
    "contract": "subscriptions",
    "nps": "nps_responses",
    "account": "accounts",
    "activity": "cs_activities",
}

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


class FileSource(StrictModel):
    """CSV or Parquet files: a path or a glob, relative to the config file."""

    kind: Literal["file"] = "file"
    path: str
    format: Literal["csv", "parquet", "json", "auto"] = "auto"
    encoding: Literal["utf-8", "latin-1", "utf-16"] = Field(
        "utf-8", description="text encoding of CSV files; other encodings are refused, not guessed"
    )
    date_format: str | None = Field(
        None,
        description="how the file writes dates, as strptime codes (%d/%m/%Y for 31/01/2025): "
        "text values in this format are read as those dates; other values stay as they are",
    )
    decimal: Literal[".", ","] = Field(
        ".",
        description="the decimal separator of numbers written as text; with ',' (1.234,50) dots "
        "and spaces between digit groups are thousands separators",
    )

    @field_validator("date_format")
    @classmethod
    def _strptime_codes(cls, v: str | None) -> str | None:
        if v is not None and not re.search(r"%[dmyYbBjU]", v):
            raise ValueError(
                f"date_format {v!r} has no day, month or year code: write it with strptime codes, "
                "e.g. %d/%m/%Y for 31/01/2025 or %d.%m.%Y %H:%M for 31.01.2025 14:05"
            )
        return v

    def file_format(self) -> Literal["csv", "parquet", "json"]:
        """The format given, or the one the file name says (CSV unless it says otherwise)."""
        if self.format != "auto":
            return self.format
        name = self.path.lower()
        if name.endswith((".parquet", ".pq")):
            return "parquet"
        if name.removesuffix(".gz").endswith((".jsonl", ".ndjson", ".json")):
            return "json"
        return "csv"


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


class ViewSource(StrictModel):
    """A DuckDB query run as written in the warehouse connection: the escape hatch for layouts
    the mapping cannot describe. It may read files (read_csv, read_parquet; relative paths
    resolve against the config file's folder) and warehouse tables."""

    kind: Literal["view"] = "view"
    query: str = Field(min_length=1)


Source = Annotated[
    FileSource | DuckDBTableSource | SqlSource | ViewSource, Field(discriminator="kind")
]


def _as_text(value: object) -> str:
    """A YAML scalar as the text a source value is compared with (yes/no stay true/false)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class ConcatDerivation(StrictModel):
    """A key composed of several source columns, joined as text (NULL if any part is NULL)."""

    concat: list[str] = Field(min_length=1)
    sep: str = "|"

    def source_columns(self) -> list[str]:
        return list(self.concat)

    def describe(self) -> str:
        return f"concat of {', '.join(self.concat)}"


class MapDerivation(StrictModel):
    """Source values translated through an inline map; others are an error unless `default`."""

    from_: str = Field(alias="from")
    map: dict[str, str] = Field(min_length=1)
    default: str | None = None

    @field_validator("map", mode="before")
    @classmethod
    def _text_map(cls, v: object) -> object:
        if isinstance(v, dict):
            return {_as_text(k): _as_text(x) for k, x in v.items()}
        return v

    @field_validator("default", mode="before")
    @classmethod
    def _text_default(cls, v: object) -> object:
        return None if v is None else _as_text(v)

    def source_columns(self) -> list[str]:
        return [self.from_]

    def describe(self) -> str:
        return f"map of {self.from_}"


class LookupSpec(StrictModel):
    source: Source
    key: str = Field(description="column of the lookup source holding the source value")
    value: str = Field(description="column of the lookup source holding the derived value")


class LookupDerivation(StrictModel):
    """Source values replaced by a column of another source (an id -> name table)."""

    from_: str = Field(alias="from")
    lookup: LookupSpec

    def source_columns(self) -> list[str]:
        return [self.from_]

    def describe(self) -> str:
        return f"lookup of {self.from_} in {self.lookup.key} -> {self.lookup.value}"


class ConstantDerivation(StrictModel):
    """The same value on every row (e.g. a region for a single-region export)."""

    constant: str | int | float | bool

    def source_columns(self) -> list[str]:
        return []

    def describe(self) -> str:
        return f"constant {_as_text(self.constant)}"


class PeriodDerivation(StrictModel):
    """A period length (billing_period) given as a number of days or months, or a timestamp
    given as a number of seconds or milliseconds since 1970-01-01 UTC (Unix time)."""

    from_: str = Field(alias="from")
    unit: Literal["days", "months", "epoch_seconds", "epoch_milliseconds"]

    def source_columns(self) -> list[str]:
        return [self.from_]

    def describe(self) -> str:
        return f"{self.from_} in {self.unit}"


class ScaleDerivation(StrictModel):
    """A number times a factor (cents to units), optionally times another column (a price per
    seat times the seats) and divided by a billing period's months (a yearly price as MRR)."""

    from_: str = Field(alias="from")
    scale: float = Field(gt=0, description="factor: 0.01 for cents")
    times: str | None = Field(None, description="a column to multiply by (seats, quantity)")
    per: str | None = Field(
        None,
        description="a column holding the billing period the amount covers (month, year, 12...):"
        " the amount is divided by the period's months",
    )
    currency: str | None = Field(
        None, description="a column holding each row's currency code (EUR, GBP, USD...)"
    )
    rates: dict[str, float] | None = Field(
        None,
        description="reporting-currency units per unit of each currency of the `currency` "
        "column (USD: 1, EUR: 1.08): the amount is multiplied by its currency's rate",
    )

    @field_validator("rates")
    @classmethod
    def _positive_rates(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        if v is None:
            return v
        if not v:
            raise ValueError("rates is empty: give each currency's rate (USD: 1, EUR: 1.08)")
        bad = {code: rate for code, rate in v.items() if not rate > 0}
        if bad:
            raise ValueError(f"rates must be greater than 0: {bad}")
        codes = [code.strip().upper() for code in v]
        if len(set(codes)) < len(codes):
            raise ValueError(
                f"rates names a currency twice (codes are compared in upper case): {list(v)}"
            )
        return {code.strip().upper(): float(rate) for code, rate in v.items()}

    @model_validator(mode="after")
    def _currency_with_rates(self) -> ScaleDerivation:
        if (self.currency is None) != (self.rates is None):
            raise ValueError(
                "currency and rates go together: currency names the column holding each row's "
                "currency code, rates gives each code's rate into the reporting currency"
            )
        return self

    def source_columns(self) -> list[str]:
        parts = (self.times, self.per, self.currency)
        return [self.from_, *[c for c in parts if c is not None]]

    def describe(self) -> str:
        times = f" x {self.times}" if self.times else ""
        per = f" per {self.per}" if self.per else ""
        rate = f" x the rate of {self.currency}" if self.currency else ""
        return f"{self.from_} x {self.scale:g}{times}{per}{rate}"


class ShiftDerivation(StrictModel):
    """A timestamp some days or months after another column's (a monthly row ends a month after
    its month begins)."""

    from_: str = Field(alias="from")
    add_days: int | None = None
    add_months: int | None = None

    @model_validator(mode="after")
    def _one_step(self) -> ShiftDerivation:
        if (self.add_days is None) == (self.add_months is None):
            raise ValueError("a shift needs exactly one of add_days or add_months")
        return self

    def source_columns(self) -> list[str]:
        return [self.from_]

    def describe(self) -> str:
        step = f"{self.add_days} days" if self.add_days is not None else f"{self.add_months} months"
        return f"{self.from_} + {step}"


# the key that names each kind; a shift is named by add_days or add_months
DERIVATION_KINDS = ("concat", "map", "lookup", "constant", "unit", "scale")


def _derivation_kind(value: object) -> str | None:
    if isinstance(value, BaseModel):
        return {
            ConcatDerivation: "concat",
            MapDerivation: "map",
            LookupDerivation: "lookup",
            ConstantDerivation: "constant",
            PeriodDerivation: "unit",
            ScaleDerivation: "scale",
            ShiftDerivation: "shift",
        }.get(type(value))
    if not isinstance(value, dict):
        return None
    kinds = [k for k in DERIVATION_KINDS if k in value]
    if "add_days" in value or "add_months" in value:
        kinds.append("shift")  # both steps at once: the shift itself says so
    return kinds[0] if len(kinds) == 1 else None


Derivation = Annotated[
    Annotated[ConcatDerivation, Tag("concat")]
    | Annotated[MapDerivation, Tag("map")]
    | Annotated[LookupDerivation, Tag("lookup")]
    | Annotated[ConstantDerivation, Tag("constant")]
    | Annotated[PeriodDerivation, Tag("unit")]
    | Annotated[ScaleDerivation, Tag("scale")]
    | Annotated[ShiftDerivation, Tag("shift")],
    Discriminator(
        _derivation_kind,
        custom_error_type="derivation_kind",
        custom_error_message="a derivation needs exactly one of concat, map (with from), lookup "
        "(with from), constant, unit (with from), scale (with from), or add_days / add_months "
        "(with from)",
    ),
]


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
    derive: dict[str, Derivation] = Field(
        default_factory=dict,
        description="contract column -> derivation from source columns (docs/data-contract.md)",
    )

    @model_validator(mode="after")
    def _derive_or_map(self) -> TableMapping:
        both = sorted(set(self.columns) & set(self.derive))
        if both:
            raise ValueError(f"{both} both mapped under columns and derived; keep one")
        units = {c: d.unit for c, d in self.derive.items() if isinstance(d, PeriodDerivation)}
        wrong = [c for c, u in units.items() if c != "billing_period" and u in ("days", "months")]
        if wrong:
            raise ValueError(
                f"derive {wrong}: unit days or months gives a period length, only billing_period "
                "takes one (epoch_seconds or epoch_milliseconds give a timestamp)"
            )
        if units.get("billing_period", "days").startswith("epoch"):
            raise ValueError(
                "derive billing_period: unit epoch_seconds or epoch_milliseconds gives a "
                "timestamp; a billing period takes days or months"
            )
        return self


def _epoch_only_on_timestamps(name: str, mapping: TableMapping) -> None:
    from churnml.contract import TABLES

    types = {c.name: c.dtype for c in TABLES[name].columns} if name in TABLES else {}
    for col, d in mapping.derive.items():
        epoch = isinstance(d, PeriodDerivation) and d.unit.startswith("epoch")
        if epoch and types.get(col) != "timestamp":
            raise ValueError(
                f"sources.{name}.derive.{col}: unit {d.unit} gives a timestamp, and {col} is "
                "not a timestamp column"
            )
        if isinstance(d, ShiftDerivation) and types.get(col) != "timestamp":
            raise ValueError(
                f"sources.{name}.derive.{col}: add_days / add_months give a timestamp, and {col} "
                "is not a timestamp column"
            )
        numeric = types.get(col) in ("float64", "int64") or name == "accounts" and col not in types
        if isinstance(d, ScaleDerivation) and not numeric:
            raise ValueError(
                f"sources.{name}.derive.{col}: scale gives a number, and {col} is not a number "
                "column"
            )


class WarehouseConfig(StrictModel):
    path: str = "data/warehouse.duckdb"
    threads: int = Field(2, ge=1)
    memory_limit: str | None = Field(
        "4GB",
        description="DuckDB's memory for feature queries: the matrix at 50M usage events fits in "
        "4GB and the whole process then peaks under 6GB; raise it for bigger logs",
    )
    lock_timeout_seconds: float = Field(
        120.0,
        ge=0,
        description="how long to wait for another process holding the warehouse before failing",
    )
    engine: Literal["duckdb", "spark"] = Field(
        "duckdb",
        description="where features and labels are computed; spark runs the same definitions",
    )


class SparkConfig(StrictModel):
    """The Spark session used when warehouse.engine is spark (local mode or a cluster master)."""

    master: str = "local[2]"
    app_name: str = "churnml"
    shuffle_partitions: int = Field(8, ge=1)
    conf: dict[str, str] = Field(
        default_factory=dict, description="extra spark.* settings, e.g. spark.driver.memory"
    )

    @field_validator("conf")
    @classmethod
    def _spark_keys(cls, v: dict[str, str]) -> dict[str, str]:
        bad = [k for k in v if not k.startswith("spark.")]
        if bad:
            raise ValueError(f"spark.conf keys must start with 'spark.': {bad}")
        return v


class SnapshotConfig(StrictModel):
    """The grid of as-of dates at which features and labels are computed for training."""

    frequency: Literal["monthly", "weekly"] = "monthly"
    count: int = Field(12, le=240)
    end: date | None = Field(None, description="last snapshot; default: the latest data date")

    @field_validator("count")
    @classmethod
    def _at_least_two(cls, v: int) -> int:
        if v < 2:
            raise ValueError(
                f"{v} snapshot(s) cannot train a model: training learns from labelled snapshots "
                "and backtests on later ones, a churn horizon apart, so it needs at least two "
                "(and in practice a year of them); set snapshots.count to 12 (the default, "
                "monthly) or more, or leave it out"
            )
        return v


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


def default_play_kinds() -> dict[str, list[str]]:
    """Activity kinds that carry out each play of the default playbook."""
    return {
        "Executive rescue": ["meeting", "qbr"],
        "Support recovery": ["call"],
        "Re-onboarding": ["meeting"],
        "Admin rescue call": ["call"],
        "Automated re-engagement": ["email", "in_app"],
        "Renewal preparation": ["call", "meeting"],
        "Health check": ["call", "meeting"],
        "Usage review": ["email", "webinar"],
        "Best-practice nurture": ["email"],
        "Expansion conversation": ["call", "meeting"],
        "Upgrade session": ["webinar", "meeting"],
        "In-app upgrade offer": ["in_app"],
        "Quarterly business review": ["qbr"],
        "Office hours": ["webinar", "email"],
    }


class ActivityConfig(StrictModel):
    """The CS activity log (sources.cs_activities): which touches are human, which carry out a
    play (docs/plays.md)."""

    human_kinds: list[str] = Field(
        default_factory=lambda: ["call", "email", "meeting", "qbr"],
        min_length=1,
        description="activity kinds that count as a human touch (compared in lower case)",
    )
    play_kinds: dict[str, list[str]] = Field(
        default_factory=default_play_kinds,
        description="play name -> activity kinds that carry it out; an activity naming the play "
        "in its play column always counts",
    )
    min_accounts: int = Field(
        5, ge=1, description="fewest comparable accounts on each side for a play's estimate"
    )
    confidence: float = Field(0.95, gt=0.5, lt=1, description="level of the intervals shown")
    table: str = Field(
        "play_effects", description="warehouse table of the play measurements, per evaluated as-of"
    )

    @field_validator("table")
    @classmethod
    def _table_identifier(cls, v: str) -> str:
        return _check_identifier(v, "table")

    @field_validator("human_kinds")
    @classmethod
    def _lower_kinds(cls, v: list[str]) -> list[str]:
        return sorted({k.strip().lower() for k in v})

    @field_validator("play_kinds")
    @classmethod
    def _lower_play_kinds(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        return {play: sorted({k.strip().lower() for k in kinds}) for play, kinds in v.items()}


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
    earliest_date: date = Field(
        date(1990, 1, 1),
        description="timestamps before this day are an input error (1970-01-01 is a null "
        "exported as zero)",
    )
    same_plan_overlap: Literal["refuse", "sum"] = Field(
        "refuse",
        description="subscriptions of one account overlapping in time on the same plan: refuse "
        "them (usually a duplicate export), or sum their MRR like parallel subscriptions",
    )


class RetryConfig(StrictModel):
    """Retries of steps that touch the outside world (source reads)."""

    source_reads: int = Field(2, ge=0, description="retries after a failed source read")
    delay_seconds: float = Field(5.0, ge=0)


class LabelConfig(StrictModel):
    """How outcomes are read off the data (docs/training.md, "Labels")."""

    churn_horizon_days: int = Field(90, ge=1)
    reactivation_gap_days: int = Field(
        30,
        ge=1,
        description="a customer back within this many days has not churned; below 1 day every "
        "contiguous renewal row would count as a churn",
    )
    upsell_horizon_days: int = Field(90, ge=1)
    upsell_min_mrr_share: float = Field(0.10, ge=0)
    upsell_min_mrr_amount: float = Field(0.0, ge=0)
    plan_order: list[str] = Field(default_factory=list, description="plans from lowest to highest")
    churn_source: Literal["subscriptions", "churn_events", "account_status"] = Field(
        "subscriptions",
        description="subscription ends, a churn_events table, or accounts.status/churned_at",
    )
    upsell_source: Literal["subscriptions", "expansion_events"] = Field(
        "subscriptions", description="subscription changes, or an expansion_events table"
    )
    churned_statuses: list[str] = Field(
        default_factory=lambda: ["churned", "cancelled"],
        min_length=1,
        description="accounts.status values meaning churned (churn_source: account_status)",
    )
    trials: Literal["not_customers", "customers"] = Field(
        "not_customers",
        description="subscriptions.trial_end_at: a row counts from its trial's end and a trial "
        "that never converted is not churn (not_customers), or trials count as paying (customers)",
    )
    zero_mrr: Literal["customers", "not_customers"] = Field(
        "customers",
        description="subscription rows at MRR 0 (free plans, trials stored as rows of their "
        "own): customer time (customers), or none, so that paying is becoming a customer",
    )


class TrainingConfig(StrictModel):
    """LightGBM defaults lean regularised (few leaves, large leaves, strong L2, half the features
    per tree): churn data sets are thousands of accounts with correlated snapshots, where deeper
    trees memorise accounts instead of learning signals."""

    targets: list[Literal["churn", "upsell"]] = Field(
        default_factory=lambda: ["churn", "upsell"],
        min_length=1,
        description="targets to train and score; a target the data cannot support is skipped",
    )
    random_state: int = 42
    n_estimators: int = Field(800, ge=10, description="the most trees any fit may grow")
    min_trees: int = Field(
        50, ge=1, description="the fewest trees a judged or registered model may have"
    )
    min_leaf_positives: float = Field(
        5.0,
        ge=0,
        description="rows per leaf grow so a leaf expects this many positives (rare outcomes)",
    )
    learning_rate: float = Field(0.03, gt=0, le=1)
    num_leaves: int = Field(7, ge=2)
    max_depth: int = Field(6, ge=-1)
    min_child_samples: int = Field(100, ge=1)
    feature_fraction: float = Field(0.5, gt=0, le=1)
    bagging_fraction: float = Field(0.8, gt=0, le=1)
    lambda_l2: float = Field(10.0, ge=0)
    path_smooth: float = Field(
        0.0, ge=0, description="shrink each leaf's value towards its parent's (small leaves most)"
    )
    candidate_max_rows: int = Field(
        50_000,
        ge=0,
        description="up to this many labelled rows, the folds choose among a few parameter sets "
        "(the configured one, shallower and more regularised, sparser); 0 never",
    )
    max_feature_correlation: float = Field(
        0.98,
        gt=0,
        le=1,
        description="drop a feature whose absolute rank correlation with an earlier one reaches "
        "this (1: only exact rank copies); constant features are always dropped",
    )
    linear_blend_weights: list[float] = Field(
        default_factory=lambda: [0.0, 0.25, 0.5, 0.75],
        min_length=1,
        description="weights of a linear part blended with the trees in log-odds, chosen by the "
        "folds (0, trees alone, is always a choice); [0] switches the blend off",
    )
    linear_blend_rule: Literal["best_fold_auc", "one_se", "stacked"] = Field(
        "stacked",
        description="how the folds choose the blend weight: the highest mean fold AUC; the "
        "weight nearest an even blend (0.5) unless the best is ahead by more than one standard "
        "error over the folds; or a logistic regression of the out-of-fold outcomes on both "
        "parts' log-odds (w = b / (a + b), within the weights' range)",
    )
    choice_folds: int = Field(
        6,
        ge=1,
        description="up to candidate_max_rows labelled rows, the trees, parameter set and blend "
        "weight are chosen over up to this many time-ordered folds (never fewer than "
        "backtest_folds); the reported backtest and the calibration stay on the last "
        "backtest_folds",
    )
    early_stopping_rounds: int = Field(40, ge=1)
    num_threads: int = Field(2, ge=1, description="LightGBM threads for binning, boosting, scoring")
    max_bin: int = Field(
        63, ge=3, le=255, description="histogram bins per feature (fewer bins, faster trees)"
    )
    max_fit_rows: int | None = Field(
        200_000,
        ge=1_000,
        description="the most rows one LightGBM fit learns from: above it every positive is kept "
        "and negatives are sampled per snapshot, weighted to their full count (None: no cap)",
    )
    large_data_learning_rate: float | None = Field(
        0.1,
        gt=0,
        le=1,
        description="learning rate (when above learning_rate) of a target whose labelled rows "
        "exceed max_fit_rows: fewer trees where data is plentiful (None: learning_rate always)",
    )
    validation_snapshots: int = Field(2, ge=1)
    backtest_folds: int = Field(
        3, ge=1, description="rolling out-of-time folds reported beside the final test"
    )
    min_auc: float = Field(0.6, ge=0.5, le=1)
    optuna_trials: int = Field(
        0, ge=0, description="Optuna trials per target; 0 trains with the parameters above"
    )
    optuna_timeout_seconds: float | None = Field(
        None, gt=0, description="stop tuning a target after this long, whatever the trials"
    )
    size_bands_arr: list[float] = Field(
        default_factory=lambda: [12_000.0, 60_000.0, 250_000.0],
        description="ARR edges of the size bands used for per-segment metrics",
    )

    @field_validator("targets")
    @classmethod
    def _distinct_targets(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError(f"targets must not repeat a target, got {v}")
        return v

    @field_validator("linear_blend_weights")
    @classmethod
    def _blend_weights(cls, v: list[float]) -> list[float]:
        bad = [w for w in v if not 0 <= w < 1]
        if bad:
            raise ValueError(
                f"linear_blend_weights must lie in [0, 1) (1 would drop the trees), got {bad}"
            )
        return sorted(set(v))

    @field_validator("size_bands_arr")
    @classmethod
    def _increasing(cls, v: list[float]) -> list[float]:
        if any(b <= a for a, b in zip(v, v[1:], strict=False)) or any(x <= 0 for x in v):
            raise ValueError("size_bands_arr must be positive and strictly increasing")
        return v

    @model_validator(mode="after")
    def _trees_above_floor(self) -> TrainingConfig:
        if self.n_estimators < self.min_trees:
            raise ValueError(
                f"n_estimators ({self.n_estimators}) is below min_trees ({self.min_trees})"
            )
        return self


class MlflowConfig(StrictModel):
    tracking_uri: str = "sqlite:///mlruns/mlflow.db"
    artifact_root: str = "mlruns/artifacts"
    experiment: str = "churnml"
    churn_model_name: str = "churnml-churn"
    upsell_model_name: str = "churnml-upsell"

    @field_validator("tracking_uri")
    @classmethod
    def _no_password(cls, v: str) -> str:
        from churnml.urls import has_secret

        if has_secret(v):  # the message never repeats the URL
            raise ValueError(
                "must not contain a password; set the environment variable MLFLOW_TRACKING_URI"
            )
        return v


class PlayRule(StrictModel):
    """One playbook rule: when it matches (unset = any value), what to do, who, by when."""

    name: str = Field(min_length=1)
    action: str = Field(min_length=1, description="what the owner does, in the CSM's words")
    churn_tier: list[str] | None = None
    upsell_tier: list[str] | None = None
    touch_model: list[str] | None = None
    top_driver_family: list[str] | None = Field(
        None, description="family of the account's strongest churn driver"
    )
    owner: Literal["csm", "queue"] = Field(
        "csm", description="the account's CSM (queue if it has none) or always the queue"
    )
    queue: str | None = Field(None, description="default: 'CS <touch>-touch queue'")
    due_in_days: int = Field(7, ge=0)

    @model_validator(mode="after")
    def _known_values(self) -> PlayRule:
        for field, allowed in (
            ("churn_tier", TIER_NAMES),
            ("upsell_tier", TIER_NAMES),
            ("touch_model", TOUCH_MODELS),
            ("top_driver_family", DRIVER_FAMILIES),
        ):
            values = getattr(self, field)
            unknown = sorted(set(values or []) - set(allowed))
            if unknown:
                raise ValueError(
                    f"play {self.name!r}: unknown {field} {unknown}; expected any of {list(allowed)}"
                )
        return self

    @property
    def is_catch_all(self) -> bool:
        return not any(
            (self.churn_tier, self.upsell_tier, self.touch_model, self.top_driver_family)
        )


def _read_default_playbook() -> list[dict]:
    from importlib.resources import files

    return yaml.safe_load(files("churnml.defaults").joinpath("playbook.yaml").read_text("utf-8"))


# The playbook is data, not code: defaults/playbook.yaml, read once here and checked on each use.
_DEFAULT_PLAYBOOK = _read_default_playbook()


def default_playbook() -> list[PlayRule]:
    """Rescue first, then expansion, then cadence; the touch model decides how (CONTEXT.md)."""
    return [PlayRule(**rule) for rule in _DEFAULT_PLAYBOOK]


class OutreachConfig(StrictModel):
    capacity_top_k: int = Field(50, ge=1)
    high_touch_min_arr: float = Field(50_000, ge=0)
    low_touch_min_arr: float = Field(10_000, ge=0)
    churn_tier_thresholds: tuple[float, float] = (0.15, 0.35)
    upsell_tier_thresholds: tuple[float, float] = (0.20, 0.40)
    playbook: list[PlayRule] = Field(
        default_factory=default_playbook,
        description="ordered rules; the first that matches gives the play; the last matches all",
    )
    expected_expansion_share: float = Field(
        0.2, ge=0, description="ARR growth of an expansion when the history shows none"
    )

    @field_validator("playbook")
    @classmethod
    def _ends_with_catch_all(cls, v: list[PlayRule]) -> list[PlayRule]:
        if not v or not v[-1].is_catch_all:
            raise ValueError(
                "the playbook's last rule must match every account (no churn_tier, upsell_tier, "
                "touch_model or top_driver_family), so every account gets a play"
            )
        return v


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
    report_max_accounts: int = Field(
        5000, ge=1, description="accounts in the HTML outreach list (ranked by ARR at risk)"
    )


class TrackRecordConfig(StrictModel):
    """`churnml evaluate`: which sink's score history to read and where the record is kept."""

    sink: Literal["duckdb", "postgres", "parquet", "csv"] | None = Field(
        None, description="the output sink whose history is evaluated; default: the first sink"
    )
    table: str = Field("track_record", description="warehouse table, one row per evaluated as-of")
    calibration_bins: int = Field(10, ge=2, le=50)
    report_rows: int = Field(
        6, ge=1, description="evaluated as-ofs shown in the scoring report's track record"
    )

    @field_validator("table")
    @classmethod
    def _table_identifier(cls, v: str) -> str:
        return _check_identifier(v, "table")


class KpiConfig(StrictModel):
    """The CS leader's KPI board and next quarter's forecast (docs/kpis.md)."""

    months: int = Field(24, ge=1, le=120, description="complete months shown on the KPI board")
    onboarding_days: int = Field(
        60,
        ge=1,
        description="an account completes onboarding when it reaches every milestone in "
        "features.onboarding_events within this many days of its start",
    )
    forecast_interval: float = Field(
        0.9, gt=0, lt=1, description="coverage of the forecast's interval (normal approximation)"
    )
    table: str = Field("cs_kpis", description="warehouse table of the board, one set per as-of")
    forecast_table: str = Field(
        "cs_forecast", description="warehouse table of the forecast, one set per as-of"
    )

    @field_validator("table", "forecast_table")
    @classmethod
    def _table_identifier(cls, v: str) -> str:
        return _check_identifier(v, "table")


def check_cron(expr: str) -> str:
    """A cron expression the scheduler itself accepts: Prefect's own ``CronSchedule`` (its
    vendored croniter) reads it, so a config that loads is a schedule that deploys."""
    from prefect.client.schemas.schedules import CronSchedule

    try:
        CronSchedule(cron=expr)
    except ValueError:
        raise ValueError(
            f"cron {expr!r} is not a schedule Prefect can run; write five fields "
            "(minute hour day-of-month month day-of-week), e.g. '0 6 * * mon-fri'"
        ) from None
    return expr


class ScheduleConfig(StrictModel):
    """When `churnml serve` scores and retrains (cron, in the given time zone)."""

    scoring_cron: str = "0 6 * * *"
    training_cron: str = "0 3 1 * *"
    timezone: str = "UTC"
    scoring_enabled: bool = True
    training_enabled: bool = True
    lang: Literal["en", "ja"] = "en"

    @field_validator("scoring_cron", "training_cron")
    @classmethod
    def _cron(cls, v: str) -> str:
        return check_cron(v)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {v!r}; use an IANA name like 'Asia/Tokyo'"
            ) from exc
        return v


class DriftConfig(StrictModel):
    """PSI thresholds comparing each scoring run with the champion's training data (docs/drift.md)."""

    enabled: bool = True
    bins: int = Field(10, ge=2, le=100, description="quantile bins per numeric feature and score")
    epsilon: float = Field(1e-4, gt=0, le=0.01, description="share used for an empty bin")
    feature_warn: float = Field(0.1, gt=0)
    feature_alert: float = Field(0.25, gt=0)
    score_warn: float = Field(0.1, gt=0)
    score_alert: float = Field(0.25, gt=0)
    on_drift: Literal["warn", "fail"] = Field(
        "warn", description="warn: mark the run and write as usual; fail: stop before writing"
    )
    ignore_features: list[str] = Field(
        default_factory=list, description="measured and logged, but never mark the run drifted"
    )
    history_counters: Literal["ignore", "judge"] = Field(
        "ignore",
        description="counts over an account's whole history (*_lifetime, counts so far): "
        "ignore: measured and logged, never mark the run; judge: like any feature",
    )
    report_top_features: int = Field(10, ge=1, description="features listed in the report")

    @model_validator(mode="after")
    def _warn_below_alert(self) -> DriftConfig:
        for kind in ("feature", "score"):
            warn, alert = getattr(self, f"{kind}_warn"), getattr(self, f"{kind}_alert")
            if warn > alert:
                raise ValueError(
                    f"drift.{kind}_warn ({warn}) must not exceed {kind}_alert ({alert})"
                )
        return self


class ChurnmlConfig(StrictModel):
    """The whole deployment: sources, mapping, horizons, training, outreach and outputs."""

    warehouse: WarehouseConfig = WarehouseConfig()
    spark: SparkConfig = SparkConfig()
    sources: dict[str, TableMapping]
    snapshots: SnapshotConfig = SnapshotConfig()
    features: FeatureConfig = FeatureConfig()
    labels: LabelConfig = LabelConfig()
    training: TrainingConfig = TrainingConfig()
    mlflow: MlflowConfig = MlflowConfig()
    outreach: OutreachConfig = OutreachConfig()
    output: OutputConfig = OutputConfig()
    schedules: ScheduleConfig = ScheduleConfig()
    validation: ValidationConfig = ValidationConfig()
    retries: RetryConfig = RetryConfig()
    drift: DriftConfig = DriftConfig()
    track_record: TrackRecordConfig = TrackRecordConfig()
    kpis: KpiConfig = KpiConfig()
    activity: ActivityConfig = ActivityConfig()
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

    @model_validator(mode="after")
    def _derived_contract_columns(self) -> ChurnmlConfig:
        from churnml.contract import TABLES

        attributes = set(self.features.account_attributes_categorical) | set(
            self.features.account_attributes_numeric
        )
        for name, mapping in self.sources.items():
            allowed = set(TABLES[name].column_names) if name in TABLES else set()
            allowed |= attributes if name == "accounts" else set()
            unknown = sorted(set(mapping.derive) - allowed)
            if unknown:
                raise ValueError(
                    f"sources.{name}.derive names {unknown}, which are not contract columns of "
                    f"{name} (contract: {sorted(allowed)}); derive only contract columns"
                )
            _epoch_only_on_timestamps(name, mapping)
            if mapping.account_key is not None and "account_id" in mapping.derive:
                raise ValueError(
                    f"sources.{name}: account_id is both derived and reached through account_key"
                )
        return self

    @model_validator(mode="after")
    def _outcome_tables(self) -> ChurnmlConfig:
        """Each outcome source needs its table; a playbook rule needs its family's table."""
        needs = {
            "churn_events": ("churn_source", "churn_events"),
            "expansion_events": ("upsell_source", "expansion_events"),
        }
        for table, (key, value) in needs.items():
            if getattr(self.labels, key) == value and table not in self.sources:
                raise ValueError(
                    f"labels.{key} is {value} but sources.{table} is not configured; map it "
                    f"(columns {_contract_columns(table)}) or set labels.{key}: subscriptions"
                )
        if "subscriptions" not in self.sources and self.labels.churn_source == "subscriptions":
            raise ValueError(
                "no churn outcome: sources.subscriptions is not configured and labels.churn_source "
                "is subscriptions; map sources.subscriptions, or a churn table (sources."
                "churn_events with labels.churn_source: churn_events), or accounts.status and "
                "accounts.churned_at (labels.churn_source: account_status)"
            )
        if "outreach" in self.model_fields_set and "playbook" in self.outreach.model_fields_set:
            for rule in self.outreach.playbook:
                absent = [
                    f for f in rule.top_driver_family or [] if FAMILY_TABLES[f] not in self.sources
                ]
                if absent:
                    raise ValueError(
                        f"outreach.playbook rule {rule.name!r}: top_driver_family {absent} cannot "
                        f"occur because sources.{FAMILY_TABLES[absent[0]]} is not configured; "
                        "remove the family from the rule or map the table"
                    )
        if "activity" in self.model_fields_set and "play_kinds" in self.activity.model_fields_set:
            names = {rule.name for rule in self.outreach.playbook}
            unknown = sorted(set(self.activity.play_kinds) - names)
            if unknown:
                raise ValueError(
                    f"activity.play_kinds names {unknown}, which are not plays of the playbook "
                    f"(plays: {sorted(names)})"
                )
        return self

    def resolve(self, path: str) -> Path:
        """A config path made absolute against the config file's folder."""
        p = Path(os.path.expandvars(path)).expanduser()
        if p.is_absolute():
            return p
        try:
            return (Path(self.base_dir) / p).resolve()
        except (RuntimeError, OSError):  # a symbolic link loop: the reader names it
            return Path(os.path.abspath(Path(self.base_dir) / p))


def _contract_columns(table: str) -> list[str]:
    from churnml.contract import TABLES

    return TABLES[table].column_names


class ConfigError(ValueError):
    """The config file is missing, unreadable, or does not match the model."""


class _RepeatedKey(ValueError):
    """A key written twice in one mapping of the config file."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML keeps the last of two equal keys without a word: a second `labels:` section would
    silently drop the first one's settings. Refuse it, naming both lines."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if isinstance(key, str | int | float | bool) and key in seen:
                raise _RepeatedKey(
                    f"key {key!r} is written twice in one section (lines {seen[key]} and {line}); "
                    "the second would replace the first: merge them into one"
                )
            seen.setdefault(key, line)
        return super().construct_mapping(node, deep)


def load_config(path: str | Path) -> ChurnmlConfig:
    """Read and validate a churnml YAML file; relative paths resolve against its folder.

    Errors are one line each (where, what) and never repeat a value from the file, which could
    be a secret written in the wrong place.
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(
            f"config file {path} does not exist; check the path (to start a config, "
            "copy src/churnml/defaults/churnml.yaml)"
        )
    if path.is_dir():
        raise ConfigError(f"config file {path} is a folder; give the path of churnml.yaml")
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text; save it as UTF-8") from None
    except _RepeatedKey as exc:
        raise ConfigError(f"config file {path}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "cannot be parsed"
        raise ConfigError(f"config file {path} is not valid YAML{where}: {problem}") from None
    if raw is None:
        raise ConfigError(
            f"config file {path} is empty (no setting in it); start from a copy of "
            "src/churnml/defaults/churnml.yaml and point its sources at your tables"
        )
    if not isinstance(raw, dict):
        raise ConfigError(
            f"config file {path} must hold a mapping at the top level (sources:, warehouse:, "
            "...); is it the config? see src/churnml/defaults/churnml.yaml"
        )
    refuse_secrets(raw, path)
    refuse_unset_variables(raw, path)
    raw.setdefault("base_dir", str(path.resolve().parent))
    from pydantic import ValidationError

    try:
        return ChurnmlConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"config file {path} is invalid: {render_errors(exc)}") from None


def render_errors(exc) -> str:
    """A pydantic ValidationError as one line of 'location: message' parts, without the input
    values."""
    import difflib

    lines = []
    for error in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden" and error["loc"]:
            typo = str(error["loc"][-1])
            meant = difflib.get_close_matches(typo, _config_keys(), 1, 0.75)
            message += (
                f" (did you mean {meant[0]!r}?)" if meant else " (no key of that name: remove it)"
            )
        if error["type"] in ("dict_type", "model_type") and error["loc"]:
            message = "should be a section of `key: value` lines, not a list or a single value"
        lines.append(f"{where}: {message}")
    return "; ".join(lines)  # one line, however many mistakes


def _config_keys() -> list[str]:
    """Every key any part of the config knows, for 'did you mean' on an unknown one."""
    keys: set[str] = set()
    models = [StrictModel]
    while models:
        model = models.pop()
        keys |= set(model.model_fields)
        models += model.__subclasses__()
    return sorted(keys)


def _secret_home(where: str) -> str:
    if where.startswith("mlflow"):
        return "the environment variable MLFLOW_TRACKING_URI"
    if where.startswith("spark"):
        return "Spark's own configuration (spark-defaults.conf or the environment)"
    if where.startswith("output"):
        return (
            "the environment variable named by the sink's url_env (default CHURNML_POSTGRES_URL) "
            "or a Prefect Secret block named by url_secret"
        )
    return (
        "the environment variable named by the source's url_env (default CHURNML_SOURCE_URL) "
        "or a Prefect Secret block named by url_secret"
    )


def _leaves(node, where: str = ""):
    """(dotted place, key, value) of every value in a parsed YAML tree that is not itself a
    mapping or a list."""
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    for key, value in items:
        here = f"{where}.{key}" if where else str(key)
        if isinstance(value, (dict, list)):
            yield from _leaves(value, here)
        else:
            yield here, key, value


def refuse_secrets(node, path: Path) -> None:
    """Refuse a URL carrying a password anywhere in the file (any key, known or not), naming
    where it was written and where it belongs, without printing it."""
    from churnml.urls import has_secret

    for here, key, value in _leaves(node):
        if any(isinstance(v, str) and has_secret(v) for v in (key, value)):
            raise ConfigError(
                f"config file {path}: {here} holds a URL with a password; secrets never go in the "
                f"file: put the URL in {_secret_home(here)}"
            )


# The keys whose values are paths: `ChurnmlConfig.resolve` expands $VARIABLES in them.
_PATH_KEYS = ("path", "database", "report_dir", "artifact_root", "tracking_uri")


def refuse_unset_variables(node, path: Path) -> None:
    """Refuse a path naming an environment variable that is not set: it would stay in the path
    as written, and a folder literally named `${WAREHOUSE_DIR}` would be created."""
    import re

    for here, key, value in _leaves(node):
        if isinstance(value, str) and str(key) in _PATH_KEYS:
            unset = [
                name
                for name in re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", value)
                if name not in os.environ
            ]
            if unset:
                raise ConfigError(
                    f"config file {path}: {here} names environment variable {unset[0]}, which "
                    f"is not set; set it (export {unset[0]}=...) or write the path out"
                )


def default_config(base_dir: str | Path = ".", warehouse: str | None = None) -> ChurnmlConfig:
    """The embedded default: the demo tables in the DuckDB warehouse, MLflow on SQLite."""
    from importlib.resources import files

    raw = yaml.safe_load(files("churnml.defaults").joinpath("churnml.yaml").read_text("utf-8"))
    raw["base_dir"] = str(Path(base_dir).resolve())
    if warehouse is not None:
        raw.setdefault("warehouse", {})["path"] = warehouse
    return ChurnmlConfig.model_validate(raw)
