"""Strict comparison of two feature/label frames computed by different engines."""

from __future__ import annotations

import numpy as np
import pandas as pd


def assert_same_frames(expected: pd.DataFrame, actual: pd.DataFrame, rtol: float = 1e-9) -> None:
    """Same columns, same (as_of, account_id) rows, numbers equal to `rtol`, missing values in
    the same places, text and timestamps identical."""
    assert sorted(expected.columns) == sorted(actual.columns), set(expected.columns) ^ set(
        actual.columns
    )
    assert len(expected) == len(actual) > 0
    key = ["as_of", "account_id"]
    expected = expected.sort_values(key).reset_index(drop=True)
    actual = actual[expected.columns].sort_values(key).reset_index(drop=True)
    for column in expected.columns:
        left, right = expected[column], actual[column]
        if any(pd.api.types.is_datetime64_any_dtype(x) for x in (left, right)):
            a = pd.to_datetime(left).astype("datetime64[us]")
            b = pd.to_datetime(right).astype("datetime64[us]")
            assert a.isna().tolist() == b.isna().tolist(), f"{column}: missing values differ"
            assert a.dropna().tolist() == b.dropna().tolist(), column
            continue
        numeric = [
            pd.api.types.is_numeric_dtype(x) and not pd.api.types.is_bool_dtype(x)
            for x in (left, right)
        ]
        if any(numeric):  # an all-missing column may come back as object on one engine
            a = pd.to_numeric(left, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            b = pd.to_numeric(right, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            bad = np.isnan(a) != np.isnan(b)
            assert not bad.any(), (
                f"{column}: missing values differ at rows {np.flatnonzero(bad)[:5].tolist()}: "
                f"{expected.loc[bad, key + [column]].head().to_dict('records')} vs "
                f"{right[bad].head().tolist()}"
            )
            np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol, err_msg=column)
        else:
            a = left.astype(object).where(left.notna(), None).tolist()
            b = right.astype(object).where(right.notna(), None).tolist()
            assert a == b, column
