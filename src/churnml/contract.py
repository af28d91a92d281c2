"""The canonical tables churnml reads: columns, types, which are required, and defaults.

docs/data-contract.md explains each column to users; this module is the same contract as data,
used by the mapping (io.sources), the validation checks and the pandera schemas.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

# A text timestamp that ends in a UTC offset or "Z" after its time of day.
OFFSET_PATTERN = r"\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|[+-]\d{2}(:?\d{2})?)$"


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str  # ibis type name: string, timestamp, float64, int64, boolean
    required: bool = True
    default: object = None


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    time_column: str | None = None
    optional: bool = False

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


ACCOUNTS = Table(
    "accounts",
    (
        Column("account_id", "string"),
        Column("name", "string"),
        Column("created_at", "timestamp"),
        Column("plan", "string", required=False),
        Column("segment", "string", required=False),
        Column("industry", "string", required=False),
        Column("region", "string", required=False),
        Column("csm_owner", "string", required=False),
        # for labels.churn_source: account_status (a churned status plus the date it happened)
        Column("status", "string", required=False),
        Column("churned_at", "timestamp", required=False),
    ),
    key=("account_id",),
    time_column="created_at",
)

SUBSCRIPTIONS = Table(
    "subscriptions",
    (
        Column("subscription_id", "string"),
        Column("account_id", "string"),
        Column("start_at", "timestamp"),
        Column("end_at", "timestamp", required=False),
        Column("mrr", "float64"),
        Column("plan", "string"),
        Column("seats", "int64", required=False),
        Column("billing_period", "string", required=False, default="monthly"),
    ),
    key=("subscription_id",),
    time_column="start_at",
)

USAGE_EVENTS = Table(
    "usage_events",
    (
        Column("account_id", "string"),
        Column("occurred_at", "timestamp"),
        Column("event_type", "string"),
        Column("user_id", "string", required=False),
        Column("quantity", "float64", required=False, default=1.0),
    ),
    time_column="occurred_at",
    optional=True,
)

SUPPORT_TICKETS = Table(
    "support_tickets",
    (
        Column("ticket_id", "string"),
        Column("account_id", "string"),
        Column("opened_at", "timestamp"),
        Column("closed_at", "timestamp", required=False),
        Column("status", "string", required=False),
        Column("category", "string", required=False),
        Column("priority", "string", required=False),
        Column("first_response_at", "timestamp", required=False),
        Column("satisfaction", "float64", required=False),
        Column("escalated", "boolean", required=False, default=False),
    ),
    key=("ticket_id",),
    time_column="opened_at",
    optional=True,
)

NPS_RESPONSES = Table(
    "nps_responses",
    (
        Column("account_id", "string"),
        Column("responded_at", "timestamp"),
        Column("score", "int64"),
    ),
    time_column="responded_at",
    optional=True,
)

CHURN_EVENTS = Table(
    "churn_events",
    (
        Column("account_id", "string"),
        Column("churned_at", "timestamp"),
        Column("reason", "string", required=False),
    ),
    time_column="churned_at",
    optional=True,
)

EXPANSION_EVENTS = Table(
    "expansion_events",
    (
        Column("account_id", "string"),
        Column("occurred_at", "timestamp"),
        Column("amount", "float64", required=False),  # MRR added; empty: every event counts
    ),
    time_column="occurred_at",
    optional=True,
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        ACCOUNTS,
        SUBSCRIPTIONS,
        USAGE_EVENTS,
        SUPPORT_TICKETS,
        NPS_RESPONSES,
        CHURN_EVENTS,
        EXPANSION_EVENTS,
    )
}

# Order in which tables are mapped: a table may reach account_id through one mapped before it.
LOAD_ORDER = (
    "accounts",
    "subscriptions",
    "support_tickets",
    "nps_responses",
    "usage_events",
    "churn_events",
    "expansion_events",
)


def cast_to_contract(column: ir.Column, dtype: str) -> ir.Column:
    """Cast to the contract type; values that do not parse become NULL (validation reports them)."""
    if dtype == "timestamp":
        if column.type().is_timestamp():
            # Offset-aware values are converted to UTC (the session zone), then made naive.
            return column.cast("timestamp") if column.type().timezone else column
        if column.type().is_date():
            return column.cast("timestamp")
        # Through TIMESTAMPTZ so a written offset is honoured (converted to UTC, the session
        # zone); a plain TIMESTAMP cast would silently drop it. Naive text is read as UTC.
        return column.cast("string").try_cast(dt.Timestamp(timezone="UTC")).cast("timestamp")
    if dtype == "boolean" and column.type().is_string():
        lowered = column.lower().strip()
        return ibis.cases(
            (lowered.isin(["true", "t", "1", "yes", "y"]), True),
            (lowered.isin(["false", "f", "0", "no", "n", ""]), False),
            else_=ibis.null("boolean"),
        )
    if dtype == "string":
        return column.cast("string")
    return column.try_cast(dtype)
