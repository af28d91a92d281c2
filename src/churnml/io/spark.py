"""The Spark engine: the same ibis feature and label expressions, executed by PySpark.

Feature and label definitions are ibis expressions written once (features.py, labels.py). Here
the canonical tables are staged as Parquet, exposed to a Spark session, and the expression is
compiled to Spark SQL by ibis. Results come back as pandas frames with the same dtypes the
DuckDB engine returns, so nothing downstream knows which engine ran.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import ibis
import ibis.expr.types as ir
import pandas as pd

from churnml.config import SparkConfig


class SparkEngineError(RuntimeError):
    """PySpark or Java is missing, the session could not start, or Spark ran out of memory."""


DRIVER_MEMORY_SHARE = 0.5  # of the machine's memory, when spark.driver.memory is not set
_OUT_OF_MEMORY = ("UNABLE_TO_ACQUIRE_MEMORY", "OutOfMemoryError", "Java heap space")


def physical_memory_bytes() -> int | None:
    """The machine's memory, or the container's limit when lower (cgroup v2 or v1)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return None
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and 0 < int(text) < total:
            total = int(text)
    return total


def default_driver_memory(total_bytes: int | None = None) -> str:
    """Spark's own default (1g) runs the 3,000-account demo out of memory; local mode runs
    everything in the driver, so give it a share of the machine, in whole gigabytes."""
    total = physical_memory_bytes() if total_bytes is None else total_bytes
    if not total:
        return "2g"
    return f"{max(1, int(total * DRIVER_MEMORY_SHARE / 2**30))}g"


def session_settings(cfg: SparkConfig) -> dict[str, str]:
    """Every setting the session starts with: the project's, sized defaults, then the user's."""
    settings = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(cfg.shuffle_partitions),
        "spark.ui.enabled": "false",
        "spark.sql.ansi.enabled": "false",
        "spark.driver.memory": default_driver_memory(),
    }
    return {**settings, **cfg.conf}


def is_out_of_memory(exc: BaseException) -> bool:
    return any(marker in f"{type(exc).__name__}: {exc}" for marker in _OUT_OF_MEMORY)


def out_of_memory_error(cfg: SparkConfig, driver_memory: str) -> SparkEngineError:
    from churnml.urls import mask_url

    return SparkEngineError(
        f"Spark ran out of memory (spark.driver.memory {driver_memory}, "
        f"master {mask_url(cfg.master)}); "
        "raise spark.conf.spark.driver.memory in the config (e.g. 8g), or on a cluster "
        "spark.conf.spark.executor.memory"
    )


def spark_session(cfg: SparkConfig):
    """A Spark session in UTC (timestamps must mean the same instant as in DuckDB)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise SparkEngineError(
            "warehouse.engine is 'spark' but PySpark is not installed: "
            "pip install 'churnml[spark]' (needs Java 17)"
        ) from exc
    builder = SparkSession.builder.master(cfg.master).appName(cfg.app_name)
    for key, value in session_settings(cfg).items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # Java missing or the master unreachable
        from churnml.urls import mask_url, redact

        first = redact((str(exc).strip().splitlines() or [type(exc).__name__])[0], cfg.master)
        raise SparkEngineError(f"could not start Spark ({mask_url(cfg.master)}): {first}") from None
    session.sparkContext.setLogLevel("ERROR")
    return session


def _compile_bit_or() -> None:
    """Let ibis compile its BitOr aggregate for Spark, whose SQL has BIT_OR since 3.0.

    ibis 12 maps BitOr for DuckDB but leaves it undefined for PySpark; the usage features
    OR day and range bits per account. Idempotent; called before any Spark compilation.
    """
    from ibis.backends.sql.compilers.pyspark import PySparkCompiler

    def visit_BitOr(self, op, *, arg, where):  # noqa: N802 (ibis' visitor naming)
        return self.agg.bit_or(arg, where=where)

    PySparkCompiler.visit_BitOr = visit_BitOr


def stage_tables(
    session, tables: dict[str, ir.Table], workdir: Path
) -> tuple[ibis.BaseBackend, dict[str, ir.Table]]:
    """Copy the canonical tables to Parquet and open them as ibis tables on Spark."""
    _compile_bit_or()
    con = ibis.pyspark.connect(session)
    staged = {}
    for name, table in tables.items():
        path = workdir / f"{name}.parquet"
        table.to_parquet(path)
        view = f"churnml_{name}"
        session.read.parquet(str(path)).createOrReplaceTempView(view)
        staged[name] = con.table(view)
    return con, staged


@contextmanager
def spark_tables(cfg: SparkConfig, tables: dict[str, ir.Table]) -> Iterator[tuple]:
    """(backend, tables on Spark); the staged Parquet files are removed afterwards.

    Running out of memory anywhere inside becomes one line naming the setting to raise.
    """
    session = spark_session(cfg)
    workdir = Path(tempfile.mkdtemp(prefix="churnml-spark-"))
    try:
        yield stage_tables(session, tables, workdir)
    except Exception as exc:
        if is_out_of_memory(exc):
            memory = session.sparkContext.getConf().get("spark.driver.memory", "1g")
            raise out_of_memory_error(cfg, memory) from None
        raise
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def align_dtypes(frame: pd.DataFrame) -> pd.DataFrame:
    """Spark returns nanosecond timestamps; DuckDB microseconds. Use microseconds everywhere."""
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[column]):
            out[column] = out[column].astype("datetime64[us]")
    return out


def execute(con: ibis.BaseBackend, expr: ir.Table) -> pd.DataFrame:
    """Run an ibis expression on Spark and return it as the DuckDB engine would."""
    return align_dtypes(con.to_pandas(expr))
