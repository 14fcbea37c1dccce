"""What a batch of silver changes touches in gold: pure set logic over the changed keys.

Rules (each keeps gold equal to a full rebuild, see docs/gold-builder.md):
- a changed order or order line → that order's lines are rebuilt; its order date (before and after)
  is recomputed in the daily marts; its customer in customer_analytics; its items in the inventory report;
- a new customer / stock item version valid from *t* → orders of that customer / with that item dated
  on or after *t*'s date are re-keyed (earlier orders keep the earlier version);
- a customer whose delivery city changed, or an item whose stock groups changed, moves the "as-is"
  region / product category of *all* its sales, so all its order dates are recomputed;
- a change to any lookup table (geography, categories, suppliers, …) is rare and global: full rebuild.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

LOOKUP_TABLES = frozenset(
    {
        "countries",
        "state_provinces",
        "cities",
        "customer_categories",
        "buying_groups",
        "suppliers",
        "colors",
        "package_types",
        "stock_groups",
    }
)
CUSTOMER_TABLES = frozenset({"customers", "customers_history"})
STOCK_ITEM_TABLES = frozenset({"stock_items", "stock_items_history", "stock_item_stock_groups"})

Row = Mapping[str, Any]


def full_rebuild_reason(previous: Mapping[str, int], current: Mapping[str, int]) -> str | None:
    """Why this batch needs a full rebuild rather than an incremental one (None: it does not)."""
    if not previous:
        return "no gold build yet"
    for table, version in current.items():
        if table not in previous:
            return f"silver.{table} is new to gold"
        if version < previous[table]:
            return f"silver.{table} went back from version {previous[table]} to {version}"
        if version != previous[table] and table in LOOKUP_TABLES:
            return f"lookup table silver.{table} changed"
    gone = sorted(set(previous) - set(current))
    return f"silver tables disappeared: {', '.join(gone)}" if gone else None


@dataclass
class SilverChanges:
    """Key columns of the rows changed per silver table (before- and after-images)."""

    rows: dict[str, list[Row]] = field(default_factory=dict)
    history_tables: frozenset[str] = frozenset()

    def of(self, table: str) -> list[Row]:
        return self.rows.get(table, [])

    def changed(self, tables: Iterable[str]) -> bool:
        return any(table in self.rows for table in tables)


@dataclass
class Impact:
    """What to recompute. ``rekey_*`` map an id to the first order date whose dimension key may change."""

    order_ids: set[int] = field(default_factory=set)
    order_dates: set[dt.date] = field(default_factory=set)
    customers: set[int] = field(default_factory=set)
    items: set[int] = field(default_factory=set)
    rekey_customers: dict[int, dt.date] = field(default_factory=dict)
    rekey_items: dict[int, dt.date] = field(default_factory=dict)
    regrouped_customers: set[int] = field(default_factory=set)
    regrouped_items: set[int] = field(default_factory=set)
    customer_dimension: bool = False
    stock_item_dimension: bool = False
    inventory: bool = False

    @property
    def empty(self) -> bool:
        return not (
            self.order_ids
            or self.order_dates
            or self.customers
            or self.items
            or self.rekey_customers
            or self.rekey_items
            or self.regrouped_customers
            or self.regrouped_items
            or self.customer_dimension
            or self.stock_item_dimension
            or self.inventory
        )


def _rekey_since(rows: Iterable[Row], key: str, versioned: bool) -> dict[int, dt.date]:
    """The earliest changed version start per key; without history every order is re-keyed."""
    since: dict[int, dt.date] = {}
    for row in rows:
        start = row["valid_from"].date() if versioned and row.get("valid_from") else dt.date.min
        since[row[key]] = min(since.get(row[key], dt.date.max), start)
    return since


def _moved(rows: Iterable[Row], key: str, column: str) -> set[int]:
    values: dict[int, set[Any]] = defaultdict(set)
    for row in rows:
        values[row[key]].add(row[column])
    return {k for k, seen in values.items() if len(seen) > 1}


def impact_of(changes: SilverChanges) -> Impact:
    """The first-order impact, from the changed rows alone (see module docstring)."""
    impact = Impact()
    for row in changes.of("orders"):
        impact.order_ids.add(row["order_id"])
        impact.customers.add(row["customer_id"])
        impact.order_dates.add(row["order_date"])
    for row in changes.of("order_lines"):
        impact.order_ids.add(row["order_id"])
        impact.items.add(row["stock_item_id"])

    customers_versioned = "customers_history" in changes.history_tables
    customer_rows = changes.of("customers_history" if customers_versioned else "customers")
    impact.rekey_customers = _rekey_since(customer_rows, "customer_id", customers_versioned)
    impact.regrouped_customers = _moved(changes.of("customers"), "customer_id", "delivery_city_id")
    customer_ids = {row["customer_id"] for row in (*changes.of("customers"), *customer_rows)}
    impact.customers |= customer_ids
    impact.customer_dimension = bool(customer_ids)

    items_versioned = "stock_items_history" in changes.history_tables
    item_rows = changes.of("stock_items_history" if items_versioned else "stock_items")
    impact.rekey_items = _rekey_since(item_rows, "stock_item_id", items_versioned)
    impact.regrouped_items = {row["stock_item_id"] for row in changes.of("stock_item_stock_groups")}
    item_ids = {row["stock_item_id"] for row in (*changes.of("stock_items"), *item_rows)}
    impact.items |= item_ids | impact.regrouped_items
    impact.stock_item_dimension = bool(item_ids or impact.regrouped_items)

    holdings = {row["stock_item_id"] for row in changes.of("stock_item_holdings")}
    impact.items |= holdings
    impact.inventory = bool(holdings) or impact.stock_item_dimension
    return impact


def day_after(days: Iterable[dt.date]) -> set[dt.date]:
    return {day + dt.timedelta(days=1) for day in days}


def month_of(day: dt.date) -> dt.date:
    return day.replace(day=1)


def previous_month(month: dt.date) -> dt.date:
    return (month - dt.timedelta(days=1)).replace(day=1)


def metric_periods(days: Iterable[dt.date]) -> tuple[set[dt.date], set[dt.date], set[dt.date]]:
    """(days, months) whose sales_metrics rows change when ``days`` change, and the months to read.

    A day's growth compares with the day before, a month's with the month before, so the day after
    each changed day changes too; reading needs every month shown and the month before each.
    """
    changed = set(days)
    target_days = changed | day_after(changed)
    target_months = {month_of(day) for day in target_days}
    read_months = target_months | {previous_month(month) for month in target_months}
    return target_days, target_months, read_months
