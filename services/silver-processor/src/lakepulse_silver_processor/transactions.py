"""Transaction alignment: a change becomes visible only once its whole source transaction is in.

The emitter (like Debezium with ``provide.transaction.metadata``) ends every source transaction with
an END event on the transaction topic carrying its event count per data collection; bronze keeps
those in ``bronze/_transactions``. Silver records, per table and bronze range it reads, how many
distinct changes of each transaction it has seen (``silver/_tx_arrivals``, appended under a Delta
transaction id, so a replayed range counts once). A change whose transaction has no END yet, or
some of whose tables have not delivered every event, is held under the rule
``transaction_incomplete`` (the same held-change mechanism as a missing parent) and re-evaluated
after later batches of any table; it is applied in the batch that finds its transaction complete.

Limits: tables still commit one after another, so readers can see one table of a transaction a
moment before another (the processor retries waiting tables right after each commit). A change
redelivered in a later bronze range is counted again, so a transaction with both a duplicate and a
missing event can be released early. Snapshot reads (op ``r``) belong to no source transaction.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakepulse_common.progress import TRANSACTION_INCOMPLETE_RULE

ARRIVALS_TABLE = "_tx_arrivals"
INCOMPLETE_RULE = TRANSACTION_INCOMPLETE_RULE
TRANSACTION_COLUMN = "_transaction_id"

ARRIVALS_SCHEMA = T.StructType(
    [
        T.StructField("transaction_id", T.StringType()),
        T.StructField("table", T.StringType()),
        T.StructField("events", T.LongType()),
        T.StructField("bronze_version", T.LongType()),
        T.StructField("recorded_at", T.TimestampType()),
    ]
)
_DATA_COLLECTIONS = "array<struct<data_collection:string,event_count:bigint>>"


def transaction_key(transaction_id: Column) -> Column:
    """The source transaction of a ``transaction.id`` or END ``id``: the txId before the first ``:``.

    Debezium's ids are ``txId:lsn``, and with pgoutput the LSN part can differ between the events of
    one transaction (noted with the conformance samples); the txId does not.
    """
    return F.substring_index(transaction_id, ":", 1)


def arrivals_app_id(table: str) -> str:
    """The Delta transaction id under which a table's arrivals are appended (version = bronze end)."""
    return f"lakepulse-silver-arrivals:{table}"


def _in_transaction() -> Column:
    return F.col(TRANSACTION_COLUMN).isNotNull() & (F.col("_op") != "r")


def arrival_rows(changes: DataFrame, table: str, bronze_version: int) -> DataFrame:
    """Distinct changes (key + position) per source transaction in newly read bronze rows."""
    return (
        changes.where(_in_transaction())
        .groupBy(TRANSACTION_COLUMN)
        .agg(F.count_distinct("_pk", "_source_lsn", "_source_seq").alias("events"))
        .select(
            F.col(TRANSACTION_COLUMN).alias("transaction_id"),
            F.lit(table).alias("table"),
            F.col("events").cast("long"),
            F.lit(bronze_version).cast("long").alias("bronze_version"),
            F.current_timestamp().alias("recorded_at"),
        )
    )


def table_of_collection(data_collection: Column) -> Column:
    """``schema.table`` (Debezium's data collection) → the LakePulse table name."""
    return F.element_at(F.split(data_collection, r"\."), -1)


def complete_transactions(
    wanted: DataFrame, transaction_events: DataFrame | None, arrivals: DataFrame | None
) -> DataFrame:
    """The ids in ``wanted`` (column ``_transaction_id``) whose END is known and fully arrived.

    ``transaction_events``: bronze ``_transactions`` rows; ``arrivals``: ``silver/_tx_arrivals``.
    """
    ids = wanted.select(TRANSACTION_COLUMN).distinct()
    if transaction_events is None or arrivals is None:
        return ids.where(F.lit(False))
    matches = transaction_key(transaction_events["tx_id"]) == ids[TRANSACTION_COLUMN]
    ends = (
        transaction_events.where(F.col("tx_status") == "END")
        .join(F.broadcast(ids), matches, "inner")
        .select(
            F.col(TRANSACTION_COLUMN),
            F.explode(F.from_json("tx_data_collections", _DATA_COLLECTIONS)).alias("collection"),
        )
        .select(
            TRANSACTION_COLUMN,
            table_of_collection(F.col("collection.data_collection")).alias("table"),
            F.col("collection.event_count").alias("expected"),
        )
    )
    seen = (
        arrivals.join(F.broadcast(ids), arrivals["transaction_id"] == ids[TRANSACTION_COLUMN], "inner")
        .groupBy(TRANSACTION_COLUMN, "table")
        .agg(F.sum("events").alias("seen"))
    )
    return (
        ends.join(seen, [TRANSACTION_COLUMN, "table"], "left")
        .groupBy(TRANSACTION_COLUMN)
        .agg(F.bool_and(F.coalesce(F.col("seen"), F.lit(0)) >= F.col("expected")).alias("complete"))
        .where("complete")
        .select(TRANSACTION_COLUMN)
    )


def mark_incomplete(changes: DataFrame, complete: DataFrame) -> DataFrame:
    """Set ``_held_rule`` to ``transaction_incomplete`` on changes of incomplete transactions.

    A change already held for another rule keeps that rule; it is re-evaluated either way.
    """
    done = complete.select(F.col(TRANSACTION_COLUMN).alias("_complete_id"), F.lit(True).alias("_complete"))
    flagged = changes.join(F.broadcast(done), changes[TRANSACTION_COLUMN] == done["_complete_id"], "left")
    waiting = _in_transaction() & ~F.coalesce(F.col("_complete"), F.lit(False))
    held = F.coalesce(F.col("_held_rule"), F.when(waiting, F.lit(INCOMPLETE_RULE)))
    return flagged.withColumn("_held_rule", held).drop("_complete_id", "_complete")
