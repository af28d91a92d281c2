"""One definition, two engines: features and labels on DuckDB and on PySpark local mode match."""

from __future__ import annotations

import os
import shutil
from datetime import date, datetime

import ibis
import pytest

from churnml.config import SparkConfig, default_config
from churnml.features import derive_spec, usage_buckets
from churnml.matrix import feature_matrix, observed_until
from churnml.snapshots import snapshot_grid
from frame_compare import assert_same_frames

pytestmark = pytest.mark.spark


def _spark_available() -> str | None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "Java is not installed"
    return None


@pytest.fixture(scope="module")
def spark():
    reason = _spark_available()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Spark parity must run in CI: {reason}")
        pytest.skip(reason)
    from churnml.io.spark import spark_session

    session = spark_session(SparkConfig(master="local[2]", shuffle_partitions=4))
    yield session
    session.stop()


def both_engines(spark, tables, as_of_dates, workdir, labelled=True, on_spark=None):
    """The matrix on DuckDB and on Spark; ``on_spark`` is (backend, tables) already staged from
    ``tables`` (staging copies every table to Parquet, once per data set is enough)."""
    from churnml.io.spark import execute, stage_tables

    cfg = default_config()
    spec = derive_spec(tables, cfg)
    end = observed_until(tables)
    labels = cfg.labels if labelled else None
    duck_frame = feature_matrix(tables, as_of_dates, spec, labels, end).to_pandas()
    if on_spark is None:
        workdir.mkdir(parents=True, exist_ok=True)
        on_spark = stage_tables(spark, tables, workdir)
    con, staged = on_spark
    spark_frame = execute(con, feature_matrix(staged, as_of_dates, spec, labels, end))
    return duck_frame, spark_frame


def test_tiny_frames_match_on_both_engines(spark, tiny_tables, tmp_path):
    grid = [date(2024, 10, 1), date(2024, 12, 1), date(2025, 2, 1)]
    duck, on_spark = both_engines(spark, tiny_tables, grid, tmp_path / "stage")
    assert_same_frames(duck, on_spark)
    # the definitions did real work on both: churn and upsell labels and activity are present
    assert duck.churn_label.notna().any() and duck.usage_events_30d.sum() > 0


def test_demo_warehouse_matches_on_both_engines(spark, tmp_path):
    from churnml.io.spark import stage_tables
    from churnml.io.warehouse_writer import write_demo_warehouse

    path = tmp_path / "warehouse.duckdb"
    write_demo_warehouse(path, 150, 8, 5, events_per_user_day=0.05)
    con = ibis.duckdb.connect(str(path), read_only=True)
    names = ["accounts", "subscriptions", "usage_events", "support_tickets", "nps_responses"]
    tables = {name: con.table(name) for name in names}
    end = observed_until(tables)
    (tmp_path / "stage").mkdir()
    staged = stage_tables(spark, tables, tmp_path / "stage")
    grid = snapshot_grid(end.date(), 3, "monthly")
    duck, on_spark = both_engines(spark, tables, grid, None, on_spark=staged)
    assert_same_frames(duck, on_spark)
    assert duck.support_tickets_90d.sum() > 0 and duck.nps_last_score.notna().any()
    # scoring (no labels) at an as-of after the data end also matches
    later = [datetime(end.year, end.month, end.day).date()]
    duck, on_spark = both_engines(spark, tables, later, None, labelled=False, on_spark=staged)
    assert_same_frames(duck, on_spark)
    # weekly snapshots: more day ranges than one mask integer holds (16 weeks need two)
    weekly = snapshot_grid(end.date(), 16, "weekly")
    assert usage_buckets(weekly, derive_spec(tables, default_config())).words > 1
    duck, on_spark = both_engines(spark, tables, weekly, None, labelled=False, on_spark=staged)
    assert_same_frames(duck, on_spark)
    con.disconnect()


def test_flow_matrix_step_runs_on_the_configured_engine(spark, tiny_tables):
    from flows.tasks import build_matrix

    cfg = default_config()
    on_spark_cfg = cfg.model_copy(
        update={"warehouse": cfg.warehouse.model_copy(update={"engine": "spark"})}
    )
    spec = derive_spec(tiny_tables, cfg)
    end = observed_until(tiny_tables)
    grid = [date(2024, 12, 1), date(2025, 2, 1)]
    duck = build_matrix.fn(tiny_tables, grid, spec, cfg, end)
    on_spark = build_matrix.fn(tiny_tables, grid, spec, on_spark_cfg, end)
    assert_same_frames(duck, on_spark)


def test_outcome_tables_match_on_both_engines(spark, tiny_frames, tmp_path):
    """Churn from churn_events, upsell from expansion_events, and no ticket table."""
    import pandas as pd

    from churnml.io.spark import execute, stage_tables

    frames = {k: v for k, v in tiny_frames.items() if k != "support_tickets"}
    frames["churn_events"] = pd.DataFrame(
        {
            "account_id": ["acc_a", "acc_c", "acc_b"],
            "churned_at": pd.to_datetime(["2025-03-01", "2025-02-10", "2024-11-15"]),
            "reason": ["price", None, "merger"],
        }
    )
    frames["expansion_events"] = pd.DataFrame(
        {
            "account_id": ["acc_b", "acc_a"],
            "occurred_at": pd.to_datetime(["2025-03-10", "2024-12-01"]),
            "amount": [500.0, None],
        }
    )
    tables = {k: ibis.memtable(v) for k, v in frames.items()}
    cfg = default_config()
    labels = cfg.labels.model_copy(
        update={"churn_source": "churn_events", "upsell_source": "expansion_events"}
    )
    spec = derive_spec(tables, cfg)
    end = datetime(2025, 12, 31)
    grid = [date(2024, 10, 1), date(2024, 12, 1), date(2025, 2, 1)]
    duck = feature_matrix(tables, grid, spec, labels, end).to_pandas()
    (tmp_path / "stage").mkdir()
    con, staged = stage_tables(spark, tables, tmp_path / "stage")
    on_spark = execute(con, feature_matrix(staged, grid, spec, labels, end))
    assert_same_frames(duck, on_spark)
    # acc_a twice (to 2025-03-01), acc_b once (November); acc_c is back within the gap
    assert duck.churn_label.sum() == 3 and duck.upsell_label.sum() == 2
    assert "acc_b" not in set(duck[duck.as_of == "2025-02-01"].account_id)  # churned in November


def test_activity_family_matches_on_both_engines(spark, tiny_frames, tmp_path):
    """The CS activity log's touches and recency, computed on DuckDB and on Spark."""
    from factories import tables as to_tables
    from test_activity import activities

    frames = {**tiny_frames, "cs_activities": activities()}
    grid = [date(2024, 12, 1), date(2025, 2, 1), date(2025, 3, 1)]
    duck, on_spark = both_engines(spark, to_tables(frames), grid, tmp_path / "stage")
    assert_same_frames(duck, on_spark)
    assert duck.activity_touches_90d.sum() > 0
    assert (duck.activity_days_since_human_touch < 365).any()
