"""Lifecycle of a separate, throw-away stack: idempotent up, recovery after kill -9, clean down."""

import os
import shutil
import signal
import sys

import psutil
import pytest

from lakepulse_cli.stack import Stack
from lakepulse_cli.stack import postgres as pg
from lakepulse_cli.stack.supervisor import Program
from lakepulse_common.kafka import TopicSpec, create_admin, create_consumer, create_producer, ensure_topics
from lakepulse_common.settings import LakePulseSettings
from tests.conftest import REPO_ROOT, SHARED_JARS
from tests.support import free_ports, random_name, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def throwaway_stack(monkeypatch):
    state_dir = REPO_ROOT / ".lakepulse" / random_name("lifecycle-")
    state_dir.mkdir(parents=True)
    (state_dir / "jars").symlink_to(SHARED_JARS, target_is_directory=True)
    monkeypatch.setenv("LAKEPULSE_STATE_DIR", str(state_dir))
    pg_port, kafka_port, controller_port = free_ports(3)
    monkeypatch.setenv("LAKEPULSE_POSTGRES__PORT", str(pg_port))
    monkeypatch.setenv("LAKEPULSE_KAFKA__BOOTSTRAP_SERVERS", f"127.0.0.1:{kafka_port}")
    monkeypatch.setenv("LAKEPULSE_KAFKA__CONTROLLER_PORT", str(controller_port))
    settings = LakePulseSettings()
    stack = Stack(settings)
    yield stack
    stack.down()
    shutil.rmtree(
        pg.data_dir(settings).parent if "var/lib" in str(pg.data_dir(settings)) else state_dir,
        ignore_errors=True,
    )
    shutil.rmtree(state_dir, ignore_errors=True)


def _kafka_pid(stack: Stack) -> int:
    status = stack.status()
    return next(c.pid for c in status.components if c.name == "kafka" and c.pid)


def test_up_twice_recover_after_kill_and_down_leaves_nothing(throwaway_stack):
    stack = throwaway_stack
    first = stack.up()
    assert first.healthy
    pids = {c.name: c.pid for c in first.components}

    second = stack.up()  # harmless: same processes, still healthy
    assert second.healthy
    assert {c.name: c.pid for c in second.components} == pids

    settings = stack.settings
    topic = random_name("survivor.")
    ensure_topics(create_admin(settings.kafka), [TopicSpec(topic, 1, settings.kafka.retention_ms)])
    producer = create_producer(settings.kafka, "lifecycle")
    producer.produce(topic, value=b"kept")
    assert producer.flush(30) == 0

    old_pid = _kafka_pid(stack)
    os.kill(old_pid, signal.SIGKILL)
    wait_for(lambda: not psutil.pid_exists(old_pid), 30, "the killed broker to be gone")
    recovered = stack.up()
    assert recovered.healthy
    assert _kafka_pid(stack) != old_pid

    consumer = create_consumer(settings.kafka, "lifecycle", random_name("g"))
    consumer.subscribe([topic])
    try:
        message = wait_for(lambda: consumer.poll(1.0), 60, "the message written before kill -9")
        assert message.value() == b"kept"
    finally:
        consumer.close()

    # A service supervised by an earlier `up --with-services` shows in the status of a stack object
    # built without services (`lakepulse status`, the freshness benchmark's check).
    idle = [sys.executable, "-c", "import signal; signal.pause()"]
    Stack(settings, [Program(name="control-api", command=idle, start_s=1)]).up()

    def listed_state() -> str | None:
        return {c.name: c.state for c in Stack(settings).status().components}.get("control-api")

    wait_for(lambda: listed_state() == "RUNNING", 30, "the supervised service to show as running")

    all_pids = [c.pid for c in stack.status().components if c.pid]
    supervisor_pid = stack.supervisor.pid()
    assert stack.down() == []
    assert not any(psutil.pid_exists(pid) for pid in [*all_pids, supervisor_pid])
    leftovers = [
        p.pid
        for p in psutil.process_iter(["cmdline"])
        if str(settings.state_dir) in " ".join(p.info["cmdline"] or [])
    ]
    assert leftovers == []
