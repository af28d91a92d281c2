"""Keep the KPI board and the forecast in the warehouse: ``cs_kpis`` and ``cs_forecast``.

Each scoring run writes its as-of's board and forecast together, in one transaction: a rerun
of an as-of replaces both, a failure leaves both as they were. Earlier as-ofs stay, so
`churnml evaluate` can put a past forecast beside what happened.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from churnml.io.score_history import replace_as_of_rows
from churnml.io.sinks import duckdb_table_exists
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
    replace_as_of_rows(raw, frames, as_of)
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
