"""`lakepulse sql`: embedded DuckDB over Delta tables written by delta-rs."""

import json
import subprocess
import sys
from decimal import Decimal

import pyarrow as pa
import pytest
from deltalake import write_deltalake
from typer.testing import CliRunner

from lakepulse_cli.main import app
from lakepulse_cli.sql import QueryError, list_tables, referenced_tables, run_query
from lakepulse_common.storage import for_delta_rs, table_uri

pytestmark = pytest.mark.unit


@pytest.fixture
def lake(tmp_path):
    root = (tmp_path / "lake").as_uri()
    customers = pa.table({"customer_id": [1, 2], "customer_name": ["Tailspin", "Wingtip"]})
    write_deltalake(for_delta_rs(table_uri(root, "silver", "customers")), customers)
    sales_v0 = pa.table(
        {"customer_id": [1, 1, 2], "revenue": pa.array([Decimal("10.50"), Decimal("2.25"), Decimal("7.00")])}
    )
    path = for_delta_rs(table_uri(root, "gold", "sales"))
    write_deltalake(path, sales_v0)
    write_deltalake(
        path, pa.table({"customer_id": [2], "revenue": pa.array([Decimal("1.00")])}), mode="append"
    )
    return root


def test_references_are_found_case_insensitively_and_once():
    query = (
        "select * from GOLD.sales s join silver.customers c using (customer_id) join gold.sales x using (a)"
    )
    assert referenced_tables(query) == [("gold", "sales"), ("silver", "customers")]


def test_join_across_layers(lake):
    result = run_query(
        lake,
        "SELECT c.customer_name, sum(s.revenue) AS revenue FROM gold.sales s "
        "JOIN silver.customers c USING (customer_id) GROUP BY 1 ORDER BY 1",
    )
    assert result.table.to_pylist() == [
        {"customer_name": "Tailspin", "revenue": Decimal("12.75")},
        {"customer_name": "Wingtip", "revenue": Decimal("8.00")},
    ]
    assert result.tables_read == {"gold.sales": 1, "silver.customers": 0}


def test_time_travel_reads_the_asked_version(lake):
    result = run_query(lake, "SELECT count(*) AS n FROM gold.sales", as_of=0)
    assert result.table.to_pylist() == [{"n": 3}]


def test_unknown_table_and_bad_sql_are_query_errors(lake):
    with pytest.raises(QueryError, match=r"no such table: gold\.nope"):
        run_query(lake, "SELECT * FROM gold.nope")
    with pytest.raises(QueryError):
        run_query(lake, "SELEC 1 FROM gold.sales")


def test_list_tables(lake):
    assert list_tables(lake) == {"bronze": [], "silver": ["customers"], "gold": ["sales"]}


def test_cli_formats_and_exit_codes(lake, monkeypatch):
    monkeypatch.setenv("LAKEPULSE_LAKE__ROOT", lake)
    runner = CliRunner()
    as_json = runner.invoke(app, ["sql", "SELECT customer_id FROM gold.sales ORDER BY 1", "--format", "json"])
    assert as_json.exit_code == 0, as_json.output
    assert [row["customer_id"] for row in json.loads(as_json.output)] == [1, 1, 2, 2]
    as_csv = runner.invoke(app, ["sql", "SELECT customer_name FROM silver.customers ORDER BY 1", "-f", "csv"])
    assert as_csv.output.splitlines() == ["customer_name", "Tailspin", "Wingtip"]
    missing = runner.invoke(app, ["sql", "SELECT * FROM gold.nope"])
    assert missing.exit_code == 2


def test_a_scan_stopped_by_limit_does_not_crash_the_process_at_exit(tmp_path):
    """pyarrow's read-ahead threads calling into delta-rs's Python filesystem crashed the interpreter
    at exit once LIMIT had stopped the scan (SIGABRT, SIGSEGV or a hang in 3 runs of 10)."""
    root = (tmp_path / "lake").as_uri()
    path = for_delta_rs(table_uri(root, "silver", "parts"))
    for _ in range(3):  # 20 partitions x 3 files
        keys = [f"t{i:02d}" for i in range(20) for _ in range(50)]
        write_deltalake(
            path, pa.table({"table": keys, "n": list(range(1000))}), partition_by=["table"], mode="append"
        )
    script = (
        "from lakepulse_cli.sql import run_query\n"
        f"print(run_query({root!r}, 'SELECT * FROM silver.parts LIMIT 1').table.num_rows)\n"
    )
    for _ in range(10):
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
        assert (done.returncode, done.stdout.strip()) == (0, "1"), done.stderr[-500:]
