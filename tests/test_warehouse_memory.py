"""A feature query DuckDB cannot fit in `warehouse.memory_limit` stops with one line naming the
limit and what to change, not DuckDB's traceback."""

from __future__ import annotations

import duckdb
import flows.tasks as tasks
import pytest

from churnml.config import default_config
from churnml.io.sources import SourceError


def test_running_out_of_warehouse_memory_names_the_limit_and_the_fix(tmp_path, monkeypatch):
    cfg = default_config(tmp_path)

    def out_of_memory(_expr):
        raise duckdb.OutOfMemoryException("Out of Memory Error: failed to pin block")

    monkeypatch.setattr(tasks, "to_pandas", out_of_memory)
    monkeypatch.setattr(tasks, "feature_matrix", lambda *a, **k: None)
    with pytest.raises(SourceError) as caught:
        tasks.build_matrix.fn({}, [], None, cfg, None)
    message = str(caught.value)
    assert "warehouse.memory_limit 4GB" in message and "raise warehouse.memory_limit" in message
    assert "\n" not in message
    assert caught.value.__cause__ is None  # one line: DuckDB's own text is not chained on


def test_the_default_leaves_room_for_the_matrix_beside_duckdb():
    assert default_config().warehouse.memory_limit == "4GB"
