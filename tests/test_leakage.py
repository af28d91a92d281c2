"""No leakage, as properties: whatever happens at or after the as-of cannot change its features,
and whatever happens after the horizon cannot change its labels."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import ibis
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from churnml.config import LabelConfig, default_config
from churnml.features import build_features, derive_spec
from churnml.labels import build_labels
from churnml.snapshots import active_accounts, as_of_table
from compiled_features import CompiledFeatures
from factories import frames

AS_OF = date(2025, 2, 1)
AS_OF_TS = pd.Timestamp(AS_OF)
ACCOUNTS = ["acc_a", "acc_b", "acc_c"]
LABELS = LabelConfig()
SETTINGS = settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# offsets in minutes from the as-of, >= 0: "at or after"
later = st.integers(min_value=0, max_value=60 * 24 * 200)


def _features(data: dict[str, pd.DataFrame]) -> pd.DataFrame:
    tables = {k: ibis.memtable(v) for k, v in data.items()}
    spec = derive_spec({k: ibis.memtable(v) for k, v in frames().items()}, default_config())
    spine = active_accounts(tables["subscriptions"], as_of_table([AS_OF]))
    out = build_features(tables, spine, spec).to_pandas()
    return out.sort_values("account_id").reset_index(drop=True)


COMPILED: list[tuple[CompiledFeatures, pd.DataFrame]] = []


def compiled_baseline() -> tuple[CompiledFeatures, pd.DataFrame]:
    """The feature query compiled once (recompiled for data that builds another query) and its
    result on the baseline frames, which the query on memtables reproduces."""
    if not COMPILED:
        spec = derive_spec({k: ibis.memtable(v) for k, v in frames().items()}, default_config())
        features = CompiledFeatures(spec, AS_OF)
        baseline = features(frames())
        pd.testing.assert_frame_equal(baseline, _features(frames()))
        COMPILED.append((features, baseline))
    return COMPILED[0]


@st.composite
def future_records(draw) -> dict[str, pd.DataFrame]:
    data = frames()
    n_events = draw(st.integers(0, 5))
    events = pd.DataFrame(
        {
            "account_id": [draw(st.sampled_from(ACCOUNTS)) for _ in range(n_events)],
            "occurred_at": [AS_OF_TS + timedelta(minutes=draw(later)) for _ in range(n_events)],
            "event_type": [
                draw(st.sampled_from(["login", "export", "report_created", "user_invited"]))
                for _ in range(n_events)
            ],
            "user_id": [draw(st.sampled_from(["u1", "u9", None])) for _ in range(n_events)],
            "quantity": [float(draw(st.integers(0, 50))) for _ in range(n_events)],
        }
    )
    data["usage_events"] = pd.concat([data["usage_events"], events], ignore_index=True)
    n_tickets = draw(st.integers(0, 3))
    opened = [AS_OF_TS + timedelta(minutes=draw(later)) for _ in range(n_tickets)]
    tickets = pd.DataFrame(
        {
            "ticket_id": [f"new{i}" for i in range(n_tickets)],
            "account_id": [draw(st.sampled_from(ACCOUNTS)) for _ in range(n_tickets)],
            "opened_at": opened,
            "closed_at": [o + timedelta(hours=draw(st.integers(1, 500))) for o in opened],
            "status": ["closed"] * n_tickets,
            "category": [draw(st.sampled_from(["defect", "billing"])) for _ in range(n_tickets)],
            "priority": [draw(st.sampled_from(["low", "urgent"])) for _ in range(n_tickets)],
            "first_response_at": [o + timedelta(hours=1) for o in opened],
            "satisfaction": [float(draw(st.integers(1, 5))) for _ in range(n_tickets)],
            "escalated": [draw(st.booleans()) for _ in range(n_tickets)],
        }
    )
    old = data["support_tickets"].copy()
    # change what a ticket still open at the as-of later became: close time, CSAT, escalation
    still_open = old.closed_at.isna() | (old.closed_at >= AS_OF_TS)
    old.loc[still_open, "closed_at"] = AS_OF_TS + timedelta(minutes=draw(later))
    old.loc[still_open, "satisfaction"] = float(draw(st.integers(1, 5)))
    old.loc[still_open, "escalated"] = draw(st.booleans())
    unanswered = old.first_response_at.isna() | (old.first_response_at >= AS_OF_TS)
    old.loc[unanswered, "first_response_at"] = AS_OF_TS + timedelta(minutes=draw(later))
    data["support_tickets"] = pd.concat([old, tickets], ignore_index=True)
    if draw(st.booleans()):
        data["nps_responses"] = pd.concat(
            [
                data["nps_responses"],
                pd.DataFrame(
                    {
                        "account_id": [draw(st.sampled_from(ACCOUNTS))],
                        "responded_at": [AS_OF_TS + timedelta(minutes=draw(later))],
                        "score": [draw(st.integers(0, 10))],
                    }
                ),
            ],
            ignore_index=True,
        )
    subs = data["subscriptions"].copy()
    # a contract that was live at the as-of may end at any time after it (rows are
    # [start_at, end_at): one ending exactly at the as-of is not live then, which is known then)
    live_end = subs.end_at.isna() | (subs.end_at > AS_OF_TS)
    live_start = subs.start_at < AS_OF_TS
    ends_after = timedelta(minutes=max(1, draw(later)))
    new_end = AS_OF_TS + ends_after if draw(st.booleans()) else pd.NaT
    subs.loc[live_end & live_start, "end_at"] = new_end
    # and later contract rows (upgrades, comebacks) are the future
    subs = subs[subs.start_at < AS_OF_TS]
    if draw(st.booleans()):
        start = AS_OF_TS + timedelta(minutes=draw(later))
        subs = pd.concat(
            [
                subs,
                pd.DataFrame(
                    {
                        "subscription_id": ["s_new"],
                        "account_id": [draw(st.sampled_from(ACCOUNTS))],
                        "start_at": [start],
                        "end_at": [pd.NaT],
                        "mrr": [float(draw(st.integers(0, 5000)))],
                        "plan": ["enterprise"],
                        "seats": [draw(st.integers(1, 99))],
                        "billing_period": ["annual"],
                    }
                ),
            ],
            ignore_index=True,
        )
    data["subscriptions"] = subs
    return data


@SETTINGS
@given(future_records())
def test_records_at_or_after_the_as_of_never_change_its_features(data):
    features, baseline = compiled_baseline()
    pd.testing.assert_frame_equal(features(data), baseline)


def _labels(subs: pd.DataFrame, observed: datetime) -> pd.DataFrame:
    t = ibis.memtable(subs)
    spine = active_accounts(t, as_of_table([AS_OF]))
    return (
        build_labels(t, spine, LABELS, observed)
        .to_pandas()
        .sort_values("account_id")
        .reset_index(drop=True)
    )


@SETTINGS
@given(st.integers(min_value=1, max_value=60 * 24 * 400), st.integers(0, 5000), st.booleans())
def test_labels_use_only_the_horizon(offset_minutes, mrr, ends):
    """A contract change after the horizon (plus the reactivation gap) leaves the labels alone."""
    observed = datetime(2026, 6, 1)
    base = frames()["subscriptions"]
    horizon_end = AS_OF_TS + timedelta(
        days=LABELS.churn_horizon_days + LABELS.reactivation_gap_days
    )
    start = horizon_end + timedelta(minutes=offset_minutes)
    extra = pd.DataFrame(
        {
            "subscription_id": ["s_far"],
            "account_id": ["acc_a"],
            "start_at": [start],
            "end_at": [start + timedelta(days=40) if ends else pd.NaT],
            "mrr": [float(mrr)],
            "plan": ["enterprise"],
            "seats": [500],
            "billing_period": ["monthly"],
        }
    )
    before = _labels(base, observed)
    after = _labels(pd.concat([base, extra], ignore_index=True), observed)
    pd.testing.assert_frame_equal(before, after)
