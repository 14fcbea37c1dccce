"""Schema, catalogue and migrations of the OLTP source."""

from __future__ import annotations

import pytest

from lakepulse_common.settings import LakePulseSettings
from lakepulse_oltp.catalog import PRIMARY_KEYS, PUBLISHED_TABLES, SCHEMAS, qualified
from lakepulse_oltp.migrations import current_revision, downgrade, head_revision, migrate
from lakepulse_oltp.models import Base
from tests.libs.oltp.conftest import rows, scalar

SOURCE_TABLES = f"""
SELECT n.nspname, c.relname, c.relreplident
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname IN {SCHEMAS!r} ORDER BY 1, 2
"""


@pytest.mark.unit
def test_catalog_lists_every_model_table_once_with_unique_names() -> None:
    assert {f"{s}.{t}" for s, t in PUBLISHED_TABLES} == set(Base.metadata.tables)
    names = [t for _, t in PUBLISHED_TABLES]
    assert len(names) == len(set(names))
    assert PRIMARY_KEYS["order_lines"] == ("order_line_id",)
    assert PRIMARY_KEYS["stock_item_stock_groups"] == ("stock_item_id", "stock_group_id")
    assert qualified("stock_item_holdings") == "warehouse.stock_item_holdings"


@pytest.mark.unit
def test_catalog_orders_parents_before_children() -> None:
    position = {f"{s}.{t}": i for i, (s, t) in enumerate(PUBLISHED_TABLES)}
    for name, model_table in Base.metadata.tables.items():
        for fk in model_table.foreign_keys:
            parent = f"{fk.column.table.schema}.{fk.column.table.name}"
            assert parent == name or position[parent] < position[name], f"{parent} after {name}"


@pytest.mark.integration
def test_migrations_go_up_and_down(fresh_database: LakePulseSettings) -> None:
    migrate(fresh_database)
    assert current_revision(fresh_database) == head_revision()
    tables = rows(fresh_database, SOURCE_TABLES)
    assert {(s, t) for s, t, _ in tables} == set(PUBLISHED_TABLES)
    assert {identity for _, _, identity in tables} == {"f"}, "every published table is REPLICA IDENTITY FULL"
    without_pk = scalar(
        fresh_database,
        f"""SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind = 'r' AND n.nspname IN {SCHEMAS!r}
              AND NOT EXISTS (SELECT 1 FROM pg_constraint p WHERE p.conrelid = c.oid AND p.contype = 'p')""",
    )
    assert without_pk == 0
    migrate(fresh_database)  # idempotent at head

    downgrade(fresh_database)
    assert current_revision(fresh_database) is None
    assert rows(fresh_database, SOURCE_TABLES) == []
    assert scalar(fresh_database, f"SELECT count(*) FROM pg_namespace WHERE nspname IN {SCHEMAS!r}") == 0

    migrate(fresh_database)
    assert len(rows(fresh_database, SOURCE_TABLES)) == len(PUBLISHED_TABLES)
