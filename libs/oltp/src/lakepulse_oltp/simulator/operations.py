"""The simulator's OLTP transactions, each one SQL round trip that PostgreSQL runs atomically.

Every operation is a :class:`Transaction`: one statement with data-modifying CTEs, or a few statements
that the runner sends together in one query string, which PostgreSQL executes as one implicit
transaction. A failure anywhere rolls the whole operation back, and an interrupt can only arrive
between operations, so no transaction is ever half-applied. Statement texts are fixed per operation
variant (values only travel as ``%(name)s`` parameters), so a connection can prepare each text once.
Targets (the oldest order waiting for picking, the newest one to cancel) are chosen inside the statement
with ``FOR UPDATE SKIP LOCKED`` so concurrent workers do not trip over each other; holdings are locked
in ``stock_item_id`` order before they are changed, to avoid deadlocks.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lakepulse_oltp import reference_data as ref
from lakepulse_oltp.seed_rows import SALESPERSON_IDS, long_text_pool, next_weekday, short_text_pool

NOW = "timezone('utc', now())"
LOYALTY_TIERS = ("bronze", "silver", "gold", "platinum")


@dataclass
class WorkloadContext:
    """Id ranges and text pools shared by the workers; ids only grow, so stale maxima are still valid."""

    max_customer_id: int
    max_stock_item_id: int
    max_city_id: int
    max_order_id: int
    bulk_rows: int
    short_texts: list[str] = field(default_factory=list)
    long_texts: list[str] = field(default_factory=list)
    schema_changed: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def build(cls, seed: int, maxima: tuple[int, int, int, int], bulk_rows: int) -> WorkloadContext:
        customers, items, cities, orders = maxima
        return cls(customers, items, cities, orders, bulk_rows, short_text_pool(seed), long_text_pool(seed))


@dataclass(frozen=True, slots=True)
class Transaction:
    """Statements applied in order as one transaction; placeholders are psycopg2's ``%(name)s``."""

    statements: tuple[str, ...]
    params: dict[str, Any]


Operation = Callable[[random.Random, WorkloadContext], Transaction]


def business_date(today: dt.date | None = None) -> dt.date:
    """Orders are booked on weekdays: a weekend order is booked for Monday."""
    day = today or dt.datetime.now(dt.UTC).date()
    return day + dt.timedelta(days=(7 - day.weekday()) % 7) if day.weekday() >= 5 else day


def _order_basket(rng: random.Random, ctx: WorkloadContext) -> tuple[list[int], list[int]]:
    items = sorted(rng.sample(range(1, ctx.max_stock_item_id + 1), rng.randint(2, 5)))
    return items, [rng.randint(1, 4) for _ in items]


LOCK_HOLDINGS = (
    "SELECT 1 FROM warehouse.stock_item_holdings WHERE stock_item_id = ANY(%(lock_items)s)"
    " ORDER BY stock_item_id FOR UPDATE"
)


PLACE_ORDER_SQL = (
    LOCK_HOLDINGS,
    """INSERT INTO sales.orders (customer_id, salesperson_person_id, order_date, expected_delivery_date,
    customer_purchase_order_number, is_undersupply_backordered, comments, delivery_instructions)
VALUES (%(customer)s, %(salesperson)s, %(day)s, %(delivery)s, %(po)s, true, %(comments)s,
    %(instructions)s)""",
    """INSERT INTO sales.order_lines (order_id, stock_item_id, description, package_type_id, quantity,
    unit_price, tax_rate, picked_quantity)
SELECT currval(pg_get_serial_sequence('sales.orders', 'order_id')), si.stock_item_id, si.stock_item_name,
    si.unit_package_id, si.quantity_per_outer * v.outers, si.unit_price, si.tax_rate, 0
FROM unnest(%(items)s::int[], %(outers)s::int[]) AS v(stock_item_id, outers)
JOIN warehouse.stock_items si USING (stock_item_id) ORDER BY si.stock_item_id""",
    f"""UPDATE warehouse.stock_item_holdings h
SET quantity_on_hand = h.quantity_on_hand - si.quantity_per_outer * v.outers, last_edited_when = {NOW}
FROM unnest(%(items)s::int[], %(outers)s::int[]) AS v(stock_item_id, outers)
JOIN warehouse.stock_items si USING (stock_item_id)
WHERE h.stock_item_id = v.stock_item_id""",
)


