"""ibis results into pandas: the Arrow route gives ibis' own frame."""

from __future__ import annotations

from datetime import date

import pandas as pd

from churnml.config import default_config
from churnml.features import derive_spec
from churnml.io.frames import to_pandas
from churnml.matrix import feature_matrix, observed_until
from frame_compare import assert_same_frames


def test_same_frame_as_ibis_to_pandas(tiny_tables):
    cfg = default_config()
    spec = derive_spec(tiny_tables, cfg)
    end = observed_until(tiny_tables)
    expr = feature_matrix(tiny_tables, [date(2024, 12, 1), date(2025, 2, 1)], spec, cfg.labels, end)
    expected = expr.to_pandas()
    actual = to_pandas(expr)
    # the matrix has missing values in numeric, text and timestamp columns
    assert expected.isna().any().sum() >= 3
    assert list(actual.columns) == list(expected.columns)
    assert_same_frames(expected, actual, rtol=0)
    for column in expected.columns:
        if expected[column].notna().any():
            assert actual[column].dtype == expected[column].dtype, column
        else:  # ibis gives Python None objects; numbers stay numbers here
            assert pd.api.types.is_numeric_dtype(actual[column]) or column == "churn_at", column
