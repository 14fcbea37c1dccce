"""What the gold marts must contain, computed straight from the source with plain SQL.

Later stages (the gold builder, ``lakepulse verify``) compare their output with these queries, so the
definitions below are the contract. Shared rules:

- **Revenue** of an order line is ``quantity * unit_price``: before tax (``tax_rate`` is ignored) and
  before any discount, exact ``numeric`` with two decimals — never a float.
- **Region** of an order is the ``sales_territory`` of the state province of the *customer's current
  delivery city* (``customers.delivery_city_id → cities → state_provinces``).
- **Product category** of a stock item is the name of its *primary stock group*: the group with the
  lowest ``stock_group_id`` among the item's ``stock_item_stock_groups`` rows; an item in no group is
  ``'Uncategorized'``.
- Only orders that exist now count: a cancelled order is deleted from the source and so from the marts.
  An order contributes only through its lines; an order without lines contributes nothing.
- Averages are ``round(numerator / denominator, 2)`` on ``numeric`` — PostgreSQL rounds half away from
  zero, as Spark's ``round`` does for decimals.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import text

from lakepulse_common.settings import LakePulseSettings
from lakepulse_oltp.database import engine

PRIMARY_CATEGORY = """
SELECT si.stock_item_id, coalesce(sg.stock_group_name, 'Uncategorized') AS product_category
FROM warehouse.stock_items si
LEFT JOIN (SELECT stock_item_id, min(stock_group_id) AS stock_group_id
           FROM warehouse.stock_item_stock_groups GROUP BY stock_item_id) p
       ON p.stock_item_id = si.stock_item_id
LEFT JOIN warehouse.stock_groups sg ON sg.stock_group_id = p.stock_group_id
"""

CUSTOMER_REGION = """
SELECT c.customer_id, sp.sales_territory AS region
FROM sales.customers c
JOIN application.cities ci ON ci.city_id = c.delivery_city_id
JOIN application.state_provinces sp ON sp.state_province_id = ci.state_province_id
"""

DAILY_SALES_SQL = f"""
SELECT o.order_date AS sale_date,
       r.region,
       pc.product_category,
       count(DISTINCT o.order_id) AS total_orders,
       sum(ol.quantity * ol.unit_price) AS total_revenue,
       round(sum(ol.quantity * ol.unit_price) / count(DISTINCT o.order_id), 2) AS avg_order_value,
       count(DISTINCT o.customer_id) AS unique_customers
FROM sales.orders o
JOIN sales.order_lines ol ON ol.order_id = o.order_id
JOIN ({CUSTOMER_REGION}) r ON r.customer_id = o.customer_id
JOIN ({PRIMARY_CATEGORY}) pc ON pc.stock_item_id = ol.stock_item_id
GROUP BY o.order_date, r.region, pc.product_category
ORDER BY sale_date, region, product_category
"""
"""Daily sales: one row per (order_date, region, product_category) that has at least one line.

- ``total_orders``: distinct orders with at least one line in the cell (an order whose lines span two
  categories counts once in each).
- ``total_revenue``: sum of the cell's line revenue.
- ``avg_order_value``: ``round(total_revenue / total_orders, 2)`` — the average of the *cell's part* of
  each order, not of whole orders.
- ``unique_customers``: distinct ``customer_id`` of those orders.
"""

CUSTOMER_ANALYTICS_SQL = f"""
WITH order_values AS (
    SELECT o.order_id, o.customer_id, o.order_date, sum(ol.quantity * ol.unit_price) AS order_value
    FROM sales.orders o
    JOIN sales.order_lines ol ON ol.order_id = o.order_id
    WHERE o.order_date <= :as_of
    GROUP BY o.order_id, o.customer_id, o.order_date
)
SELECT c.customer_id,
       c.customer_name,
       cc.customer_category_name AS customer_category,
       r.region,
       min(ov.order_date) AS first_order_date,
       max(ov.order_date) AS last_order_date,
       count(*) AS order_count,
       sum(ov.order_value) AS lifetime_value,
       round(sum(ov.order_value) / count(*), 2) AS avg_order_value,
       (CAST(:as_of AS date) - max(ov.order_date)) AS recency_days,
       count(*) AS frequency,
       sum(ov.order_value) AS monetary
FROM order_values ov
JOIN sales.customers c ON c.customer_id = ov.customer_id
JOIN sales.customer_categories cc ON cc.customer_category_id = c.customer_category_id
JOIN ({CUSTOMER_REGION}) r ON r.customer_id = c.customer_id
GROUP BY c.customer_id, c.customer_name, cc.customer_category_name, r.region
ORDER BY c.customer_id
"""
"""Customer analytics as of a date: one row per customer with at least one order (with lines) on or
before ``as_of``; orders after ``as_of`` are ignored.

- ``first_order_date`` / ``last_order_date``: min / max ``order_date``.
- ``order_count`` = ``frequency``: number of such orders.
- ``lifetime_value`` = ``monetary``: sum of their line revenue.
- ``avg_order_value``: ``round(lifetime_value / order_count, 2)``.
- ``recency_days``: ``as_of - last_order_date`` in whole days (≥ 0).
"""

INVENTORY_REORDER_SQL = f"""
SELECT si.stock_item_id,
       si.stock_item_name,
       pc.product_category,
       h.quantity_on_hand,
       h.reorder_level,
       h.target_stock_level,
       h.quantity_on_hand <= h.reorder_level AS needs_reorder,
       CASE WHEN h.quantity_on_hand <= h.reorder_level
            THEN h.target_stock_level - h.quantity_on_hand ELSE 0 END AS reorder_quantity,
       h.quantity_on_hand * h.last_cost_price AS stock_value
FROM warehouse.stock_item_holdings h
JOIN warehouse.stock_items si ON si.stock_item_id = h.stock_item_id
JOIN ({PRIMARY_CATEGORY}) pc ON pc.stock_item_id = si.stock_item_id
ORDER BY si.stock_item_id
"""
"""Inventory reorder report: one row per stock item holding.

- ``needs_reorder``: ``quantity_on_hand <= reorder_level`` (at or below the level triggers a reorder).
- ``reorder_quantity``: ``target_stock_level - quantity_on_hand`` when ``needs_reorder``, else 0.
- ``stock_value``: ``quantity_on_hand * last_cost_price`` (may be negative when stock is oversold).
The "items to reorder" list is the rows with ``needs_reorder``; see :func:`items_to_reorder`.
"""


def _fetch(settings: LakePulseSettings, sql: str, **params: Any) -> list[dict[str, Any]]:
    eng = engine(settings)
    try:
        with eng.connect() as conn:
            return [dict(row) for row in conn.execute(text(sql), params).mappings()]
    finally:
        eng.dispose()


def daily_sales(settings: LakePulseSettings) -> list[dict[str, Any]]:
    return _fetch(settings, DAILY_SALES_SQL)


def customer_analytics(settings: LakePulseSettings, as_of: dt.date) -> list[dict[str, Any]]:
    return _fetch(settings, CUSTOMER_ANALYTICS_SQL, as_of=as_of)


def inventory_reorder(settings: LakePulseSettings) -> list[dict[str, Any]]:
    return _fetch(settings, INVENTORY_REORDER_SQL)


def items_to_reorder(settings: LakePulseSettings) -> list[dict[str, Any]]:
    return [row for row in inventory_reorder(settings) if row["needs_reorder"]]
