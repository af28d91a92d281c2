"""Write scored accounts back where CS works: DuckDB, PostgreSQL, Parquet/CSV for CRM import.

Each sink writes a run in one transaction (or one atomic file rename): a run that fails leaves
the previous results untouched, and rerunning an as-of replaces its rows instead of adding more.
``<table>`` holds the current outreach list (the latest as-of scored); ``<table>_history`` keeps
every as-of.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from churnml.config import ChurnmlConfig, SinkConfig
from churnml.io.sources import SourceError, quote_identifier, redact, resolve_url


class SinkError(RuntimeError):
    """A sink could not be written; nothing of this run was committed to it."""


def _as_of_value(scored: pd.DataFrame) -> pd.Timestamp:
    values = scored["as_of"].unique()
    if len(values) != 1:
        raise SinkError(f"a scoring run must hold exactly one as_of, got {len(values)}")
    return pd.Timestamp(values[0])


def write_duckdb(con, scored: pd.DataFrame, table: str) -> None:
    """Replace this as-of in the history and, if it is the newest, the current list, atomically."""
    raw = getattr(con, "con", con)  # ibis backend or a plain duckdb connection
    as_of = _as_of_value(scored)
    current, history = quote_identifier(table), quote_identifier(f"{table}_history")
    raw.register("__scored_run", scored)
    try:
        raw.execute("BEGIN TRANSACTION")
        try:
            for name in (current, history):
                raw.execute(
                    f"CREATE TABLE IF NOT EXISTS {name} AS SELECT * FROM __scored_run LIMIT 0"
                )
                add_new_columns(raw, name, scored, "__scored_run")
            raw.execute(f"DELETE FROM {history} WHERE as_of = ?", [as_of])
            raw.execute(f"INSERT INTO {history} BY NAME SELECT * FROM __scored_run")
            newest = raw.execute(f"SELECT max(as_of) FROM {current}").fetchall()[0][0]
            if newest is None or pd.Timestamp(newest) <= as_of:
                raw.execute(f"DELETE FROM {current}")
                raw.execute(f"INSERT INTO {current} BY NAME SELECT * FROM __scored_run")
            raw.execute("COMMIT")
        except Exception:
            raw.execute("ROLLBACK")
            raise
    finally:
        raw.unregister("__scored_run")


def add_new_columns(raw, quoted_table: str, frame: pd.DataFrame, view: str) -> None:
    """Columns added by a newer churnml join the table (older rows get NULL).

    ``view`` is the name `frame` is registered under in the DuckDB connection.
    """
    existing = {r[0] for r in raw.execute(f"DESCRIBE {quoted_table}").fetchall()}
    for col in frame.columns:
        if col not in existing:
            dtype = raw.execute(
                f"SELECT typeof({quote_identifier(col)}) FROM {view} LIMIT 1"
            ).fetchall()
            sql_type = dtype[0][0] if dtype else "VARCHAR"
            raw.execute(f"ALTER TABLE {quoted_table} ADD COLUMN {quote_identifier(col)} {sql_type}")


def duckdb_table_exists(raw, table: str) -> bool:
    return bool(
        raw.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [table]
        ).fetchall()[0][0]
    )


def read_previous_run(con, table: str, as_of) -> pd.DataFrame | None:
    """The latest run before `as_of` from the DuckDB history, or None when there is none."""
    raw = getattr(con, "con", con)
    history = quote_identifier(f"{table}_history")
    if not duckdb_table_exists(raw, f"{table}_history"):
        return None
    frame = raw.execute(
        f"SELECT * FROM {history} WHERE as_of = (SELECT max(as_of) FROM {history} WHERE as_of < ?)",
        [pd.Timestamp(as_of)],
    ).df()
    return frame if len(frame) else None


def postgres_url(sink: SinkConfig) -> str:
    """The PostgreSQL sink's URL, from its environment variable or Prefect Secret block."""
    try:
        url, _ = resolve_url(
            sink.url_env or "CHURNML_POSTGRES_URL", sink.url_secret, "sink postgres"
        )
    except SourceError as exc:
        raise SinkError(str(exc)) from None
    return url


