"""Fixtures for the bronze-writer tests: writer settings on a fresh lake and checkpoint, a producer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Producer

from lakepulse_bronze_writer.config import BronzeWriterSettings
from lakepulse_common.kafka import create_producer
from lakepulse_common.settings import LakePulseSettings
from tests.services.bronze_writer.bronze_helpers import writer_settings


@pytest.fixture
def bronze_settings(lake_settings: LakePulseSettings, tmp_path: Path) -> BronzeWriterSettings:
    return writer_settings(lake_settings, tmp_path / "checkpoints" / "bronze")


@pytest.fixture
def producer(settings: LakePulseSettings) -> Iterator[Producer]:
    kafka_producer = create_producer(settings.kafka, "bronze-tests")
    yield kafka_producer
    kafka_producer.flush(10)
