"""The service side of the command protocol, through the real broker."""

from datetime import UTC, datetime, timedelta

import pytest

from lakepulse_common.commands import (
    DELTA_MIN_RETAIN_HOURS,
    CommandListener,
    CommandRejectedError,
    CommandRunner,
    JobReporter,
    JobState,
    expiry_reason,
    maintained_tables,
    retain_hours,
)
from lakepulse_common.control_events import Command, CommandAction, ControlEvent, EventKind
from lakepulse_common.kafka import (
    create_admin,
    create_consumer,
    create_producer,
    ensure_topics,
    platform_topics,
)
from lakepulse_common.topics import TopicNames
from tests.support import random_name, wait_for

pytestmark = pytest.mark.integration


def _send(producer, topics, *commands):
    for command in commands:
        producer.produce(topics.commands, key=command.key, value=command.to_bytes())
    assert producer.flush(30) == 0


def test_listener_queues_own_commands_and_remembers_cancellations(settings):
    ensure_topics(create_admin(settings.kafka), platform_topics(settings.kafka))
    topics = TopicNames.from_settings(settings.kafka)
    producer = create_producer(settings.kafka, "test-commands")
    listener = CommandListener(settings, "bronze-writer", group_id=random_name("g"))
    listener.start()
    try:
        mine = Command(
            job_id="j1", target_service="bronze-writer", action=CommandAction.REPLAY, params={"a": 1}
        )
        other = Command(job_id="j2", target_service="gold-builder", action=CommandAction.BACKFILL)
        doomed = Command(job_id="j3", target_service="bronze-writer", action=CommandAction.OPTIMIZE)
        cancel = Command(
            job_id="j3", target_service="bronze-writer", action=CommandAction.CANCEL, params={"job_id": "j3"}
        )
        _send(producer, topics, mine, other, doomed, cancel)
        first = wait_for(lambda: listener.take()[0], 30, "the first command")
        assert first == mine
        wait_for(lambda: listener.is_cancelled("j3"), 30, "the cancellation")
        second, cancelled = listener.take()
        assert second == doomed and cancelled
        assert listener.take() == (None, False)
    finally:
        listener.stop()


def test_reporter_publishes_job_progress(settings):
    ensure_topics(create_admin(settings.kafka), platform_topics(settings.kafka))
    topics = TopicNames.from_settings(settings.kafka)
    reporter = JobReporter(create_producer(settings.kafka, "test-reporter"), topics, "silver-processor")
    reporter.report("job-7", JobState.RUNNING, 1.7, "starting")
    reporter.report("job-7", JobState.SUCCEEDED, 1.0)
    consumer = create_consumer(settings.kafka, "test", random_name("g"))
    consumer.subscribe([topics.control])
    events: list[ControlEvent] = []
    try:

        def two_events():
            message = consumer.poll(1.0)
            if message is not None and message.value():
                events.append(ControlEvent.from_bytes(message.value()))
            return len(events) >= 2

        wait_for(two_events, 30, "two job_progress events")
    finally:
        consumer.close()
    assert [e.kind for e in events] == [EventKind.JOB_PROGRESS] * 2
    assert [e.details["state"] for e in events] == ["running", "succeeded"]
    assert events[0].details["progress"] == 1.0  # clamped
    assert {e.service for e in events} == {"silver-processor"}


def test_an_unfinished_command_is_delivered_again_after_a_restart(settings):
    ensure_topics(create_admin(settings.kafka), platform_topics(settings.kafka))
    topics = TopicNames.from_settings(settings.kafka)
    producer = create_producer(settings.kafka, "test-commands")
    group = random_name("g")
    first = Command(job_id="a", target_service="silver-processor", action=CommandAction.OPTIMIZE)
    second = Command(job_id="b", target_service="silver-processor", action=CommandAction.VACUUM)
    _send(producer, topics, first, second)

    crashed = CommandListener(settings, "silver-processor", group_id=group)
    crashed.start()
    try:
        assert wait_for(lambda: crashed.take()[0], 30, "the first command") == first
        assert wait_for(lambda: crashed.take()[0], 30, "the second command") == second
        crashed.finished(second)  # the first never finished: the service "crashed" while running it
    finally:
        crashed.stop()

    restarted = CommandListener(settings, "silver-processor", group_id=group)
    restarted.start()
    try:
        again = [wait_for(lambda: restarted.take()[0], 30, "a re-delivered command") for _ in range(2)]
        assert again == [first, second]  # from the unfinished one on; handlers are idempotent
        for command in again:
            restarted.finished(command)
    finally:
        restarted.stop()

    done = CommandListener(settings, "silver-processor", group_id=group)
    done.start()
    try:
        marker = Command(job_id="c", target_service="silver-processor", action=CommandAction.OPTIMIZE)
        _send(producer, topics, marker)
        assert wait_for(lambda: done.take()[0], 30, "the next command") == marker  # nothing older
    finally:
        done.stop()


