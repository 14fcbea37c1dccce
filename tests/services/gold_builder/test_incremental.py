"""Full rebuild, then the incremental path driven the way the service runs, then maintenance.

One scenario (seeding and loading silver dominate the cost, so it is done once): the full rebuild
equals the ground truth and every gold table opens with delta-rs at protocol (1, 2). A mixed workload
(insert, update, delete, an SCD2 customer change, a price change, a customer moving region, an item
changing primary stock group, a stock-take) is applied to PostgreSQL AND to silver;
after the service reacts, every mart equals the ground truth again, fact lines point at the SCD2
versions valid on their order dates, and a re-delivered event changes nothing. Finally an OPTIMIZE
command (Z-order) leaves the tables readable by delta-rs at the same protocol, VACUUM removes the
replaced files, and a date-range backfill keeps gold equal to the ground truth.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest
from confluent_kafka import Consumer
from deltalake import DeltaTable as RsDeltaTable
from prometheus_client import REGISTRY
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakepulse_common.control_events import Command, CommandAction
from lakepulse_common.kafka import (
    create_admin,
    create_consumer,
    create_producer,
    ensure_topics,
    platform_topics,
)
from lakepulse_common.runtime import Shutdown
from lakepulse_common.topics import TopicNames
from lakepulse_gold_builder.build import full_rebuild
from lakepulse_gold_builder.config import GoldBuilderSettings
from lakepulse_gold_builder.consumer import GoldService
from lakepulse_gold_builder.incremental import incremental_update, rebuild_dates
from lakepulse_gold_builder.maintenance import stored_files, vacuum
from lakepulse_gold_builder.notifications import GoldChange, Publisher
from lakepulse_gold_builder.tables import ALL_TABLES, DIM_CUSTOMER, FACT_SALES, FACT_SALES_LINE
from tests.services.gold_builder import silver_loader
from tests.services.gold_builder.conftest import AS_OF, LOADED_AT
from tests.services.gold_builder.reconcile import assert_marts_match
from tests.services.gold_builder.silver_events import silver_commit
from tests.support import random_name, wait_for

# Seeding, loading silver and three builds: ~3 min on an idle 2-core machine, far more on a busy one.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(1800)]

NEW_ORDER_DATE = dt.date(2016, 6, 1)
CHANGED_TABLES = (
    "customers",
    "stock_items",
    "stock_item_stock_groups",
    "stock_item_holdings",
    "orders",
    "order_lines",
)


def mixed_workload(settings: GoldBuilderSettings) -> dict[str, Any]:
    """Inserts, updates and deletes in one source transaction; returns the ids it chose."""
    conn = psycopg2.connect(settings.postgres.dsn())
    try:
        with conn, conn.cursor() as cur:

            def one(sql: str, *args: object) -> int:
                cur.execute(sql, args)
                row = cur.fetchone()
                assert row is not None
                return int(row[0])

            versioned = one(
                "SELECT customer_id FROM sales.orders GROUP BY customer_id"
                " HAVING count(DISTINCT order_date) > 1 ORDER BY count(*) DESC, customer_id LIMIT 1"
            )
            # The SCD2 change happens on the customer's last order date: earlier orders keep the old version.
            cur.execute("SELECT max(order_date) FROM sales.orders WHERE customer_id = %s", (versioned,))
            changed_on: dt.date = cur.fetchone()[0]  # type: ignore[index]
            mover = one(
                "SELECT customer_id FROM sales.orders WHERE customer_id <> %s"
                " GROUP BY customer_id ORDER BY count(*) DESC LIMIT 1",
                versioned,
            )
            cancelled = one(
                "SELECT min(order_id) FROM sales.orders WHERE customer_id NOT IN (%s, %s)", versioned, mover
            )
            edited_line = one(
                "SELECT max(order_line_id) FROM sales.order_lines WHERE order_id <> %s", cancelled
            )
            repriced = one(
                "SELECT stock_item_id FROM sales.order_lines GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
            )
            regrouped = one(
                "SELECT stock_item_id FROM warehouse.stock_item_stock_groups GROUP BY 1"
                " HAVING min(stock_group_id) > 1 LIMIT 1"
            )
            # SCD2: the customer's credit limit changes (a new version from changed_on in silver's history).
            cur.execute(
                "UPDATE sales.customers SET credit_limit = coalesce(credit_limit, 0) + 1000,"
                " email = 'new@example.com' WHERE customer_id = %s",
                (versioned,),
            )
            # The customer moves to a city in another sales territory: as-is region of all its sales.
            cur.execute(
                """UPDATE sales.customers c SET delivery_city_id = (
                             SELECT ci.city_id FROM application.cities ci
                             JOIN application.state_provinces sp USING (state_province_id)
                             WHERE sp.sales_territory <> (
                               SELECT sp2.sales_territory FROM application.cities ci2
                               JOIN application.state_provinces sp2 USING (state_province_id)
                               WHERE ci2.city_id = c.delivery_city_id) LIMIT 1)
                           WHERE customer_id = %s""",
                (mover,),
            )
            cur.execute(
                "UPDATE warehouse.stock_items SET unit_price = unit_price + 1 WHERE stock_item_id = %s",
                (repriced,),
            )
            cur.execute(
                "INSERT INTO warehouse.stock_item_stock_groups (stock_item_id, stock_group_id)"
                " VALUES (%s, 1)",
                (regrouped,),
            )
            cur.execute(
                "UPDATE warehouse.stock_item_holdings SET quantity_on_hand = 0 WHERE stock_item_id = %s",
                (repriced,),
            )
            cur.execute(
                "UPDATE sales.order_lines SET quantity = quantity + 7, unit_price = unit_price + 0.33"
                " WHERE order_line_id = %s",
                (edited_line,),
            )
            cur.execute("DELETE FROM sales.order_lines WHERE order_id = %s", (cancelled,))
            cur.execute("DELETE FROM sales.orders WHERE order_id = %s", (cancelled,))
            new_order = one("SELECT max(order_id) + 1 FROM sales.orders")
            cur.execute(
                """INSERT INTO sales.orders (order_id, customer_id, salesperson_person_id, order_date,
                             expected_delivery_date, is_undersupply_backordered)
                           SELECT %s, %s, salesperson_person_id, %s, %s, true FROM sales.orders LIMIT 1""",
                (new_order, versioned, NEW_ORDER_DATE, NEW_ORDER_DATE + dt.timedelta(days=1)),
            )
            next_line = one("SELECT max(order_line_id) + 1 FROM sales.order_lines")
            for offset, quantity in enumerate((3, 5)):
                cur.execute(
                    """INSERT INTO sales.order_lines (order_line_id, order_id, stock_item_id, description,
                                 package_type_id, quantity, unit_price, tax_rate, picked_quantity)
                               SELECT %s, %s, stock_item_id, description, package_type_id, %s, 12.34,
                                      15.000, 0
                               FROM sales.order_lines WHERE stock_item_id = %s LIMIT 1""",
                    (next_line + offset, new_order, quantity, repriced),
                )
    finally:
        conn.close()
    changed_at = dt.datetime.combine(changed_on, dt.time(), tzinfo=dt.UTC)
    return {"versioned": versioned, "new_order": new_order, "repriced": repriced, "changed_at": changed_at}


@pytest.fixture
def control_consumer(seeded_silver: GoldBuilderSettings) -> Iterator[Consumer]:
    consumer = create_consumer(seeded_silver.kafka, "gold-test", random_name("gold-"))
    yield consumer
    consumer.close()


def _versions(spark: SparkSession, lake_root: str) -> dict[str, int]:
    from delta.tables import DeltaTable

    return {
        t.name: int(DeltaTable.forPath(spark, t.uri(lake_root)).history(1).first()["version"])  # type: ignore[index]
        for t in ALL_TABLES
    }


def assert_readable_by_delta_rs(spark: SparkSession, lake_root: str) -> None:
    for table in ALL_TABLES:
        rs = RsDeltaTable(table.delta_rs_uri(lake_root))
        protocol = rs.protocol()
        assert (protocol.min_reader_version, protocol.min_writer_version) == (1, 2), table.name
        assert not protocol.reader_features and not protocol.writer_features, table.name
        spark_rows = spark.read.format("delta").load(table.uri(lake_root)).count()
        assert rs.to_pyarrow_table().num_rows == spark_rows > 0, table.name


def test_full_rebuild_then_incremental_update_match_ground_truth(
    seeded_silver: GoldBuilderSettings, spark: SparkSession, control_consumer: Consumer
) -> None:
    settings, lake_root = seeded_silver, seeded_silver.lake_root
    topics = TopicNames.from_settings(settings.kafka)
    ensure_topics(create_admin(settings.kafka), platform_topics(settings.kafka))
    producer = create_producer(settings.kafka, "gold-test")
    publisher = Publisher(producer, topics, max_keys=100)
    report = full_rebuild(spark, lake_root, as_of=AS_OF)
    assert set(report.commits) == {table.name for table in ALL_TABLES}
    assert_marts_match(spark, settings, AS_OF)
    assert_readable_by_delta_rs(spark, lake_root)

    ids = mixed_workload(settings)
    changed_at: dt.datetime = ids["changed_at"]
    silver_loader.sync(spark, settings, CHANGED_TABLES, changed_at)
    event = silver_commit("order_lines", 1)
    producer.produce(topics.control, key=event.key, value=event.to_bytes())
    producer.flush(10)

    service = GoldService(settings, spark, control_consumer, publisher, Shutdown(), as_of=lambda: AS_OF)
    service.subscribe()
    wait_for(lambda: service.run_once().silver_events, 60, "the silver control event")
    report = service.reports[-1]
    assert report.mode == "incremental" and not report.skipped
    assert_marts_match(spark, settings, AS_OF)

    # SCD2: lines dated before the change use the first version, from its date on the new one.
    dim = (
        spark.read.format("delta")
        .load(DIM_CUSTOMER.uri(lake_root))
        .where(F.col("customer_id") == ids["versioned"])
    )
    keys = {row["valid_from"].date(): row["customer_key"] for row in dim.collect()}
    assert len(keys) == 2
    old_key, new_key = keys[LOADED_AT.date()], keys[changed_at.date()]
    lines = (
        spark.read.format("delta")
        .load(FACT_SALES_LINE.uri(lake_root))
        .where(F.col("customer_id") == ids["versioned"])
        .select("order_date", "customer_key")
        .collect()
    )
    assert {r["customer_key"] for r in lines if r["order_date"] < changed_at.date()} == {old_key}
    assert {r["customer_key"] for r in lines if r["order_date"] >= changed_at.date()} == {new_key}

    # Downstream notifications name what changed.
    changes = {c.table: c for c in publisher.published}
    assert NEW_ORDER_DATE in {dt.date.fromisoformat(d) for d in changes["fact_sales"].affected["order_date"]}
    assert ids["new_order"] in changes["fact_sales_line"].affected["order_id"]
    assert GoldChange.from_bytes(changes["fact_sales"].to_bytes()) == changes["fact_sales"]

    # A re-delivered event (same table and version) changes nothing.
    before = _versions(spark, lake_root)
    producer.produce(topics.control, key=event.key, value=event.to_bytes())
    producer.flush(10)
    wait_for(lambda: service.run_once().silver_events, 60, "the re-delivered control event")
    assert service.reports[-1].skipped
    assert _versions(spark, lake_root) == before
    assert_marts_match(spark, settings, AS_OF)

    # Maintenance on command: OPTIMIZE with Z-order keeps the protocol delta-rs (and Trino) read.
    command = Command(
        job_id="job-1",
        target_service="gold-builder",
        action=CommandAction.OPTIMIZE,
        params={"tables": [FACT_SALES.name]},
    )
    producer.produce(topics.commands, key=command.key, value=command.to_bytes())
    producer.flush(10)
    wait_for(lambda: service.run_once().commands, 60, "the optimize command")
    assert_readable_by_delta_rs(spark, lake_root)
    # A command older than command_ttl_s (a retained one, re-read by a new deployment) is not run.
    stale = Command(
        job_id="job-0",
        target_service="gold-builder",
        action=CommandAction.OPTIMIZE,
        params={"tables": [FACT_SALES.name]},
        issued_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=settings.control_api.command_ttl_s + 60),
    )
    expired_sample = ("lakepulse_gold_commands_total", {"action": "optimize", "outcome": "expired"})
    expired_before = REGISTRY.get_sample_value(*expired_sample) or 0.0
    producer.produce(topics.commands, key=stale.key, value=stale.to_bytes())
    producer.flush(10)
    wait_for(lambda: service.run_once().commands, 60, "the stale command")
    assert REGISTRY.get_sample_value(*expired_sample) == expired_before + 1
    fact_sales_files = stored_files(FACT_SALES.uri(lake_root))
    vacuum(spark, lake_root, [FACT_SALES.name], retain_hours=0)
    assert stored_files(FACT_SALES.uri(lake_root)) < fact_sales_files

    # A date-range backfill rewrites those dates and leaves gold equal to the ground truth.
    backfill = rebuild_dates(
        spark,
        lake_root,
        NEW_ORDER_DATE - dt.timedelta(days=40),
        NEW_ORDER_DATE,
        publisher=publisher,
        as_of=AS_OF,
    )
    assert backfill.mode == "backfill" and FACT_SALES.name in backfill.commits
    assert_marts_match(spark, settings, AS_OF)

    # An update touching more orders than the incremental limit (a backlog) is a full rebuild.
    conn = psycopg2.connect(settings.postgres.dsn())
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                "UPDATE sales.orders SET comments = 'bulk edit'"
                " WHERE order_id IN (SELECT order_id FROM sales.orders ORDER BY order_id LIMIT 3)"
            )
    finally:
        conn.close()
    silver_loader.sync(spark, settings, ["orders"], changed_at)
    bulk = incremental_update(spark, lake_root, as_of=AS_OF, max_incremental_orders=2)
    assert bulk.mode == "full" and not bulk.skipped
    assert_marts_match(spark, settings, AS_OF)
    assert incremental_update(spark, lake_root, as_of=AS_OF).skipped  # the full rebuild recorded the state
