"""The workload simulator against a real, seeded source database."""

from __future__ import annotations

import random
import re
import threading

import pytest

from lakepulse_common.runtime import Shutdown
from lakepulse_common.settings import LakePulseSettings
from lakepulse_oltp.database import connect
from lakepulse_oltp.errors import InvalidWorkloadError
from lakepulse_oltp.simulator import simulate
from lakepulse_oltp.simulator.operations import SCHEMA_CHANGE_SQL, Transaction, WorkloadContext
from lakepulse_oltp.simulator.patterns import (
    BULK_MIX,
    BULK_SCHEMA_CHANGE_MIX,
    SCHEMA_CHANGE,
    SCHEMA_CHANGE_MIX,
    SINGLE_MIX,
    Pattern,
    release_offsets,
)
from lakepulse_oltp.simulator.prepared import GENERIC_PLANS, PreparedStatements
from lakepulse_oltp.simulator.runner import _maxima
from tests.libs.oltp.conftest import rows, scalar

RATE_TOLERANCE = 0.10
# The tables that grow with the workload; the small ones may legitimately be scanned at the test scale.
FULL_SCAN_OF_A_BIG_TABLE = re.compile(r"Seq Scan on (orders|order_lines)\b")

INTEGRITY_CHECKS = {
    "orders without lines": """SELECT count(*) FROM sales.orders o
        WHERE NOT EXISTS (SELECT 1 FROM sales.order_lines l WHERE l.order_id = o.order_id)""",
    "lines of a picked order not picked": """SELECT count(*) FROM sales.order_lines l
        JOIN sales.orders o USING (order_id)
        WHERE o.picking_completed_when IS NOT NULL AND l.picked_quantity <> l.quantity""",
    "items without a holding": """SELECT count(*) FROM warehouse.stock_items i WHERE NOT EXISTS
        (SELECT 1 FROM warehouse.stock_item_holdings h WHERE h.stock_item_id = i.stock_item_id)""",
    "items without a stock group": """SELECT count(*) FROM warehouse.stock_items i WHERE NOT EXISTS
        (SELECT 1 FROM warehouse.stock_item_stock_groups g WHERE g.stock_item_id = i.stock_item_id)""",
    "quantities not in whole outers": """SELECT count(*) FROM sales.order_lines l
        JOIN warehouse.stock_items i USING (stock_item_id) WHERE l.quantity % i.quantity_per_outer <> 0""",
}


def assert_integrity(settings: LakePulseSettings) -> None:
    # Foreign keys are enforced by PostgreSQL; make sure they are all validated and nothing slipped past.
    assert (
        scalar(settings, "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND NOT convalidated") == 0
    )
    for what, query in INTEGRITY_CHECKS.items():
        assert scalar(settings, query) == 0, what


@pytest.mark.unit
def test_release_schedules_average_the_requested_rate() -> None:
    assert len(list(release_offsets(Pattern.TRICKLE, 100, 3, 2.0))) == 300
    burst = list(release_offsets(Pattern.BURST, 100, 4, 2.0))
    assert len(burst) == 400
    assert not [t for t in burst if t % 2.0 < 1.0], "the first half of every period is idle"


@pytest.mark.unit
@pytest.mark.parametrize(
    ("pattern", "rate", "duration"),
    [
        ("sideways", 10, 1),
        ("trickle", 0, 1),
        ("trickle", 20_000, 1),
        ("burst", 10, -1),
        ("bulk", float("nan"), 1),
    ],
)
def test_invalid_arguments_are_refused_before_connecting(pattern: str, rate: float, duration: float) -> None:
    with pytest.raises(InvalidWorkloadError):
        simulate(LakePulseSettings(), pattern, rate, duration)


@pytest.mark.integration
def test_trickle_runs_every_operation_kind_and_the_schema_change(seeded_database: LakePulseSettings) -> None:
    orders_before = scalar(seeded_database, "SELECT count(*) FROM sales.orders")
    result = simulate(seeded_database, "trickle", 150, 4, schema_change=True, seed=3)

    expected_kinds = {*SINGLE_MIX, *SCHEMA_CHANGE_MIX, SCHEMA_CHANGE}
    assert set(result.counts) == expected_kinds, result.counts
    assert result.counts[SCHEMA_CHANGE] == 1
    assert result.rate_deviation <= RATE_TOLERANCE, result
    assert not result.interrupted and result.missed == 0
    per_second = [sum(result.profile[i : i + 4]) for i in range(0, 16, 4)]
    assert all(110 <= n <= 190 for n in per_second), per_second  # steady, not bunched: 150/s ± 25 %
    assert_integrity(seeded_database)
    columns = rows(
        seeded_database,
        "SELECT data_type FROM information_schema.columns"
        " WHERE table_schema = 'sales' AND table_name = 'customers' AND column_name = 'loyalty_tier'",
    )
    assert columns == [("text",)]
    assert scalar(seeded_database, "SELECT count(*) FROM sales.customers WHERE loyalty_tier IS NOT NULL") > 0
    placed, cancelled = result.counts["place_order"], result.counts["cancel_order"]
    assert scalar(seeded_database, "SELECT count(*) FROM sales.orders") == orders_before + placed - cancelled