def place_order(rng: random.Random, ctx: WorkloadContext) -> Transaction:
    """Order + 2–5 lines (whole outers, current price) + holdings decrement, in one transaction."""
    items, outers = _order_basket(rng, ctx)
    day = business_date()
    return Transaction(
        PLACE_ORDER_SQL,
        {
            "lock_items": items,
            "items": items,
            "outers": outers,
            "customer": rng.randint(1, ctx.max_customer_id),
            "salesperson": rng.choice(SALESPERSON_IDS),
            "day": day,
            "delivery": next_weekday(day),
            "po": str(rng.randint(10000, 99999)),
            "comments": rng.choice(ctx.short_texts) if rng.random() < 0.1 else None,
            "instructions": rng.choice(ctx.short_texts) if rng.random() < 0.5 else None,
        },
    )


def pick_sql(orders: str) -> str:
    """Picking of the ``orders`` oldest waiting orders (a literal count, or a placeholder for a wave).

    A single pick keeps its ``LIMIT 1`` literal: a prepared statement's generic plan would assume a
    ``LIMIT $1`` of a tenth of the table and hash-join the whole of ``sales.orders``.
    """
    return f"""WITH target AS (
    SELECT order_id FROM sales.orders WHERE picking_completed_when IS NULL
    ORDER BY order_id LIMIT {orders} FOR UPDATE SKIP LOCKED),
lines AS (
    UPDATE sales.order_lines l
    SET picked_quantity = l.quantity, picking_completed_when = {NOW}, last_edited_when = {NOW}
    FROM target t WHERE l.order_id = t.order_id RETURNING 1)
UPDATE sales.orders o SET picking_completed_when = {NOW}, last_edited_when = {NOW}
FROM target t WHERE o.order_id = t.order_id"""


PICK_ONE_SQL = pick_sql("1")


def complete_picking(_rng: random.Random, _ctx: WorkloadContext) -> Transaction:
    """The warehouse picks the oldest waiting order: lines and order are stamped together."""
    return Transaction((PICK_ONE_SQL,), {})


def edit_comments(rng: random.Random, ctx: WorkloadContext) -> Transaction:
    """Changes the short comment; one edit in five also rewrites the large (TOASTed) internal notes."""
    rewrite_internal = rng.random() < 0.2
    internal = ", internal_comments = %(internal)s" if rewrite_internal else ""
    sql = f"""UPDATE sales.orders SET comments = %(comments)s{internal}, last_edited_when = {NOW}
WHERE order_id = (
    SELECT order_id FROM sales.orders WHERE order_id >= %(from_id)s ORDER BY order_id LIMIT 1)"""
    return Transaction(
        (sql,),
        {
            "comments": rng.choice(ctx.short_texts),
            "internal": f"{rng.choice(ctx.long_texts)} Revised {rng.randint(1, 10**6)}.",
            "from_id": rng.randint(1, max(1, ctx.max_order_id)),
        },
    )


CANCEL_SQL = f"""WITH target AS (
    SELECT order_id FROM sales.orders WHERE picking_completed_when IS NULL
    ORDER BY order_id DESC LIMIT 1 FOR UPDATE SKIP LOCKED),
removed AS (
    DELETE FROM sales.order_lines l USING target t WHERE l.order_id = t.order_id
    RETURNING l.stock_item_id, l.quantity),
restocked AS (
    UPDATE warehouse.stock_item_holdings h
    SET quantity_on_hand = h.quantity_on_hand + r.quantity, last_edited_when = {NOW}
    FROM (SELECT stock_item_id, sum(quantity) AS quantity FROM removed GROUP BY stock_item_id) r
    WHERE h.stock_item_id = r.stock_item_id RETURNING 1)
DELETE FROM sales.orders o USING target t WHERE o.order_id = t.order_id"""


