"""Alembic environment: settings arrive via ``config.attributes`` from :mod:`lakepulse_oltp.migrations`."""

from __future__ import annotations

from alembic import context

from lakepulse_common.settings import LakePulseSettings
from lakepulse_oltp.database import engine
from lakepulse_oltp.migrations import VERSION_TABLE
from lakepulse_oltp.models import Base

settings = context.config.attributes.get("settings") or LakePulseSettings()
eng = engine(settings)
try:
    with eng.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            version_table=VERSION_TABLE,
            include_schemas=True,
            include_name=lambda name, type_, _parent: (
                type_ != "schema" or name in ("application", "sales", "warehouse")
            ),
        )
        with context.begin_transaction():
            context.run_migrations()
finally:
    eng.dispose()
