"""Applying bronze changes to silver with real Spark and Delta: after each step silver equals the
expected source state row for row. Scenarios are chained so the module stays within a few minutes."""

from __future__ import annotations

import pytest
from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from lakepulse_common.settings import LakePulseSettings
from lakepulse_silver_processor import lake
from lakepulse_silver_processor.changes import TOAST_PLACEHOLDER
from lakepulse_silver_processor.processor import SilverProcessor
from tests.services.silver_processor.bronze_rows import (
    CUSTOMER_KEY,
    ORDER_KEY,
    ORDER_LINE_KEY,
    Bronze,
    delete,
    upsert,
)
from tests.services.silver_processor.bronze_rows import customer as cust
from tests.services.silver_processor.bronze_rows import order as ordr
from tests.services.silver_processor.bronze_rows import order_line as line
from tests.services.silver_processor.expected import expected_row, read, silver_rows

pytestmark = pytest.mark.integration


def _history(spark: SparkSession, root: str, customer_id: int) -> list[dict[str, object]]:
    rows = [r for r in read(spark, root, "customers_history") if r["customer_id"] == customer_id]
    return sorted(rows, key=lambda r: (r["_source_lsn"], r["_source_seq"]))


@pytest.mark.slow
def test_duplicates_out_of_order_deletes_and_history(
    spark: SparkSession, lake_settings: LakePulseSettings, processor: SilverProcessor, bronze: Bronze
) -> None:
    root = lake_settings.lake_root
    v1, v2, v3 = cust(1, "v1"), cust(1, "v2", email="  Second@Example.COM "), cust(1, "v3")
    two = cust(2, "two", phone_number="+1 (555) 222-3333")
    # Many updates to one key in one batch collapse to the last; a delete of an unseen key is harmless.
    bronze.append(
        "customers",
        [
            upsert(100, v1, CUSTOMER_KEY, op="c"),
            upsert(200, v2, CUSTOMER_KEY),
            upsert(110, two, CUSTOMER_KEY, op="c"),
            upsert(300, v3, CUSTOMER_KEY),
            delete(300, cust(3), CUSTOMER_KEY),
        ],
    )
    [first] = processor.apply("customers")
    assert (first.rows_in, first.upserts, first.deletes) == (5, 2, 1)
    expected = {1: expected_row("customers", v3), 2: expected_row("customers", two)}
    assert silver_rows(spark, root, "customers") == expected
    assert expected[2]["phone_number"] == "15552223333"

    # Duplicates, a late older update, an insert older than its delete (delete before insert), and a
    # key inserted then deleted across two bronze versions applied as one batch.
    bronze.append(
        "customers",
        [
            upsert(200, v2, CUSTOMER_KEY),
            upsert(110, two, CUSTOMER_KEY, op="c"),
            upsert(250, cust(1, "late"), CUSTOMER_KEY),
            upsert(200, cust(3), CUSTOMER_KEY, op="c"),
            upsert(150, cust(4, "four"), CUSTOMER_KEY, op="c"),
        ],
    )
    bronze.append("customers", [delete(450, cust(4, "four"), CUSTOMER_KEY)])
    [second] = processor.apply("customers")
    assert (second.bronze_version_from, second.bronze_version_to) == (1, 2)
    assert silver_rows(spark, root, "customers") == expected
    assert {r["customer_id"]: r["_source_lsn"] for r in read(spark, root, "customers")} == {1: 300, 2: 110}

    # Re-insert after a delete comes back; an insert older than the delete still stays out.
    back = cust(4, "back")
    bronze.append("customers", [upsert(500, back, CUSTOMER_KEY, op="c"), upsert(250, cust(3), CUSTOMER_KEY)])
    processor.apply("customers")
    expected[4] = expected_row("customers", back)
    assert silver_rows(spark, root, "customers") == expected

    # SCD2: every accepted version in source order, linked by commit time, only the newest current.
    one = _history(spark, root, 1)
    assert [(r["customer_name"], r["_source_lsn"]) for r in one] == [
        ("v1", 100),
        ("v2", 200),
        ("late", 250),
        ("v3", 300),
    ]
    assert [r["is_current"] for r in one] == [False, False, False, True]
    assert [r["valid_to"] for r in one[:-1]] == [r["valid_from"] for r in one[1:]]
    assert one[-1]["valid_to"] is None
    assert one[1]["email"] == "second@example.com"
    assert [(r["_op"], r["is_current"]) for r in _history(spark, root, 4)] == [
        ("c", False),
        ("d", False),
        ("c", True),
    ]
    current = {
        r["customer_id"]: r["customer_name"]
        for r in read(spark, root, "customers_history")
        if r["is_current"]
    }
    assert current == {k: v["customer_name"] for k, v in expected.items()}
    # History is partitioned by is_current; a batch arriving in order re-links current versions only,
    # so its MERGE searches the current partition; a late change or a re-insert after a delete
    # re-links closed versions and searches the whole table.
    history = DeltaTable.forPath(spark, processor.uri("customers_history"))
    assert history.detail().first()["partitionColumns"] == ["is_current"]
    merges = history.history().where("operation = 'MERGE'").orderBy("version").collect()
    restricted = ["is_current" in m["operationParameters"]["predicate"] for m in merges]
    assert restricted == [True, False, False]


