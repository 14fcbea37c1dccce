"""The deployable unit: ``lakepulse-control-api`` on a real port, stopped by SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable

import httpx
import pytest
from confluent_kafka import ConsumerGroupTopicPartitions

from lakepulse_common.control_events import ControlEvent, EventKind
from lakepulse_common.kafka import create_admin
from lakepulse_control_api.config import ControlApiServiceSettings
from tests.services.control_api.conftest import AUTH, TOKEN
from tests.support import free_ports, wait_for

pytestmark = pytest.mark.integration


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def test_serves_until_sigterm_then_commits_and_exits_zero(
    api_settings: ControlApiServiceSettings, service_producer: Callable[[ControlEvent], None]
) -> None:
    service_producer(ControlEvent(kind=EventKind.HEARTBEAT, service="bronze-writer"))
    [port] = free_ports(1)
    env = os.environ | {
        "LAKEPULSE_STATE_DIR": str(api_settings.state_dir),
        "LAKEPULSE_POSTGRES__PORT": str(api_settings.postgres.port),
        "LAKEPULSE_POSTGRES__DATABASE": api_settings.postgres.database,
        "LAKEPULSE_KAFKA__BOOTSTRAP_SERVERS": api_settings.kafka.bootstrap_servers,
        "LAKEPULSE_KAFKA__TOPIC_PREFIX": api_settings.kafka.topic_prefix,
        "LAKEPULSE_LAKE__ROOT": api_settings.lake_root,
        "LAKEPULSE_CONTROL_API__PORT": str(port),
        "LAKEPULSE_CONTROL_API__TOKENS": f'["{TOKEN}"]',
        "LAKEPULSE_TELEMETRY__LOG_FORMAT": "json",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "lakepulse_control_api.main"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _ready(url) or process.poll() is not None, 60, "the control api to be ready")
        assert process.poll() is None, "the control api exited early"
        wait_for(lambda: httpx.get(f"{url}/api/v1/status", timeout=2).json()["services"], 30, "the heartbeat")
        job = httpx.post(f"{url}/api/v1/jobs/reprocess", json={"tables": "all"}, headers=AUTH, timeout=10)
        assert job.status_code == 202, job.text
        assert httpx.post(f"{url}/api/v1/jobs/reprocess", json={}, timeout=10).status_code == 401
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "control-topic reader stopped" in output
    assert TOKEN not in output

    admin = create_admin(api_settings.kafka)
    group = api_settings.control_group
    future = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group]
    committed = sum(tp.offset for tp in future.result(timeout=10).topic_partitions if tp.offset > 0)
    assert committed >= 1, "the reader committed no offset before it stopped"
