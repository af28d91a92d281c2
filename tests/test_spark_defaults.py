"""Spark's default settings run the demo: driver memory sized from the machine, and running out
of memory is one line naming the setting to raise."""

from __future__ import annotations

import pytest

from churnml.config import SparkConfig
from churnml.io import spark as spark_io


def test_driver_memory_is_a_share_of_the_machine_unless_set():
    assert spark_io.default_driver_memory(16 * 2**30) == "8g"
    assert spark_io.default_driver_memory(3 * 2**30) == "1g"  # never below Spark's own 1g
    assert spark_io.default_driver_memory(0) == "2g"  # unknown machine
    settings = spark_io.session_settings(SparkConfig())
    assert settings["spark.driver.memory"] == spark_io.default_driver_memory()
    assert settings["spark.sql.session.timeZone"] == "UTC"
    chosen = spark_io.session_settings(SparkConfig(conf={"spark.driver.memory": "3g"}))
    assert chosen["spark.driver.memory"] == "3g"


def test_running_out_of_memory_is_one_line_naming_the_setting(monkeypatch):
    class Conf:
        def get(self, key, default=None):
            return "4g" if key == "spark.driver.memory" else default

    class Session:
        class sparkContext:  # noqa: N801 (PySpark's attribute name)
            @staticmethod
            def getConf():  # noqa: N802
                return Conf()

    monkeypatch.setattr(spark_io, "spark_session", lambda cfg: Session())
    monkeypatch.setattr(spark_io, "stage_tables", lambda session, tables, workdir: (None, {}))
    oom = RuntimeError(
        "An error occurred while calling o123.collectToPython.\n: "
        "org.apache.spark.memory.SparkOutOfMemoryError: [UNABLE_TO_ACQUIRE_MEMORY] Unable to "
        "acquire 262144 bytes of memory, got 131072. SQLSTATE: 53200\n\tat org.apache..."
    )
    with pytest.raises(spark_io.SparkEngineError) as err, spark_io.spark_tables(SparkConfig(), {}):
        raise oom
    message = str(err.value)
    assert "\n" not in message and "ran out of memory" in message
    assert "spark.driver.memory 4g" in message and "spark.conf.spark.driver.memory" in message
    assert err.value.__cause__ is None
    # anything else passes through unchanged
    with pytest.raises(ValueError, match="other"), spark_io.spark_tables(SparkConfig(), {}):
        raise ValueError("other")


@pytest.mark.spark
@pytest.mark.slow
def test_the_demo_sized_training_matrix_builds_on_spark_with_default_settings(tmp_path):
    """3,000 demo accounts, 24 months: with Spark's own 1g this ran out of memory."""
    import os
    import shutil

    import ibis
    from flows.tasks import build_matrix

    from churnml.config import default_config
    from churnml.features import derive_spec
    from churnml.io.warehouse_writer import write_demo_warehouse
    from churnml.matrix import observed_until
    from churnml.snapshots import snapshot_grid

    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        if os.environ.get("CI") == "true":
            pytest.fail("the Spark demo test must run in CI: Java is not installed")
        pytest.skip("Java is not installed")
    path = tmp_path / "warehouse.duckdb"
    write_demo_warehouse(path, 3000, 24, 7)
    con = ibis.duckdb.connect(str(path), read_only=True)
    names = ["accounts", "subscriptions", "usage_events", "support_tickets", "nps_responses"]
    tables = {name: con.table(name) for name in names}
    cfg = default_config(tmp_path)
    cfg = cfg.model_copy(update={"warehouse": cfg.warehouse.model_copy(update={"engine": "spark"})})
    assert cfg.spark == SparkConfig()  # the defaults, nothing tuned
    end = observed_until(tables)
    grid = snapshot_grid(end.date(), cfg.snapshots.count, cfg.snapshots.frequency)
    frame = build_matrix.fn(tables, grid, derive_spec(tables, cfg), cfg, end)
    con.disconnect()
    assert frame.account_id.nunique() > 2000 and frame.as_of.nunique() == len(grid)
    assert frame.churn_label.notna().any() and frame.usage_events_30d.sum() > 0