def test_snapshot_children_are_applied_without_waiting_for_their_parents(
    spark: SparkSession, lake_settings: LakePulseSettings, processor: SilverProcessor, bronze: Bronze
) -> None:
    """A snapshot arrives interleaved across bronze batches; its parents are in the same snapshot."""
    root = lake_settings.lake_root
    bronze.append("customers", [upsert(100, cust(1), CUSTOMER_KEY, op="r")])
    processor.apply("customers")
    bronze.append(
        "orders",
        [
            upsert(100, ordr(20, customer_id=9), ORDER_KEY, op="r"),
            upsert(300, ordr(21, customer_id=8), ORDER_KEY, op="c"),
        ],
    )
    [batch] = processor.apply("orders")
    assert (batch.upserts, batch.held) == (1, 1)  # the snapshot read is applied, the live insert waits
    assert sorted(silver_rows(spark, root, "orders")) == [20]

    strict = SilverProcessor(
        spark,
        root,
        processor.settings.model_copy(update={"hold_snapshot_rows": True}),
        processor.metrics,
    )
    bronze.append("orders", [upsert(100, ordr(22, customer_id=9), ORDER_KEY, op="r")])
    [batch] = strict.apply("orders")
    assert batch.held == 2  # order 21 again, and the snapshot read now waits too
    assert sorted(silver_rows(spark, root, "orders")) == [20]


