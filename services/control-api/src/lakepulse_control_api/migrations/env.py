"""Alembic environment: runs on the connection that ``db.run_migrations`` hands in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from lakepulse_control_api.models import META_SCHEMA, Base

connection = context.config.attributes["connection"]
connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{META_SCHEMA}"'))
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    version_table_schema=META_SCHEMA,
    include_schemas=True,
)
with context.begin_transaction():
    context.run_migrations()