def cancel_order(_rng: random.Random, _ctx: WorkloadContext) -> Transaction:
    """The newest unpicked order is cancelled: its lines and the order are deleted, stock returned."""
    return Transaction((CANCEL_SQL,), {})


def change_customer(rng: random.Random, ctx: WorkloadContext) -> Transaction:
    """A customer's email, phone or credit limit changes (one of them, or all three)."""
    customer = rng.randint(1, ctx.max_customer_id)
    choice = rng.randrange(4)
    assignments = {
        0: "email = %(email)s",
        1: "phone_number = %(phone)s",
        2: "credit_limit = %(credit)s",
        3: "email = %(email)s, phone_number = %(phone)s, credit_limit = %(credit)s",
    }[choice]
    sql = f"UPDATE sales.customers SET {assignments}, last_edited_when = {NOW} WHERE customer_id = %(id)s"
    return Transaction(
        (sql,),
        {
            "id": customer,
            "email": f"customer{customer}.{rng.randint(1, 10**6)}@example.com",
            "phone": f"({rng.randint(200, 999)}) 555-{rng.randint(0, 9999):04d}",
            "credit": f"{rng.randint(10, 80) * 100}.00",
        },
    )


def price_sql(where: str) -> str:
    return f"""UPDATE warehouse.stock_items
SET unit_price = greatest(round(unit_price * %(factor)s, 2), 0.10),
    recommended_retail_price = greatest(round(unit_price * %(factor)s * 1.495, 2), 0.15),
    last_edited_when = {NOW}
WHERE {where}"""


def change_price(rng: random.Random, ctx: WorkloadContext) -> Transaction:
    """One item's price moves by −5 %..+8 %; its large marketing text stays as it was (TOAST)."""
    return Transaction(
        (price_sql("stock_item_id = %(id)s"),),
        {
            "id": rng.randint(1, ctx.max_stock_item_id),
            "factor": round(rng.uniform(0.95, 1.08), 4),
        },
    )


STOCK_TAKE_SQL = (
    LOCK_HOLDINGS,
    f"""UPDATE warehouse.stock_item_holdings h
SET quantity_on_hand = CASE WHEN greatest(h.quantity_on_hand + %(discrepancy)s, 0) < h.reorder_level
        THEN h.target_stock_level ELSE greatest(h.quantity_on_hand + %(discrepancy)s, 0) END,
    last_stocktake_quantity = greatest(h.quantity_on_hand + %(discrepancy)s, 0),
    last_edited_when = {NOW}
WHERE h.stock_item_id = ANY(%(lock_items)s)""",
)


def stock_take(rng: random.Random, ctx: WorkloadContext) -> Transaction:
    """A recount books a small discrepancy; an item found below its reorder level is restocked to target."""
    return Transaction(
        STOCK_TAKE_SQL,
        {
            "lock_items": [rng.randint(1, ctx.max_stock_item_id)],
            "discrepancy": rng.randint(-3, 3),
        },
    )


def new_customer(rng: random.Random, ctx: WorkloadContext) -> Transaction:
    """An independent customer who bills to itself (the id comes from the sequence inside the statement)."""
    with_tier = ctx.schema_changed.is_set()
    name = f"{rng.choice(ref.FIRST_NAMES)} {rng.choice(ref.LAST_NAMES)} (new {rng.randint(1, 10**9)})"
    slug = "".join(ch for ch in name.lower() if ch.isalnum())[:40]
    tier_column, tier_value = (", loyalty_tier", ", %(tier)s") if with_tier else ("", "")
    sql = f"""INSERT INTO sales.customers (customer_id, customer_name, bill_to_customer_id,
    customer_category_id, buying_group_id, delivery_city_id, postal_city_id, credit_limit,
    account_opened_date, standard_discount_percentage, is_on_credit_hold, payment_days, phone_number,
    email, website_url, delivery_postal_code{tier_column})
SELECT s.id, %(name)s, s.id, %(category)s, NULL, %(city)s, %(city)s, %(credit)s, %(day)s, 0, false, 30,
    %(phone)s, %(email)s, %(website)s, %(postal)s{tier_value}
FROM (SELECT nextval(pg_get_serial_sequence('sales.customers', 'customer_id')) AS id) s"""
    return Transaction(
        (sql,),
        {
            "name": name,
            "category": rng.randint(1, len(ref.CUSTOMER_CATEGORIES)),
            "city": rng.randint(1, ctx.max_city_id),
            "credit": f"{rng.randint(10, 50) * 100}.00",
            "day": business_date(),
            "phone": f"({rng.randint(200, 999)}) 555-{rng.randint(0, 9999):04d}",
            "email": f"{slug}@example.com",
            "website": f"http://www.example.com/{slug}",
            "postal": str(rng.randint(10000, 99999)),
            "tier": rng.choice(LOYALTY_TIERS),
        },
    )


