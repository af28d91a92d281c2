"""Read past scoring runs back from a sink, and keep the track record in the warehouse.

Every sink keeps each as-of: DuckDB and PostgreSQL in ``<table>_history``, file sinks as one
``<table>_<as_of>.<kind>`` file per as-of. The track record is one row per evaluated as-of in a
warehouse table, written in one transaction; evaluating an as-of again replaces its row.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from churnml.config import ChurnmlConfig, SinkConfig
from churnml.io.sinks import Sink, SinkError, add_new_columns, duckdb_table_exists, open_sink
from churnml.io.sources import quote_identifier


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


def history(con, cfg: ChurnmlConfig) -> Sink:
    """The history sink, opened on the warehouse connection (used by DuckDB sinks only)."""
    return open_sink(history_sink(cfg), cfg, con)


def scored_as_ofs(con, cfg: ChurnmlConfig) -> list[date]:
    """Every as-of the history sink holds, oldest first."""
    return history(con, cfg).as_ofs()


def read_scores(con, cfg: ChurnmlConfig, as_of: date) -> pd.DataFrame:
    """The rows one scoring run wrote for the as-of."""
    sink = history(con, cfg)
    frame = sink.read(as_of)
    if frame.empty:
        raise SinkError(f"{sink.describe()} holds no scores for as-of {as_of}")
    return frame


def write_track_record(con, summary: pd.DataFrame, table: str) -> None:
    """Add (or replace) the summary rows' as-ofs in the warehouse table, in one transaction."""
    replace_as_of_rows(getattr(con, "con", con), {table: summary})


def replace_as_of_rows(raw, frames: dict[str, pd.DataFrame], as_of: date | None = None) -> None:
    """Write each frame into its warehouse table in one transaction, replacing the rows of
    ``as_of`` (None: of the as-ofs the frame holds); new columns are added, earlier as-ofs
    stay, and a failure leaves every table as it was."""
    views = {table: f"__as_of_rows_{k}" for k, table in enumerate(frames)}
    for table, frame in frames.items():
        raw.register(views[table], frame)
    try:
        raw.execute("BEGIN TRANSACTION")
        try:
            for table, frame in frames.items():
                name, view = quote_identifier(table), views[table]
                raw.execute(f"CREATE TABLE IF NOT EXISTS {name} AS SELECT * FROM {view} LIMIT 0")
                add_new_columns(raw, name, frame, view)
                if as_of is None:
                    raw.execute(f"DELETE FROM {name} WHERE as_of IN (SELECT as_of FROM {view})")
                else:
                    raw.execute(f"DELETE FROM {name} WHERE as_of = ?", [pd.Timestamp(as_of)])
                raw.execute(f"INSERT INTO {name} BY NAME SELECT * FROM {view}")
            raw.execute("COMMIT")
        except Exception:
            raw.execute("ROLLBACK")
            raise
    finally:
        for view in views.values():
            raw.unregister(view)


def read_track_record(con, table: str) -> pd.DataFrame | None:
    """Every evaluated as-of in the warehouse, or None before the first evaluation."""
    raw = getattr(con, "con", con)
    if not duckdb_table_exists(raw, table.split(".")[-1]):
        return None
    frame = raw.execute(f"SELECT * FROM {quote_identifier(table)} ORDER BY as_of").df()
    return frame if len(frame) else None
