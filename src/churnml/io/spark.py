"""The Spark engine: the same ibis feature and label expressions, executed by PySpark.

Feature and label definitions are ibis expressions written once (features.py, labels.py). Here
the canonical tables are staged as Parquet, exposed to a Spark session, and the expression is
compiled to Spark SQL by ibis. Results come back as pandas frames with the same dtypes the
DuckDB engine returns, so nothing downstream knows which engine ran.
"""

from __future__ import annotations

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
    """PySpark or Java is missing, or the session could not start."""


def spark_session(cfg: SparkConfig):
    """A Spark session in UTC (timestamps must mean the same instant as in DuckDB)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise SparkEngineError(
            "warehouse.engine is 'spark' but PySpark is not installed: "
            "pip install 'churnml[spark]' (needs Java 17)"
        ) from exc
    builder = (
        SparkSession.builder.master(cfg.master)
        .appName(cfg.app_name)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(cfg.shuffle_partitions))
        .config("spark.ui.enabled", "false")
        .config("spark.sql.ansi.enabled", "false")
    )
    for key, value in cfg.conf.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # Java missing or the master unreachable
        raise SparkEngineError(f"could not start Spark ({cfg.master}): {exc}") from exc
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
    """(backend, tables on Spark); the staged Parquet files are removed afterwards."""
    session = spark_session(cfg)
    workdir = Path(tempfile.mkdtemp(prefix="churnml-spark-"))
    try:
        yield stage_tables(session, tables, workdir)
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
