"""Bring an ibis result into pandas."""

from __future__ import annotations

import ibis.expr.types as ir
import pandas as pd


def to_pandas(expr: ir.Table) -> pd.DataFrame:
    """Run `expr` on its backend; pandas frame with the dtypes ibis' own `to_pandas` gives.

    ibis' DuckDB `to_pandas` turns every column holding a NULL into Python objects, value by
    value, before converting it back. Going through Arrow returns the same frame: on the
    training matrix of 100k accounts x 12 snapshots (630k rows, 78 columns) ~20 s faster.
    """
    from ibis.formats.pandas import PandasData

    arrow = expr.to_pyarrow()
    # self_destruct frees each Arrow column once converted, split_blocks skips the copy that
    # consolidates columns into one block: the matrix is held once, not three times, at its peak
    frame = arrow.to_pandas(self_destruct=True, split_blocks=True)
    del arrow
    return PandasData.convert_table(frame, expr.schema())
