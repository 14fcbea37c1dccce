"""Deterministic orders and order lines: the bulk of the generated rows.

Orders are generated first and remember only their day and picking minute (two compact arrays), so
order lines can be generated in a second pass after the orders are loaded — their foreign keys are then
already satisfied — without keeping a million lines in memory.
"""

from __future__ import annotations

import datetime as dt
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field

from lakepulse_oltp.seed_rows import (
    NULL,
    SALESPERSON_IDS,
    UNPICKED_TAIL_DAYS,
    SeedPlan,
    StockCatalog,
    business_days,
    long_text_pool,
    next_weekday,
    orders_per_day,
    rng_for,
    short_text_pool,
)

PICKING_MINUTES = [f"{12 + m // 60:02d}:{m % 60:02d}:00" for m in range(8 * 60)]
MAX_OUTERS_PER_LINE = 10
MAX_UNITS_PER_LINE = 240


@dataclass
class OrderBook:
    """What the order-line pass needs from the order pass (index 0 is order 1)."""

    days: list[dt.date]
    day_index: array[int] = field(default_factory=lambda: array("H"))
    picking_minute: array[int] = field(default_factory=lambda: array("H"))
    picked_until: int = 0  # day indexes below this are picked


def orders(plan: SeedPlan, book: OrderBook) -> Iterator[str]:
    """Orders in date order; the last few business days are not yet picked."""
    rng = rng_for(plan.seed, "orders")
    r = rng.random
    short_texts, long_texts = short_text_pool(plan.seed), long_text_pool(plan.seed)
    n_short, n_long, n_customers = len(short_texts), len(long_texts), plan.customers
    n_sales = len(SALESPERSON_IDS)
    book.picked_until = len(book.days) - UNPICKED_TAIL_DAYS
    order_id = 0
    for d, count in enumerate(orders_per_day(plan.orders, book.days)):
        day = book.days[d]
        day_s, delivery_s = day.isoformat(), next_weekday(day).isoformat()
        picked = d < book.picked_until
        for _ in range(count):
            order_id += 1
            minute = int(r() * len(PICKING_MINUTES))
            book.day_index.append(d)
            book.picking_minute.append(minute)
            picking = f"{day_s} {PICKING_MINUTES[minute]}" if picked else NULL
            customer = 1 + int(r() * n_customers)
            salesperson = SALESPERSON_IDS[int(r() * n_sales)]
            po_number = str(10000 + int(r() * 90000)) if r() < 0.9 else NULL
            backordered = "t" if r() < 0.95 else "f"
            comments = short_texts[int(r() * n_short)] if r() < 0.05 else NULL
            instructions = short_texts[int(r() * n_short)] if r() < 0.5 else NULL
            internal = long_texts[int(r() * n_long)] if r() < 0.015 else NULL
            edited = picking if picked else f"{day_s} 11:00:00"
            yield (
                f"{order_id}\t{customer}\t{salesperson}\t{day_s}\t{delivery_s}\t{po_number}\t{backordered}"
                f"\t{comments}\t{instructions}\t{internal}\t{picking}\t{edited}\n"
            )


def order_lines(plan: SeedPlan, book: OrderBook, catalog: StockCatalog) -> Iterator[str]:
    """2–5 distinct items per order; each quantity is a whole number of outers."""
    rng = rng_for(plan.seed, "order_lines")
    r, sample = rng.random, rng.sample
    item_ids = range(plan.stock_items)
    per_outer = catalog.quantity_per_outer
    max_outers = [max(1, min(MAX_OUTERS_PER_LINE, MAX_UNITS_PER_LINE // q)) for q in per_outer]
    fixed = [f"{i + 1}\t{catalog.names[i]}\t{catalog.unit_package_id[i]}" for i in range(plan.stock_items)]
    prices = [f"{catalog.unit_price[i]}\t{catalog.tax_rate[i]}" for i in item_ids]
    day_strings = [day.isoformat() for day in book.days]
    line_id = 0
    for index, d in enumerate(book.day_index):
        order_id = index + 1
        picked = d < book.picked_until
        if picked:
            picking = f"{day_strings[d]} {PICKING_MINUTES[book.picking_minute[index]]}"
            edited = picking
        else:
            picking, edited = NULL, f"{day_strings[d]} 11:00:00"
        for item in sample(item_ids, 2 + int(r() * 4)):
            line_id += 1
            quantity = per_outer[item] * (1 + int(r() * max_outers[item]))
            picked_quantity = quantity if picked else 0
            yield (
                f"{line_id}\t{order_id}\t{fixed[item]}\t{quantity}\t{prices[item]}"
                f"\t{picked_quantity}\t{picking}\t{edited}\n"
            )


def new_order_book() -> OrderBook:
    return OrderBook(days=business_days())
