"""Read past scoring runs back from a sink, and keep the track record in the warehouse.

Every sink keeps each as-of: DuckDB and PostgreSQL in ``<table>_history``, file sinks as one
``<table>_<as_of>.<kind>`` file per as-of. The track record is one row per evaluated as-of in a
warehouse table, written in one transaction; evaluating an as-of again replaces its row.
"""

from __future__ import annotations

import re
from datetime import date

import pandas as pd

from churnml.config import ChurnmlConfig, SinkConfig
from churnml.io.sinks import (
    SinkError,
    add_new_columns,
    duckdb_table_exists,
    file_folder,
    postgres_url,
)
from churnml.io.sources import quote_identifier, redact


def history_sink(cfg: ChurnmlConfig) -> SinkConfig:
    """The sink whose history `churnml evaluate` reads: ``track_record.sink`` or the first one."""
    wanted = cfg.track_record.sink
    for sink in cfg.output.sinks:
        if wanted is None or sink.kind == wanted:
            return sink
    kinds = [s.kind for s in cfg.output.sinks] or ["none"]
    raise SinkError(
        f"track_record.sink is {wanted!r} but output.sinks has no such sink (configured: "
        f"{', '.join(kinds)})"
    )


def describe(sink: SinkConfig, cfg: ChurnmlConfig) -> str:
    if sink.kind == "duckdb":
        return f"duckdb:{cfg.resolve(cfg.warehouse.path)}#{sink.table}_history"
    if sink.kind == "postgres":
        return f"postgres#{sink.table}_history"
    return f"{file_folder(sink, cfg)}/{sink.table}_*.{sink.kind}"


def _postgres(sink: SinkConfig, sql: str, params: dict) -> pd.DataFrame:
    import sqlalchemy as sa

    url = postgres_url(sink)
    history = f"{sink.table}_history"
    try:
        engine = sa.create_engine(url)
    except Exception as exc:
        raise SinkError(
            f"sink postgres table {history}: the database URL is not usable: "
            f"{redact(str(exc), url)}"
        ) from None
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(history):
                return pd.DataFrame()
            return pd.read_sql(
                sa.text(sql.format(history=quote_identifier(history))), conn, params=params
            )
    except (sa.exc.SQLAlchemyError, pd.errors.DatabaseError) as exc:
        cause = getattr(exc, "orig", None) or exc
        raise SinkError(
            f"sink postgres table {history}: cannot read: {type(cause).__name__}: "
            f"{redact(str(cause), url)}"
        ) from None
    finally:
        engine.dispose()


def _files(sink: SinkConfig, cfg: ChurnmlConfig) -> dict[date, str]:
    folder = file_folder(sink, cfg)
    pattern = re.compile(rf"^{re.escape(sink.table)}_(\d{{4}}-\d{{2}}-\d{{2}})\.{sink.kind}$")
    found = {}
    for path in sorted(folder.glob(f"{sink.table}_*.{sink.kind}")) if folder.exists() else []:
        match = pattern.match(path.name)
        if match:
            found[date.fromisoformat(match.group(1))] = str(path)
    return found


def scored_as_ofs(con, cfg: ChurnmlConfig) -> list[date]:
    """Every as-of the history sink holds, oldest first."""
    sink = history_sink(cfg)
    if sink.kind == "duckdb":
        raw = getattr(con, "con", con)
        if not duckdb_table_exists(raw, f"{sink.table}_history"):
            return []
        history = quote_identifier(f"{sink.table}_history")
        rows = raw.execute(f"SELECT DISTINCT as_of FROM {history} ORDER BY 1").fetchall()
        return [pd.Timestamp(r[0]).date() for r in rows if r[0] is not None]
    if sink.kind == "postgres":
        frame = _postgres(sink, "SELECT DISTINCT as_of FROM {history} ORDER BY 1", {})
        return [pd.Timestamp(v).date() for v in frame.get("as_of", [])]
    return sorted(_files(sink, cfg))


def read_scores(con, cfg: ChurnmlConfig, as_of: date) -> pd.DataFrame:
    """The rows one scoring run wrote for the as-of."""
    sink = history_sink(cfg)
    stamp = pd.Timestamp(as_of)
    if sink.kind == "duckdb":
        raw = getattr(con, "con", con)
        history = quote_identifier(f"{sink.table}_history")
        frame = raw.execute(f"SELECT * FROM {history} WHERE as_of = ?", [stamp]).df()
    elif sink.kind == "postgres":
        frame = _postgres(
            sink, "SELECT * FROM {history} WHERE as_of = :as_of", {"as_of": stamp.to_pydatetime()}
        )
    else:
        path = _files(sink, cfg).get(as_of)
        if path is None:
            frame = pd.DataFrame()
        elif sink.kind == "parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, dtype={"account_id": "str"})
    if frame.empty:
        raise SinkError(f"{describe(sink, cfg)} holds no scores for as-of {as_of}")
    frame["as_of"] = pd.to_datetime(frame["as_of"], format="ISO8601").astype("datetime64[us]")
    frame["account_id"] = frame["account_id"].astype("str")
    return frame


def write_track_record(con, summary: pd.DataFrame, table: str) -> None:
    """Add (or replace) the summary rows' as-ofs in the warehouse table, in one transaction."""
    raw = getattr(con, "con", con)
    name = quote_identifier(table)
    raw.register("__track_record_run", summary)
    try:
        raw.execute("BEGIN TRANSACTION")
        try:
            raw.execute(
                f"CREATE TABLE IF NOT EXISTS {name} AS SELECT * FROM __track_record_run LIMIT 0"
            )
            add_new_columns(raw, name, summary, view="__track_record_run")
            raw.execute(f"DELETE FROM {name} WHERE as_of IN (SELECT as_of FROM __track_record_run)")
            raw.execute(f"INSERT INTO {name} BY NAME SELECT * FROM __track_record_run")
            raw.execute("COMMIT")
        except Exception:
            raw.execute("ROLLBACK")
            raise
    finally:
        raw.unregister("__track_record_run")


def read_track_record(con, table: str) -> pd.DataFrame | None:
    """Every evaluated as-of in the warehouse, or None before the first evaluation."""
    raw = getattr(con, "con", con)
    if not duckdb_table_exists(raw, table.split(".")[-1]):
        return None
    frame = raw.execute(f"SELECT * FROM {quote_identifier(table)} ORDER BY as_of").df()
    return frame if len(frame) else None