@pytest.mark.unit
def test_maintenance_parameters_are_checked_the_same_way_by_every_service() -> None:

    assert maintained_tables({"tables": ["orders", "orders", "customers"]}, "silver") == [
        "orders",
        "customers",
    ]
    assert retain_hours({}) == DELTA_MIN_RETAIN_HOURS
    assert retain_hours({"retain_hours": 200}) == 200.0
    for params, layer in [
        ({"tables": ["orders"], "layer": "gold"}, "silver"),
        ({"tables": []}, "bronze"),
        ({"tables": ["../etc"]}, "bronze"),
        ({"tables": "orders"}, "bronze"),
    ]:
        with pytest.raises(CommandRejectedError):
            maintained_tables(params, layer)
    for bad in (1, True, "168"):
        with pytest.raises(CommandRejectedError):
            retain_hours({"retain_hours": bad})


@pytest.mark.unit
def test_a_command_expires_when_read_after_its_ttl() -> None:
    issued = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    command = Command(job_id="j", target_service="s", action=CommandAction.OPTIMIZE, issued_at=issued)
    assert expiry_reason(command, 3600, now=issued + timedelta(seconds=3600)) is None
    reason = expiry_reason(command, 3600, now=issued + timedelta(seconds=3601))
    assert reason is not None and "expired" in reason and "3,601 s" in reason
    naive = command.model_copy(update={"issued_at": issued.replace(tzinfo=None)})  # read as UTC
    assert expiry_reason(naive, 3600, now=issued + timedelta(seconds=10)) is None


class _RecordingRunner(CommandRunner):
    def __init__(self, reporter: JobReporter, listener: CommandListener) -> None:
        self.reporter, self.listener, self.executed = reporter, listener, []

    def execute(self, command: Command) -> str:
        self.executed.append(command.job_id)
        return "done"


def test_a_retained_command_older_than_the_ttl_is_answered_failed_not_run(settings):
    """A new deployment (new consumer group) re-reads the retained commands topic from the start."""
    ensure_topics(create_admin(settings.kafka), platform_topics(settings.kafka))
    topics = TopicNames.from_settings(settings.kafka)
    producer = create_producer(settings.kafka, "test-commands")
    old = datetime.now(UTC) - timedelta(seconds=settings.control_api.command_ttl_s + 60)
    stale = Command(job_id=random_name("stale"), target_service="bronze-writer", action=CommandAction.VACUUM)
    stale = stale.model_copy(update={"issued_at": old})
    fresh = Command(
        job_id=random_name("fresh"), target_service="bronze-writer", action=CommandAction.OPTIMIZE
    )
    _send(producer, topics, stale, fresh)
    consumer = create_consumer(settings.kafka, "test", random_name("g"))
    consumer.subscribe([topics.control])
    listener = CommandListener(settings, "bronze-writer", group_id=random_name("g"))
    runner = _RecordingRunner(JobReporter(producer, topics, "bronze-writer"), listener)
    listener.start()
    try:
        handled: list[int] = []
        wait_for(lambda: handled.append(runner.run_pending()) or sum(handled) >= 2, 30, "both commands")
        assert runner.executed == [fresh.job_id]
        states: dict[str, list[str]] = {}

        def both_final():
            message = consumer.poll(1.0)
            if message is not None and message.value():
                event = ControlEvent.from_bytes(message.value())
                if event.details.get("job_id") in (stale.job_id, fresh.job_id):
                    states.setdefault(event.details["job_id"], []).append(event.details["state"])
            return all(s and s[-1] != "running" for s in (states.get(stale.job_id), states.get(fresh.job_id)))

        wait_for(both_final, 30, "the final job_progress events")
    finally:
        listener.stop()
        consumer.close()
    assert states[stale.job_id] == ["failed"]
    assert states[fresh.job_id] == ["running", "succeeded"]
