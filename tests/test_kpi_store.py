"""cs_kpis and cs_forecast: one transaction per as-of, replaced on a rerun, nothing partial."""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd
import pytest

from churnml.config import default_config
from churnml.io import kpi_store


def frames(value: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    board = pd.DataFrame(
        {"month": pd.to_datetime(["2025-01-01", "2025-02-01"]), "segment": "all", "nrr": value}
    )
    forecast = pd.DataFrame({"segment": ["all"], "nrr": [value], "nrr_low": [value - 0.1]})
    return board, forecast


def count(con, table: str, as_of: date) -> int:
    return con.execute(f"SELECT count(*) FROM {table} WHERE as_of = ?", [as_of]).fetchall()[0][0]


def test_rerun_replaces_the_as_of_and_keeps_the_others(tmp_path):
    cfg = default_config(tmp_path)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    where = kpi_store.write_kpis(con, *frames(1.0), date(2025, 3, 1), cfg)
    assert [w.rsplit("#", 1)[1] for w in where] == ["cs_kpis", "cs_forecast"]
    kpi_store.write_kpis(con, *frames(0.9), date(2025, 4, 1), cfg)
    kpi_store.write_kpis(con, *frames(0.8), date(2025, 4, 1), cfg)
    assert count(con, "cs_kpis", date(2025, 3, 1)) == 2
    assert count(con, "cs_kpis", date(2025, 4, 1)) == 2
    again = kpi_store.read_forecast(con, "cs_forecast", date(2025, 4, 1))
    assert again["nrr"].tolist() == [0.8]
    assert kpi_store.read_forecast(con, "cs_forecast", date(2025, 5, 1)) is None


def test_a_failure_leaves_both_tables_as_they_were(tmp_path, monkeypatch):
    cfg = default_config(tmp_path)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    kpi_store.write_kpis(con, *frames(1.0), date(2025, 3, 1), cfg)
    from churnml.io import score_history  # where the shared as-of writer adds columns

    real = score_history.add_new_columns
    calls = []

    def fail_on_the_forecast(raw, name, frame, view):
        calls.append(name)
        if "cs_forecast" in name:
            raise RuntimeError("disk full")
        return real(raw, name, frame, view)

    monkeypatch.setattr(score_history, "add_new_columns", fail_on_the_forecast)
    with pytest.raises(RuntimeError, match="disk full"):
        kpi_store.write_kpis(con, *frames(0.5), date(2025, 3, 1), cfg)
    assert len(calls) == 2  # the board was written inside the transaction, then rolled back
    values = con.execute("SELECT DISTINCT nrr FROM cs_kpis").fetchall()
    assert values == [(1.0,)]
    assert kpi_store.read_forecast(con, "cs_forecast", date(2025, 3, 1))["nrr"].tolist() == [1.0]


def test_no_forecast_table_yet(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    assert kpi_store.read_forecast(con, "cs_forecast", date(2025, 3, 1)) is None
