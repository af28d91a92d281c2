"""The training matrix: features and labels for every active account at every as-of."""

from __future__ import annotations

from datetime import date, datetime

import ibis
import ibis.expr.types as ir

from churnml.config import LabelConfig
from churnml.features import FeatureSpec, build_features
from churnml.labels import build_labels, outcome_churns, outcome_tables
from churnml.snapshots import as_of_table, population
from churnml.trials import observed_start

# The columns that date each table's records (whichever tables are configured).
TIME_COLUMNS = {
    "usage_events": ("occurred_at",),
    "support_tickets": ("opened_at",),
    "subscriptions": ("start_at",),
    "nps_responses": ("responded_at",),
    "churn_events": ("churned_at",),
    "expansion_events": ("occurred_at",),
    "cs_activities": ("occurred_at",),
    "accounts": ("churned_at",),
}


def observed_until(tables: dict[str, ir.Table]) -> datetime:
    """The latest instant the data covers: the last event, ticket, answer, contract change or
    recorded outcome, over the tables that are configured."""
    latest = [
        tables[name].aggregate(end=_observed(tables[name], column).max().cast("timestamp"))
        for name, columns in TIME_COLUMNS.items()
        if name in tables
        for column in columns
        if column in tables[name].columns
    ]
    # one query for all tables: each mapped source is read once, not once per column
    end = ibis.union(*latest).end.max().to_pyarrow().as_py() if latest else None
    if end is None:
        raise ValueError("the sources hold no timestamps: nothing to learn from")
    return end.replace(tzinfo=None)


def _observed(table: ir.Table, column: str) -> ir.Value:
    return observed_start(table) if column == "start_at" else table[column]


def spine_for(
    tables: dict[str, ir.Table], as_of_dates: list[date], labels: LabelConfig | None = None
) -> ir.Table:
    """The accounts active at each as-of; with a label config, churns recorded apart from the
    subscriptions (labels.churn_source) also end an account's activity (without subscriptions
    they and the accounts' creation dates decide who is a customer, snapshots.population)."""
    churns = outcome_churns(tables, labels) if labels is not None else None
    return population(tables, as_of_table(as_of_dates), churns)


def feature_matrix(
    tables: dict[str, ir.Table],
    as_of_dates: list[date],
    spec: FeatureSpec,
    labels: LabelConfig | None = None,
    data_end: datetime | None = None,
    population: LabelConfig | None = None,
) -> ir.Table:
    """Features (and, when a label config is given, labels) on the active-account spine.

    Unlabelled (scoring), ``population`` gives the label config whose churn source decides who
    is still a customer; labelled, ``labels`` does.
    """
    spine = spine_for(tables, as_of_dates, labels or population)
    if labels is None:
        return build_features(tables, spine, spec, as_of_dates)
    features = build_features(tables, spine, spec, as_of_dates, ordered=False)
    if data_end is None:
        raise ValueError("labels need the data end (observed_until)")
    churns, expansions = outcome_tables(tables, labels)
    y = build_labels(tables.get("subscriptions"), spine, labels, data_end, churns, expansions)
    out = features.inner_join(y, ["account_id", "as_of"]).select(
        features, y.churn_label, y.churn_at, y.upsell_label
    )
    return out.order_by(["as_of", "account_id"])
