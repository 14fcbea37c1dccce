"""Bulk transactions: few of them, each touching about ``bulk_rows`` rows (an import, a price list).

Like the single operations, each is a :class:`Transaction` of one or a few statements that
PostgreSQL applies atomically in one round trip.
"""

from __future__ import annotations

import random

from lakepulse_oltp.seed_rows import SALESPERSON_IDS, next_weekday
from lakepulse_oltp.simulator.operations import (
    LOCK_HOLDINGS,
    LOYALTY_TIERS,
    NOW,
    STOCK_TAKE_SQL,
    Transaction,
    WorkloadContext,
    business_date,
    pick_sql,
    price_sql,
)

ROWS_PER_ORDER = 4.5  # the order itself plus 3.5 lines on average


def bulk_place_orders(rng: random.Random, ctx: WorkloadContext) -> Transaction:
    """A batch import of orders: ids are drawn from the sequence inside the statement, once."""
    n_orders = max(1, round(ctx.bulk_rows / ROWS_PER_ORDER))
    line_order, line_items, line_outers = [], [], []
    for n in range(1, n_orders + 1):
        for item in rng.sample(range(1, ctx.max_stock_item_id + 1), rng.randint(2, 5)):
            line_order.append(n)
            line_items.append(item)
            line_outers.append(rng.randint(1, 4))
    day = business_date()
    sql = f"""WITH ids AS (
    SELECT n, nextval(pg_get_serial_sequence('sales.orders', 'order_id')) AS order_id
    FROM generate_series(1, %(n_orders)s) AS n),
new_orders AS (
    INSERT INTO sales.orders (order_id, customer_id, salesperson_person_id, order_date,
        expected_delivery_date, customer_purchase_order_number, is_undersupply_backordered)
    SELECT ids.order_id, c.customer_id, c.salesperson, %(day)s, %(delivery)s, c.po, true
    FROM ids JOIN unnest(%(customers)s::int[], %(salespeople)s::int[], %(pos)s::text[])
        WITH ORDINALITY AS c(customer_id, salesperson, po, n) USING (n)
    RETURNING 1),
lines AS (
    INSERT INTO sales.order_lines (order_id, stock_item_id, description, package_type_id, quantity,
        unit_price, tax_rate, picked_quantity)
    SELECT ids.order_id, si.stock_item_id, si.stock_item_name, si.unit_package_id,
        si.quantity_per_outer * v.outers, si.unit_price, si.tax_rate, 0
    FROM unnest(%(line_order)s::int[], %(line_items)s::int[], %(line_outers)s::int[])
        AS v(n, stock_item_id, outers)
    JOIN ids USING (n) JOIN warehouse.stock_items si USING (stock_item_id)
    RETURNING 1)
UPDATE warehouse.stock_item_holdings h
SET quantity_on_hand = h.quantity_on_hand - d.quantity, last_edited_when = {NOW}
FROM (SELECT v.stock_item_id, sum(si.quantity_per_outer * v.outers) AS quantity
      FROM unnest(%(line_items)s::int[], %(line_outers)s::int[]) AS v(stock_item_id, outers)
      JOIN warehouse.stock_items si USING (stock_item_id) GROUP BY v.stock_item_id) d
WHERE h.stock_item_id = d.stock_item_id"""
    return Transaction(
        (LOCK_HOLDINGS, sql),
        {
            "lock_items": sorted(set(line_items)),
            "n_orders": n_orders,
            "day": day,
            "delivery": next_weekday(day),
            "customers": [rng.randint(1, ctx.max_customer_id) for _ in range(n_orders)],
            "salespeople": [rng.choice(SALESPERSON_IDS) for _ in range(n_orders)],
            "pos": [str(rng.randint(10000, 99999)) for _ in range(n_orders)],
            "line_order": line_order,
            "line_items": line_items,
            "line_outers": line_outers,
        },
    )


def bulk_complete_picking(_rng: random.Random, ctx: WorkloadContext) -> Transaction:
    """A picking wave: the oldest waiting orders and all their lines."""
    return Transaction((pick_sql("%(orders)s"),), {"orders": max(1, round(ctx.bulk_rows / ROWS_PER_ORDER))})


def bulk_price_change(rng: random.Random, ctx: WorkloadContext) -> Transaction:
    """A new price list for a slice of the catalogue."""
    count = min(ctx.bulk_rows, ctx.max_stock_item_id)
    items = sorted(rng.sample(range(1, ctx.max_stock_item_id + 1), count))
    return Transaction(
        (price_sql("stock_item_id = ANY(%(items)s)"),),
        {
            "items": items,
            "factor": round(rng.uniform(0.97, 1.06), 4),
        },
    )


def bulk_stock_take(rng: random.Random, ctx: WorkloadContext) -> Transaction:
    """A full recount of a slice of the warehouse."""
    count = min(ctx.bulk_rows, ctx.max_stock_item_id)
    return Transaction(
        STOCK_TAKE_SQL,
        {
            "lock_items": sorted(rng.sample(range(1, ctx.max_stock_item_id + 1), count)),
            "discrepancy": rng.randint(-3, 3),
        },
    )


def bulk_set_loyalty_tier(rng: random.Random, ctx: WorkloadContext) -> Transaction:
    """After the schema change: a loyalty campaign assigns a tier to a slice of the customers."""
    count = min(ctx.bulk_rows, ctx.max_customer_id)
    sql = (
        f"UPDATE sales.customers SET loyalty_tier = %(tier)s, last_edited_when = {NOW}"
        " WHERE customer_id = ANY(%(ids)s)"
    )
    return Transaction(
        (sql,),
        {
            "tier": rng.choice(LOYALTY_TIERS),
            "ids": sorted(rng.sample(range(1, ctx.max_customer_id + 1), count)),
        },
    )
