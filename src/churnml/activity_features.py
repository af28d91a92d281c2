"""The "activity" feature family: how recently and how often the CS team touched the account.

Read off the CS activity log (``cs_activities``: calls, emails, meetings, QBRs, in-app
messages, ...). A human touch is an activity whose kind is one of ``activity.human_kinds``;
automated kinds (in-app, nurture email) count as touches but not as human ones. Point in
time like every family: only activities strictly before the as-of are seen.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from churnml.features import FeatureSpec, _count_if, _days_between, _in_window

# "Days since the last human touch" counts up to a year: 365 means none in the last year.
RECENCY_CAP_DAYS = 365


def activity_features(activities: ir.Table, spine: ir.Table, spec: FeatureSpec) -> ir.Table:
    """Touches and human touches per window, and days since the last human touch (capped)."""
    reach = max(max(spec.windows_days), RECENCY_CAP_DAYS)
    human_kinds = [k.lower() for k in spec.human_kinds]
    kind = activities.kind.strip().lower()
    acts = activities.select(
        "account_id",
        "occurred_at",
        human=(kind.isin(human_kinds) if human_kinds else ibis.literal(False)).fill_null(False),
    )
    j = spine.inner_join(
        acts,
        [
            spine.account_id == acts.account_id,
            acts.occurred_at < spine.as_of,
            acts.occurred_at >= spine.as_of - ibis.interval(days=reach),
        ],
    )
    aggs: dict[str, ir.Scalar] = {}
    for w in spec.windows_days:
        inw = _in_window(j.occurred_at, j.as_of, w)
        aggs[f"activity_touches_{w}d"] = _count_if(inw)
        aggs[f"activity_human_touches_{w}d"] = _count_if(inw & j.human)
    aggs["last_human_at"] = ibis.ifelse(j.human, j.occurred_at, ibis.null("timestamp")).max()
    agg = j.group_by([j.account_id, j.as_of]).aggregate(**aggs)
    counts = [c for c in agg.columns if c.startswith("activity_")]
    out = spine.left_join(agg, ["account_id", "as_of"]).select(
        spine, *[agg[c] for c in [*counts, "last_human_at"]]
    )
    days = _days_between(out.as_of, out.last_human_at)
    cap = float(RECENCY_CAP_DAYS)
    return (
        out.mutate(
            activity_days_since_human_touch=ibis.least(days, cap).fill_null(cap),
        )
        .fill_null({c: 0 for c in counts})
        .drop("last_human_at")
    )