@pytest.mark.integration
def test_burst_alternates_idle_and_spikes(seeded_database: LakePulseSettings) -> None:
    result = simulate(seeded_database, "burst", 100, 4, seed=4, burst_period_s=2.0)
    assert result.rate_deviation <= RATE_TOLERANCE, result
    per_second = [sum(result.profile[i : i + 4]) for i in range(0, 16, 4)]
    idle, spikes = per_second[0::2], per_second[1::2]
    assert max(idle) <= 10, per_second  # only stragglers of the previous spike
    assert min(spikes) >= 180, per_second  # about twice the average rate
    assert_integrity(seeded_database)


@pytest.mark.integration
def test_bulk_runs_few_large_transactions(seeded_database: LakePulseSettings) -> None:
    lines_before = scalar(seeded_database, "SELECT count(*) FROM sales.order_lines")
    result = simulate(seeded_database, "bulk", 2, 4, schema_change=True, seed=5, bulk_rows=900)
    assert result.transactions == 8
    assert result.rate_deviation <= RATE_TOLERANCE, result
    assert set(result.counts) <= {*BULK_MIX, *BULK_SCHEMA_CHANGE_MIX, SCHEMA_CHANGE}
    if "bulk_place_orders" in result.counts:
        added = int(scalar(seeded_database, "SELECT count(*) FROM sales.order_lines")) - lines_before  # type: ignore[arg-type]
        assert added >= 400 * result.counts["bulk_place_orders"] - 100 * result.counts.get(
            "bulk_complete_picking", 0
        )
    assert_integrity(seeded_database)


@pytest.mark.integration
def test_shutdown_stops_between_transactions(seeded_database: LakePulseSettings) -> None:
    shutdown = Shutdown()
    timer = threading.Timer(1.0, shutdown.request)
    timer.start()
    try:
        result = simulate(seeded_database, "trickle", 200, 30, seed=6, shutdown=shutdown)
    finally:
        timer.cancel()
    assert result.interrupted
    assert 100 <= result.transactions <= 400 and result.elapsed_s < 5
    assert_integrity(seeded_database)


@pytest.mark.unit
def test_prepared_statements_have_no_parameterised_limit() -> None:
    """A generic plan guesses a ``LIMIT $1`` at a tenth of the table and hash-joins all of it."""
    ctx = WorkloadContext(100, 100, 100, 100, 2000, ["short"], ["long"])
    ctx.schema_changed.set()
    rng = random.Random(1)
    for kind, (operation, _) in {**SINGLE_MIX, **SCHEMA_CHANGE_MIX}.items():
        for _ in range(12):
            for statement in operation(rng, ctx).statements:
                assert not re.search(r"(LIMIT|OFFSET)\s+%\(", statement), kind


@pytest.mark.integration
def test_prepared_statements_plan_every_single_row_operation_by_index(
    seeded_database: LakePulseSettings,
) -> None:
    """A generic plan is made once per connection; a bad one would cost a table scan per transaction."""
    conn = connect(seeded_database, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(SCHEMA_CHANGE_SQL)
            cur.execute(GENERIC_PLANS)
            prepared = PreparedStatements(cur, prefix="plan_check")
            ctx = WorkloadContext.build(8, _maxima(seeded_database), 2000)
            ctx.schema_changed.set()

            seen: set[str] = set()

            def generic_plans(transaction: Transaction) -> list[str]:
                seen.update(transaction.statements)
                plans = []
                for execute in prepared.query(transaction).split(";\n"):
                    cur.execute(f"EXPLAIN {execute}", transaction.params)
                    plans.append("\n".join(row[0] for row in cur.fetchall()))
                return plans

            rng = random.Random(9)
            for kind, (operation, _) in {**SINGLE_MIX, **SCHEMA_CHANGE_MIX}.items():
                for _ in range(12):  # every variant of the statement texts
                    for plan in generic_plans(operation(rng, ctx)):
                        assert not FULL_SCAN_OF_A_BIG_TABLE.search(plan), (kind, plan)
            # One PREPARE per distinct text, and a repeated placeholder is one parameter.
            cur.execute("SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'plan_check%'")
            assert cur.fetchone() == (len(seen),)
            cur.execute(
                "SELECT parameter_types::text FROM pg_prepared_statements"
                " WHERE statement LIKE '%THEN h.target_stock_level%'"
            )
            assert cur.fetchall() == [("{integer,integer[]}",)]  # discrepancy (used 3 times), lock_items
    finally:
        conn.close()
