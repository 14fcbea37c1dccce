"""What the CDC emitter publishes: the tables, in dependency order, and their primary keys.

Table names are unique across the three schemas, so downstream stages may key topics and Delta tables
by the bare table name. Parents come before children, which is the order a snapshot must load them in.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import Table

from lakepulse_oltp.models import Base

SCHEMAS: Final[tuple[str, ...]] = ("application", "sales", "warehouse")

PUBLISHED_TABLES: Final[list[tuple[str, str]]] = [
    ("application", "countries"),
    ("application", "state_provinces"),
    ("application", "cities"),
    ("application", "people"),
    ("sales", "customer_categories"),
    ("sales", "buying_groups"),
    ("sales", "customers"),
    ("warehouse", "suppliers"),
    ("warehouse", "colors"),
    ("warehouse", "package_types"),
    ("warehouse", "stock_groups"),
    ("warehouse", "stock_items"),
    ("warehouse", "stock_item_stock_groups"),
    ("warehouse", "stock_item_holdings"),
    ("sales", "orders"),
    ("sales", "order_lines"),
]

# The business entities → the source table that carries them.
ENTITY_TABLES: Final[dict[str, tuple[str, str]]] = {
    "customers": ("sales", "customers"),
    "orders": ("sales", "orders"),
    "order_lines": ("sales", "order_lines"),
    "products": ("warehouse", "stock_items"),
    "inventory": ("warehouse", "stock_item_holdings"),
}


def table(schema: str, name: str) -> Table:
    """The SQLAlchemy table object of a published table."""
    return Base.metadata.tables[f"{schema}.{name}"]


PRIMARY_KEYS: Final[dict[str, tuple[str, ...]]] = {
    name: tuple(column.name for column in table(schema, name).primary_key.columns)
    for schema, name in PUBLISHED_TABLES
}


def qualified(name: str) -> str:
    """``schema.table`` for a bare published table name."""
    for schema, table_name in PUBLISHED_TABLES:
        if table_name == name:
            return f"{schema}.{table_name}"
    raise KeyError(f"{name} is not a published table")