def new_stock_item(rng: random.Random, ctx: WorkloadContext) -> Transaction:
    """A new item with its stock groups and an initial holding, in one statement."""
    groups = sorted({rng.randint(1, len(ref.STOCK_GROUPS)) for _ in range(rng.randint(1, 2))})
    per_outer = rng.choice((1, 6, 12, 24, 48))
    price = max(0.5, 10 ** rng.uniform(0, 2.6))
    sql = """WITH item AS (
    INSERT INTO warehouse.stock_items (stock_item_name, supplier_id, color_id, unit_package_id,
        outer_package_id, brand, size, lead_time_days, quantity_per_outer, is_chiller_stock, tax_rate,
        unit_price, recommended_retail_price, typical_weight_per_unit, marketing_comments, custom_fields)
    VALUES (%(name)s, %(supplier)s, %(color)s, 9, 6, NULL, NULL, %(lead)s, %(per_outer)s, false, 15.000,
        %(price)s, %(rrp)s, %(weight)s, %(marketing)s, %(custom)s::jsonb)
    RETURNING stock_item_id),
grouped AS (
    INSERT INTO warehouse.stock_item_stock_groups (stock_item_id, stock_group_id)
    SELECT item.stock_item_id, g FROM item, unnest(%(groups)s::int[]) AS g RETURNING 1)
INSERT INTO warehouse.stock_item_holdings (stock_item_id, quantity_on_hand, bin_location,
    last_stocktake_quantity, last_cost_price, reorder_level, target_stock_level)
SELECT item.stock_item_id, %(on_hand)s, %(bin)s, %(on_hand)s, %(cost)s, %(reorder)s, %(target)s FROM item"""
    reorder = per_outer * rng.randint(20, 60)
    return Transaction(
        (sql,),
        {
            "name": f"{rng.choice(ref.ITEM_STEMS[groups[0] - 1])} (new {rng.randint(1, 10**9)})",
            "supplier": rng.randint(1, len(ref.SUPPLIERS)),
            "color": rng.randint(1, len(ref.COLORS)),
            "lead": rng.randint(2, 20),
            "per_outer": per_outer,
            "price": f"{price:.2f}",
            "rrp": f"{price * 1.495:.2f}",
            "weight": f"{rng.uniform(0.05, 20):.3f}",
            "marketing": rng.choice(ctx.long_texts),
            "custom": '{"CountryOfManufacture": "China", "Tags": []}',
            "groups": groups,
            "on_hand": reorder * 3,
            "bin": f"{chr(65 + rng.randrange(12))}-{rng.randint(1, 40)}",
            "cost": f"{price * 0.6:.2f}",
            "reorder": reorder,
            "target": reorder * 4,
        },
    )


def set_loyalty_tier(rng: random.Random, ctx: WorkloadContext) -> Transaction:
    """Uses the column added by the schema-change step."""
    sql = (
        f"UPDATE sales.customers SET loyalty_tier = %(tier)s, last_edited_when = {NOW}"
        " WHERE customer_id = %(id)s"
    )
    return Transaction((sql,), {"tier": rng.choice(LOYALTY_TIERS), "id": rng.randint(1, ctx.max_customer_id)})


SCHEMA_CHANGE_SQL = "ALTER TABLE sales.customers ADD COLUMN IF NOT EXISTS loyalty_tier text"
