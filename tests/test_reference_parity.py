"""The ibis engine against the plain pandas reference: the same definitions, the same numbers."""

from __future__ import annotations

from datetime import date

import ibis
import pytest

import pandas_reference
from churnml.config import default_config
from churnml.features import derive_spec, usage_buckets
from churnml.matrix import feature_matrix, observed_until
from churnml.snapshots import snapshot_grid
from frame_compare import assert_same_frames

TABLES = ["accounts", "subscriptions", "usage_events", "support_tickets", "nps_responses"]


def both(tables: dict, frames: dict, grid: list[date], labelled: bool = True):
    cfg = default_config()
    spec = derive_spec(tables, cfg)
    end = observed_until(tables)
    labels = cfg.labels if labelled else None
    engine = feature_matrix(tables, grid, spec, labels, end).to_pandas()
    plain = pandas_reference.feature_matrix(frames, grid, spec, labels, end)
    return engine, plain


def test_tiny_frames_match_the_reference(tiny_frames, tiny_tables):
    grid = [date(2024, 10, 1), date(2024, 12, 1), date(2025, 2, 1), date(2025, 3, 1)]
    engine, plain = both(tiny_tables, tiny_frames, grid)
    assert_same_frames(engine, plain)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from churnml.io.warehouse_writer import write_demo_warehouse

    path = tmp_path_factory.mktemp("ref") / "warehouse.duckdb"
    write_demo_warehouse(path, 200, 10, 3, events_per_user_day=0.05)
    con = ibis.duckdb.connect(str(path), read_only=True)
    tables = {name: con.table(name) for name in TABLES}
    frames = {name: t.to_pandas() for name, t in tables.items()}
    yield tables, frames
    con.disconnect()


def test_demo_warehouse_matches_the_reference(demo):
    tables, frames = demo
    end = observed_until(tables)
    grid = snapshot_grid(end.date(), 6, "monthly")
    engine, plain = both(tables, frames, grid)
    assert_same_frames(engine, plain)
    # the comparison covered real signal: labels of both kinds and every family
    assert engine.churn_label.sum() > 0 and engine.upsell_label.sum() > 0
    assert engine.support_open_tickets.sum() > 0 and engine.nps_last_score.notna().any()
    assert engine.contract_downgrades_180d.sum() + engine.contract_upgrades_180d.sum() > 0


def test_scoring_snapshot_matches_the_reference(demo):
    tables, frames = demo
    end = observed_until(tables)
    engine, plain = both(tables, frames, [end.date()], labelled=False)
    assert_same_frames(engine, plain)


def test_many_weekly_snapshots_match_the_reference(demo):
    """Over 62 day ranges: the active-user masks span several integers."""
    tables, frames = demo
    end = observed_until(tables)
    grid = snapshot_grid(end.date(), 30, "weekly")
    spec = derive_spec(tables, default_config())
    assert usage_buckets(grid, spec).words > 1
    engine, plain = both(tables, frames, grid)
    assert_same_frames(engine, plain)


def test_renewal_gaps_match_the_reference(tiny_frames):
    """acc_b renews with a one-day gap right before an as-of: both read the contract before it."""
    import pandas as pd

    from factories import tables as to_tables

    subs = tiny_frames["subscriptions"].copy()
    subs.loc[subs.subscription_id == "s2", "end_at"] = pd.Timestamp("2025-02-28")
    subs.loc[subs.subscription_id == "s3", "start_at"] = pd.Timestamp("2025-03-01")
    frames = {**tiny_frames, "subscriptions": subs}
    grid = [date(2024, 12, 1), date(2025, 2, 1), date(2025, 3, 1)]
    engine, plain = both(to_tables(frames), frames, grid)
    assert_same_frames(engine, plain)
    b = engine.set_index(["account_id", "as_of"]).loc[("acc_b", pd.Timestamp("2025-03-01"))]
    assert b.contract_mrr == 1000.0 and b.contract_seats == 20.0
