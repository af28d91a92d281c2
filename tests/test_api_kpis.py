"""`api.kpis(config, as_of=)`: the board as a scoring run of that date shows it (no model needed)."""

from __future__ import annotations

import pandas as pd
import pytest

from api_demo import write_demo_config
from churnml import api


@pytest.fixture(scope="module")
def demo_config(tmp_path_factory):
    from churnml.io.warehouse_writer import write_demo_warehouse

    root = tmp_path_factory.mktemp("kpis-demo")
    write_demo_warehouse(root / "data" / "warehouse.duckdb", 120, 8, 5, events_per_user_day=0.02)
    return write_demo_config(root)


def test_kpis_with_an_as_of_end_with_the_last_month_complete_by_then(demo_config):
    latest = api.kpis(demo_config)
    last_month = pd.Timestamp(latest["month"].max())
    as_of = (last_month - pd.DateOffset(months=2) + pd.Timedelta(days=10)).date()
    earlier = api.kpis(demo_config, as_of=as_of.isoformat())
    assert pd.Timestamp(earlier["month"].max()) == last_month - pd.DateOffset(months=3)
    assert set(earlier["segment"]) == set(latest["segment"])
    # the months both boards show agree: the as-of only cuts the board, as kpi_board does
    from churnml.kpis import kpi_board

    with api._tables(api.load(demo_config)) as tables:
        direct = kpi_board(tables, api.load(demo_config), as_of=as_of)
    pd.testing.assert_frame_equal(earlier, direct)
    assert api.kpis(demo_config, as_of=as_of).equals(earlier)  # a date works as the string does


def test_a_bad_as_of_is_one_clear_error(demo_config):
    with pytest.raises(ValueError, match=r"as_of must be a date or YYYY-MM-DD, got 'last month'"):
        api.kpis(demo_config, as_of="last month")
