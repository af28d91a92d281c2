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
        Column("name", "string", required=False),  # absent: the account_id is shown
        Column("created_at", "timestamp", required=False),  # absent: first subscription start
        Column("plan", "string", required=False),
        Column("segment", "string", required=False),
        Column("industry", "string", required=False),
        Column("region", "string", required=False),
        Column("csm_owner", "string", required=False),
        # for labels.churn_source: account_status (a churned status plus the date it happened)
        Column("status", "string", required=False),
        Column("churned_at", "timestamp", required=False),
        # current MRR, for the money columns when no subscriptions are mapped (never a feature:
        # it is today's value, not the value at an as-of)
        Column("mrr", "float64", required=False),
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
        # a free trial's end: before it the row is not paid (labels.trials, churnml.trials)
        Column("trial_end_at", "timestamp", required=False),
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

CS_ACTIVITIES = Table(
    "cs_activities",
    (
        Column("account_id", "string"),
        Column("occurred_at", "timestamp"),
        Column("kind", "string"),  # call, email, meeting, qbr, in_app, ... (lower case)
        Column("owner", "string", required=False),
        Column("play", "string", required=False),  # the playbook play it carried out, if any
    ),
    time_column="occurred_at",
    optional=True,
)

# Optional contract columns whose absence is filled in later, and how (shown by the profile).
FALLBACKS = {
    "accounts": {
        "name": "the account_id is shown instead",
        "created_at": "tenure counts from the account's first subscription start (required "
        "when sources.subscriptions is not configured)",
    }
}

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
        CS_ACTIVITIES,
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
    "cs_activities",
)


# Billing periods: a name, a number of months, or "N days" (written by a `unit: days` derivation).
DAYS_PER_MONTH = 365.25 / 12
BILLING_PERIOD_MONTHS = {
    "month": 1,
    "monthly": 1,
    "quarter": 3,
    "quarterly": 3,
    "semiannual": 6,
    "semi-annual": 6,
    "semiannually": 6,
    "half-yearly": 6,
    "annual": 12,
    "annually": 12,
    "year": 12,
    "yearly": 12,
}
PERIOD_NUMBER = r"^[0-9]+(\.[0-9]+)?$"
PERIOD_DAYS = r"^[0-9]+(\.[0-9]+)? *days?$"
LONG_CONTRACT_DAYS = 360.0  # a year or longer, whatever the day count convention


def billing_period_days(period: ir.Value) -> ir.FloatingValue:
    """The length of a billing period in days (NULL for a value that is not a period).

    The one reading of ``subscriptions.billing_period``: names (monthly, quarterly, semiannual,
    annual, yearly), a number of months (1, 6, 12) or "N days"; months count 365.25 / 12 days.
    """
    text = period.cast("string").strip().lower()
    named = [(text == k, m * DAYS_PER_MONTH) for k, m in BILLING_PERIOD_MONTHS.items()]
    length = ibis.cases(
        *named,
        (text.re_search(PERIOD_NUMBER), text.cast("float64") * DAYS_PER_MONTH),
        (text.re_search(PERIOD_DAYS), text.re_extract(r"^([0-9.]+)", 1).cast("float64")),
        else_=ibis.null("float64"),
    )
    return ibis.ifelse(length > 0, length, ibis.null("float64"))


def days_as_period(days: ir.Value) -> ir.StringValue:
    """A period length given in days, written the way `billing_period_days` reads it back."""
    number = days.cast("string").strip()
    return ibis.ifelse(number.re_search(PERIOD_NUMBER), number.concat(" days"), ibis.null("string"))


def account_created_at(accounts: ir.Table, subscriptions: ir.Table) -> ir.Table:
    """account_id and when the account began: created_at, or its first subscription start.

    The one fallback for accounts without a creation date, for anything comparing dates with
    the account's beginning (tenure, events before the account existed).
    """
    first = subscriptions.group_by("account_id").aggregate(first_start=subscriptions.start_at.min())
    joined = accounts.select("account_id", "created_at").left_join(first, "account_id")
    return joined.select(
        "account_id", created_at=ibis.coalesce(joined.created_at, joined.first_start)
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