@pytest.mark.slow
def test_late_parent_toast_added_column_and_quarantine(
    spark: SparkSession, lake_settings: LakePulseSettings, processor: SilverProcessor, bronze: Bronze
) -> None:
    root = lake_settings.lake_root
    bronze.append("customers", [upsert(100, cust(1), CUSTOMER_KEY, op="c")])
    processor.apply("customers")

    # Order 10's customer has not arrived yet: it is held, not dropped; order 11 is applied.
    long_comment = "a long comment " * 50
    eleven = ordr(11, customer_id=1, comments=long_comment, internal_comments="first")
    bronze.append(
        "orders",
        [upsert(200, ordr(10, customer_id=7), ORDER_KEY, op="c"), upsert(210, eleven, ORDER_KEY, op="c")],
    )
    [held] = processor.apply("orders")
    assert (held.held, held.upserts) == (1, 1)
    assert sorted(silver_rows(spark, root, "orders")) == [11]
    assert [(r["table"], r["rule"], r["_offset"]) for r in read(spark, root, "_held")] == [
        ("orders", "order_customer_exists", 0)
    ]

    bronze.append("customers", [upsert(150, cust(7), CUSTOMER_KEY, op="c")])
    processor.apply("customers")
    [released] = processor.apply("orders", processor.applied_version("orders"), retry_held=True)
    assert (released.released, released.upserts, released.held) == (1, 1, 0)
    assert read(spark, root, "_held") == []

    # A held change whose key is deleted later (its parent never comes: deleted with it) is superseded
    # and leaves _held, whether the delete comes in a later batch or with the held change's retry.
    orphan, late_orphan = ordr(12, customer_id=99), ordr(13, customer_id=98)
    bronze.append(
        "orders", [upsert(250, orphan, ORDER_KEY, op="c"), upsert(251, late_orphan, ORDER_KEY, op="c")]
    )
    [waiting] = processor.apply("orders")
    assert waiting.held == 2
    bronze.append("orders", [delete(260, orphan, ORDER_KEY)])
    [deleted] = processor.apply("orders")
    assert (deleted.deletes, deleted.released, deleted.held) == (1, 1, 1)
    assert [r["_pk"] for r in read(spark, root, "_held")] == ['{"order_id":13}']
    bronze.append("orders", [delete(270, late_orphan, ORDER_KEY)])
    [gone] = processor.apply("orders")
    assert (gone.released, gone.held) == (1, 0)
    assert read(spark, root, "_held") == []
    # Created and deleted in one batch (deleted with its customer): superseded, so never held.
    fleeting = ordr(14, customer_id=97)
    bronze.append("orders", [upsert(280, fleeting, ORDER_KEY, op="c"), delete(281, fleeting, ORDER_KEY)])
    [passed] = processor.apply("orders")
    assert (passed.held, passed.deletes) == (0, 1)
    assert read(spark, root, "_held") == []
    # Held, then overtaken by a later update naming a customer that exists: the update is applied and
    # the held change, which can never win the MERGE, leaves _held at the next batch.
    stale, fresh = ordr(15, customer_id=96), ordr(15, customer_id=1)
    bronze.append("orders", [upsert(290, stale, ORDER_KEY, op="c")])
    assert [b.held for b in processor.apply("orders")] == [1]
    bronze.append("orders", [upsert(295, fresh, ORDER_KEY)])
    processor.apply("orders")
    assert silver_rows(spark, root, "orders")[15] == expected_row("orders", fresh)
    [cleared] = processor.apply("orders", processor.applied_version("orders"), retry_held=True)
    assert (cleared.released, cleared.held) == (1, 0)
    assert read(spark, root, "_held") == []
    bronze.append("orders", [delete(296, fresh, ORDER_KEY)])
    processor.apply("orders")
    assert sorted(silver_rows(spark, root, "orders")) == [10, 11]

    # An unchanged TOASTed column keeps its value; a new source column appears in silver.
    toasted = ordr(11, customer_id=1, comments=TOAST_PLACEHOLDER, internal_comments="second", priority="high")
    bronze.append("orders", [upsert(300, toasted, ORDER_KEY)])
    processor.apply("orders")
    assert silver_rows(spark, root, "orders", extra=("priority",)) == {
        10: expected_row("orders", ordr(10, customer_id=7)) | {"priority": None},
        11: expected_row("orders", eleven | {"internal_comments": "second"}) | {"priority": "high"},
    }

    # A line breaking a quarantine expectation goes to _quarantine with its rule and source position.
    good, bad = line(1, 11), line(2, 11, quantity=0)
    bronze.append(
        "order_lines", [upsert(400, good, ORDER_LINE_KEY, op="c"), upsert(401, bad, ORDER_LINE_KEY, op="c")]
    )
    [lines] = processor.apply("order_lines")
    assert lines.rule_failures == {"quantity_positive": 1}
    assert silver_rows(spark, root, "order_lines") == {1: expected_row("order_lines", good)}
    [row] = read(spark, root, "_quarantine")
    assert (row["table"], row["rule"], row["_offset"], row["_source_lsn"]) == (
        "order_lines",
        "quantity_positive",
        1,
        401,
    )
    [quality] = [r for r in read(spark, root, "_quality") if r["table"] == "order_lines"]
    assert (quality["rows_in"], quality["upserts"], quality["quarantined"]) == (2, 1, 1)
    # append-only, never read whole by a batch: a checkpoint every 100 commits (APPEND_ONLY_LOG_PROPERTIES)
    assert lake.table_property(spark, processor.uri("_quality"), "delta.checkpointInterval") == "100"


def test_incompatible_change_pauses_the_table(
    spark: SparkSession, lake_settings: LakePulseSettings, processor: SilverProcessor, bronze: Bronze
) -> None:
    rekeyed = upsert(110, cust(2), CUSTOMER_KEY, op="c", key_override={"customer_id": 2, "region": "eu"})
    bronze.append(
        "customers",
        [upsert(100, cust(1, payment_days="net thirty"), CUSTOMER_KEY, op="c"), rekeyed],
    )
    assert processor.apply("customers") == []
    problems = processor.paused["customers"]
    assert any("payment_days" in p for p in problems)
    assert any("primary key changed" in p for p in problems)
    assert processor.metrics.paused.labels("customers")._value.get() == 1
    assert processor.applied_version("customers") == -1
    assert processor.apply("customers") == []  # stays paused until restarted with a fixed schema


def test_merge_source_is_broadcast_only_into_a_target_above_the_size_threshold(
    processor: SilverProcessor, bronze: Bronze
) -> None:
    bronze.append("customers", [upsert(100, cust(1), CUSTOMER_KEY, op="c")])
    processor.apply("customers", 0)
    uri = processor.uri("customers")
    size = lake.size_in_bytes(processor.spark, uri)
    assert size > 0  # the one data file
    assert not processor.broadcasts_merge_source(10, uri)  # far below the default 4 MiB
    processor.settings = processor.settings.model_copy(update={"merge_broadcast_min_target_bytes": size - 1})
    assert processor.broadcasts_merge_source(10, uri)
    assert not processor.broadcasts_merge_source(processor.settings.merge_broadcast_max_rows + 1, uri)