def write_postgres(scored: pd.DataFrame, sink: SinkConfig) -> None:
    """Same semantics as DuckDB, on PostgreSQL, in one transaction."""
    import sqlalchemy as sa

    url = postgres_url(sink)
    as_of = _as_of_value(scored)
    current, history = sink.table, f"{sink.table}_history"
    frame = scored.copy()
    try:
        engine = sa.create_engine(url)
    except Exception as exc:
        raise SinkError(
            f"sink postgres table {sink.table}: the database URL is not usable: {redact(str(exc), url)}"
        ) from None
    try:
        with engine.begin() as conn:
            # Serialise concurrent runs on this table from the very start, table creation
            # included: two first runs would otherwise race on CREATE TABLE.
            conn.execute(
                sa.text("SELECT pg_advisory_xact_lock(hashtext(:name))"),
                {"name": f"churnml:{history}"},
            )
            for name in (current, history):
                frame.head(0).to_sql(name, conn, if_exists="append", index=False)
            conn.execute(sa.text(f"LOCK TABLE {quote_identifier(history)} IN EXCLUSIVE MODE"))
            conn.execute(
                sa.text(f"DELETE FROM {quote_identifier(history)} WHERE as_of = :as_of"),
                {"as_of": as_of.to_pydatetime()},
            )
            frame.to_sql(
                history, conn, if_exists="append", index=False, method="multi", chunksize=5000
            )
            newest = conn.execute(
                sa.text(f"SELECT max(as_of) FROM {quote_identifier(current)}")
            ).scalar()
            if newest is None or pd.Timestamp(newest) <= as_of:
                conn.execute(sa.text(f"DELETE FROM {quote_identifier(current)}"))
                frame.to_sql(
                    current, conn, if_exists="append", index=False, method="multi", chunksize=5000
                )
    except (sa.exc.SQLAlchemyError, pd.errors.DatabaseError) as exc:
        cause = getattr(exc, "orig", None) or exc.__cause__ or exc
        raise SinkError(
            f"sink postgres table {sink.table}: nothing written: {type(cause).__name__}: "
            f"{redact(str(cause), url)}"
        ) from None
    finally:
        engine.dispose()


def file_folder(sink: SinkConfig, cfg: ChurnmlConfig) -> Path:
    """Where a CSV/Parquet sink keeps its ``<table>_<as_of>.<kind>`` files."""
    return cfg.resolve(sink.path or "exports")


def write_file(scored: pd.DataFrame, sink: SinkConfig, cfg: ChurnmlConfig) -> Path:
    """A CRM import file per as-of, written to a temp name and renamed into place."""
    as_of = _as_of_value(scored)
    folder = file_folder(sink, cfg)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{sink.table}_{as_of:%Y-%m-%d}.{sink.kind}"
    tmp = target.with_name(f".{target.name}.tmp")
    if sink.kind == "parquet":
        scored.to_parquet(tmp, index=False)
    else:
        scored.to_csv(tmp, index=False)
    os.replace(tmp, target)
    return target


def write_sinks(con, scored: pd.DataFrame, cfg: ChurnmlConfig) -> list[str]:
    """Write every configured sink; returns where each went."""
    written = []
    for sink in cfg.output.sinks:
        if sink.kind == "duckdb":
            write_duckdb(con, scored, sink.table)
            written.append(f"duckdb:{cfg.resolve(cfg.warehouse.path)}#{sink.table}")
        elif sink.kind == "postgres":
            write_postgres(scored, sink)
            where = (
                f"secret {sink.url_secret}"
                if sink.url_secret
                else f"${sink.url_env or 'CHURNML_POSTGRES_URL'}"
            )
            written.append(f"postgres:{where}#{sink.table}")
        else:
            written.append(str(write_file(scored, sink, cfg)))
    return written
