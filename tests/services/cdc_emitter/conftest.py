"""Fixtures of the cdc-emitter tests: emitter settings on a fresh database, a source connection."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg2
import pytest

from lakepulse_cdc_emitter.config import CdcEmitterSettings, CdcSettings
from lakepulse_common.settings import LakePulseSettings
from tests.support import random_name


def emitter_settings(base: LakePulseSettings, **cdc: object) -> CdcEmitterSettings:
    suffix = random_name("")
    options: dict[str, object] = {
        "slot_name": f"cdc_{suffix}",  # slot names are cluster-wide
        "publication": f"cdc_{suffix}",
        "schemas": ["sales", "warehouse"],
        "partitions": 3,
        "feedback_interval_s": 0.2,
        "status_interval_s": 0.5,
        "heartbeat_message_interval_s": 1.0,
    }
    options.update(cdc)
    fields = {name: getattr(base, name) for name in LakePulseSettings.model_fields}
    fields["telemetry"] = base.telemetry.model_dump() | {"metrics_port": 0}
    return CdcEmitterSettings(**fields, cdc=CdcSettings(**options))


@pytest.fixture
def cdc_settings(fresh_database: LakePulseSettings) -> CdcEmitterSettings:
    return emitter_settings(fresh_database)


@pytest.fixture
def source(fresh_database: LakePulseSettings) -> Iterator[psycopg2.extensions.connection]:
    conn = psycopg2.connect(fresh_database.postgres.dsn())
    conn.autocommit = True
    yield conn
    conn.close()
