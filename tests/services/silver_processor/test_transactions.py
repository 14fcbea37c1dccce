"""Transaction alignment with real Spark and Delta: no change of a source transaction is applied
before every event of it (END counts, per table) has reached bronze."""

from __future__ import annotations

import pytest
from pyspark.sql import SparkSession

from lakepulse_common.settings import LakePulseSettings
from lakepulse_silver_processor.config import SilverSettings
from lakepulse_silver_processor.metrics import SilverMetrics
from lakepulse_silver_processor.processor import SilverProcessor
from lakepulse_silver_processor.quarantine import HELD_TABLE
from lakepulse_silver_processor.transactions import (
    INCOMPLETE_RULE,
    TRANSACTION_COLUMN,
    complete_transactions,
    mark_incomplete,
)
from tests.services.silver_processor.bronze_rows import (
    CUSTOMER_KEY,
    ORDER_KEY,
    ORDER_LINE_KEY,
    Bronze,
    upsert,
)
from tests.services.silver_processor.bronze_rows import customer as cust
from tests.services.silver_processor.bronze_rows import order as ordr
from tests.services.silver_processor.bronze_rows import order_line as line
from tests.services.silver_processor.expected import read, silver_rows

pytestmark = pytest.mark.integration


def test_a_transaction_is_complete_when_every_table_delivered_its_end_count(spark: SparkSession) -> None:
    wanted = spark.createDataFrame([("t1",), ("t2",), ("t3",), ("t4",)], f"{TRANSACTION_COLUMN} STRING")
    ends = spark.createDataFrame(
        [
            (
                "END",
                "t1",
                '[{"data_collection":"sales.orders","event_count":1},'
                '{"data_collection":"sales.order_lines","event_count":2}]',
            ),
            (
                "END",
                "t2",
                '[{"data_collection":"sales.orders","event_count":1},'
                '{"data_collection":"sales.order_lines","event_count":2}]',
            ),
            ("BEGIN", "t3", None),
            ("END", "t4", '[{"data_collection":"sales.orders","event_count":2}]'),
        ],
        "tx_status STRING, tx_id STRING, tx_data_collections STRING",
    )
    arrivals = spark.createDataFrame(
        [
            ("t1", "orders", 1),
            ("t1", "order_lines", 1),
            ("t1", "order_lines", 1),  # the second line came in a later bronze range
            ("t2", "orders", 1),
            ("t2", "order_lines", 1),  # one line still missing
            ("t3", "orders", 1),  # no END yet
            ("t4", "orders", 2),
        ],
        "transaction_id STRING, table STRING, events BIGINT",
    )
    complete = {r[0] for r in complete_transactions(wanted, ends, arrivals).collect()}
    assert complete == {"t1", "t4"}
    assert complete_transactions(wanted, None, arrivals).count() == 0

    changes = spark.createDataFrame(
        [("t1", "u", None), ("t2", "u", None), ("t2", "d", "order_customer_exists"), (None, "r", None)],
        f"{TRANSACTION_COLUMN} STRING, _op STRING, _held_rule STRING",
    )
    marked = mark_incomplete(changes, complete_transactions(wanted, ends, arrivals))
    rules = sorted((r[TRANSACTION_COLUMN] or "-", r["_op"], r["_held_rule"] or "-") for r in marked.collect())
    assert rules == [
        ("-", "r", "-"),  # snapshot reads belong to no transaction
        ("t1", "u", "-"),
        ("t2", "d", "order_customer_exists"),  # an earlier hold keeps its rule
        ("t2", "u", INCOMPLETE_RULE),
    ]


@pytest.mark.slow
def test_an_order_waits_for_all_its_lines_and_they_appear_together(
    spark: SparkSession, lake_settings: LakePulseSettings, bronze: Bronze
) -> None:
    root = lake_settings.lake_root
    settings = SilverSettings(optimize_every_commits=0, align_transactions=True)
    processor = SilverProcessor(spark, root, settings, SilverMetrics())
    bronze.append("customers", [upsert(100, cust(1), CUSTOMER_KEY, op="r")])
    processor.apply("customers")

    tx = "900:2000"
    bronze.append("orders", [upsert(1990, ordr(50, customer_id=1), ORDER_KEY, op="c", transaction_id=tx)])
    bronze.append("order_lines", [upsert(1991, line(500, 50), ORDER_LINE_KEY, op="c", transaction_id=tx)])
    bronze.end_transaction(tx, {"orders": 1, "order_lines": 2})
    [orders_batch] = processor.apply("orders")
    [lines_batch] = processor.apply("order_lines")
    assert (orders_batch.held, lines_batch.held) == (1, 1)
    assert silver_rows(spark, root, "orders") == {} and silver_rows(spark, root, "order_lines") == {}
    held = {(r["table"], r["rule"]) for r in read(spark, root, HELD_TABLE)}
    assert ("orders", INCOMPLETE_RULE) in held
    assert processor.tables_with_releasable_transactions() == []

    # A transaction with no END yet waits too, however complete it looks.
    lone = upsert(2100, ordr(51, customer_id=1), ORDER_KEY, op="c", transaction_id="901:2101")
    bronze.append("orders", [lone])
    # The missing line arrives: the transaction is complete; the order goes first, then its lines.
    bronze.append("order_lines", [upsert(1992, line(501, 50), ORDER_LINE_KEY, op="c", transaction_id=tx)])
    processor.apply("order_lines")
    assert processor.tables_with_releasable_transactions() == ["orders"]  # the lines wait for their order
    [orders_retry] = processor.apply("orders")
    assert orders_retry.released == 1 and orders_retry.held == 1
    processor.apply("order_lines", retry_held=True)
    assert sorted(silver_rows(spark, root, "orders")) == [50]
    assert sorted(silver_rows(spark, root, "order_lines")) == [500, 501]
    assert processor.tables_with_releasable_transactions() == []  # order 51 still waits for its END
    assert ("orders", INCOMPLETE_RULE) in {(r["table"], r["rule"]) for r in read(spark, root, HELD_TABLE)}
