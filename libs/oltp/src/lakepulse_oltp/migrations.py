"""Programmatic Alembic: the package ships its own ``alembic/`` scripts, no alembic.ini needed.

The version table is ``public.alembic_version_oltp`` so the control plane can keep its own Alembic
history in the same database without the two colliding.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from lakepulse_common.settings import LakePulseSettings
from lakepulse_oltp.database import engine
from lakepulse_oltp.errors import SchemaNotMigratedError

SCRIPT_LOCATION = Path(__file__).parent / "alembic"
VERSION_TABLE = "alembic_version_oltp"


def alembic_config(settings: LakePulseSettings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.attributes["settings"] = settings
    return config


def migrate(settings: LakePulseSettings, revision: str = "head") -> None:
    """Upgrade the source schema to ``revision`` (idempotent at head)."""
    command.upgrade(alembic_config(settings), revision)


def downgrade(settings: LakePulseSettings, revision: str = "base") -> None:
    """Downgrade to ``revision``; ``base`` drops every source table and the three schemas."""
    command.downgrade(alembic_config(settings), revision)


def head_revision() -> str:
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None  # the package always ships at least one revision
    return head


def current_revision(settings: LakePulseSettings) -> str | None:
    eng = engine(settings)
    try:
        with eng.connect() as conn:
            return MigrationContext.configure(
                conn, opts={"version_table": VERSION_TABLE}
            ).get_current_revision()
    finally:
        eng.dispose()


def require_head(settings: LakePulseSettings) -> None:
    """Stop loudly when the schema is not migrated: seeding an old schema would half-work."""
    current = current_revision(settings)
    if current != head_revision():
        raise SchemaNotMigratedError(
            f"source schema of {settings.postgres.redacted_dsn()} is at {current or 'nothing'}, "
            f"expected {head_revision()}: run `lakepulse migrate` first"
        )
