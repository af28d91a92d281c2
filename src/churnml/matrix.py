"""The training matrix: features and labels for every active account at every as-of."""

from __future__ import annotations

from datetime import date, datetime

import ibis.expr.types as ir

from churnml.config import LabelConfig
from churnml.features import FeatureSpec, build_features
from churnml.labels import build_labels
from churnml.snapshots import active_accounts, as_of_table


def observed_until(tables: dict[str, ir.Table]) -> datetime:
    """The latest instant the data covers: the last event, ticket, answer or contract change."""
    stamps = [
        tables["usage_events"].occurred_at.max(),
        tables["support_tickets"].opened_at.max(),
        tables["subscriptions"].start_at.max(),
    ]
    if "nps_responses" in tables:
        stamps.append(tables["nps_responses"].responded_at.max())
    values = [s.to_pyarrow().as_py() for s in stamps]
    values = [v for v in values if v is not None]
    if not values:
        raise ValueError("the sources hold no timestamps: nothing to learn from")
    return max(values).replace(tzinfo=None)


def spine_for(tables: dict[str, ir.Table], as_of_dates: list[date]) -> ir.Table:
    return active_accounts(tables["subscriptions"], as_of_table(as_of_dates))


def feature_matrix(
    tables: dict[str, ir.Table],
    as_of_dates: list[date],
    spec: FeatureSpec,
    labels: LabelConfig | None = None,
    data_end: datetime | None = None,
) -> ir.Table:
    """Features (and, when a label config is given, labels) on the active-account spine."""
    spine = spine_for(tables, as_of_dates)
    if labels is None:
        return build_features(tables, spine, spec, as_of_dates)
    features = build_features(tables, spine, spec, as_of_dates, ordered=False)
    if data_end is None:
        raise ValueError("labels need the data end (observed_until)")
    y = build_labels(tables["subscriptions"], spine, labels, data_end)
    out = features.inner_join(y, ["account_id", "as_of"]).select(
        features, y.churn_label, y.churn_at, y.upsell_label
    )
    return out.order_by(["as_of", "account_id"])
