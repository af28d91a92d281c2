"""Keep the KPI board and the forecast in the warehouse: ``cs_kpis`` and ``cs_forecast``.

Each scoring run writes its as-of's board and forecast together, in one transaction: a rerun
of an as-of replaces both, a failure leaves both as they were. Earlier as-ofs stay, so
`churnml evaluate` can put a past forecast beside what happened.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from churnml.io.sinks import add_new_columns, duckdb_table_exists
from churnml.io.sources import quote_identifier


def _stamped(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    out = frame.drop(columns=["as_of"], errors="ignore").copy()
    out.insert(0, "as_of", pd.Timestamp(as_of).as_unit("us"))
    return out


def write_kpis(con, board: pd.DataFrame, forecast: pd.DataFrame, as_of: date, cfg) -> list[str]:
    """Replace the as-of's rows of both tables in one transaction; where they went."""
    raw = getattr(con, "con", con)  # ibis backend or a plain duckdb connection
    frames = {
        cfg.kpis.table: _stamped(board, as_of),
        cfg.kpis.forecast_table: _stamped(forecast, as_of),
    }
    views = {table: f"__kpi_run_{k}" for k, table in enumerate(frames)}
    for table, frame in frames.items():
        raw.register(views[table], frame)
    try:
        raw.execute("BEGIN TRANSACTION")
        try:
            for table, frame in frames.items():
                name, view = quote_identifier(table), views[table]
                raw.execute(f"CREATE TABLE IF NOT EXISTS {name} AS SELECT * FROM {view} LIMIT 0")
                add_new_columns(raw, name, frame, view)
                raw.execute(f"DELETE FROM {name} WHERE as_of = ?", [pd.Timestamp(as_of)])
                raw.execute(f"INSERT INTO {name} BY NAME SELECT * FROM {view}")
            raw.execute("COMMIT")
        except Exception:
            raw.execute("ROLLBACK")
            raise
    finally:
        for view in views.values():
            raw.unregister(view)
    where = cfg.resolve(cfg.warehouse.path)
    return [f"duckdb:{where}#{table}" for table in frames]


def read_forecast(con, table: str, as_of: date) -> pd.DataFrame | None:
    """The forecast a scoring run wrote for the as-of, or None (never written, or before
    forecasts were kept)."""
    raw = getattr(con, "con", con)
    if not duckdb_table_exists(raw, table):
        return None
    frame = raw.execute(
        f"SELECT * FROM {quote_identifier(table)} WHERE as_of = ?", [pd.Timestamp(as_of)]
    ).df()
    return frame if len(frame) else None
