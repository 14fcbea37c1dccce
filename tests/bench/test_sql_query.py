"""SQL benchmark: row counts from file statistics, timed queries, a lake without the marts refused."""

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from bench.sql_query import QUERIES, measure, table_rows, time_query
from lakepulse_common.storage import for_delta_rs, table_uri

pytestmark = pytest.mark.unit


@pytest.fixture
def lake(tmp_path):
    root = (tmp_path / "lake").as_uri()
    sales = pa.table(
        {
            "region": ["Americas", "Europe", "Americas"],
            "product_category": ["Toys", "Toys", "Mugs"],
            "total_orders": [3, 1, 2],
            "total_revenue": [30.0, 5.0, 12.5],
        }
    )
    path = for_delta_rs(table_uri(root, "gold", "fact_sales"))
    write_deltalake(path, sales)
    write_deltalake(path, sales.slice(0, 1), mode="append")
    return root


def test_table_rows_sum_the_files_statistics(lake):
    assert table_rows(lake, "gold", "fact_sales") == 4


def test_time_query_reports_percentiles_rows_and_table_sizes(lake):
    figures = time_query(lake, QUERIES["revenue_by_region_and_category"], warmup=1, repeat=4)
    assert figures["runs"] == 4
    assert figures["rows_out"] == 3  # three (region, category) pairs
    assert figures["table_rows"] == {"gold.fact_sales": 4}
    assert 0 < figures["min_ms"] <= figures["p50_ms"] <= figures["p95_ms"]


def test_a_lake_without_the_marts_is_refused_with_what_is_missing(lake):
    with pytest.raises(SystemExit, match="customer_analytics"):
        measure(lake, warmup=0, repeat=1, command_repeat=1)
