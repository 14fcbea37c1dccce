"""The bronze writer's side of the control plane: ``replay``, ``optimize`` and ``vacuum`` commands.

A :class:`~lakepulse_common.commands.CommandListener` thread queues the commands addressed to
``bronze-writer``; the service's main loop calls :meth:`BronzeCommands.run_pending` between its
progress checks, so jobs run while the query streams. Every write holds the batch writer's lock:
a job and a micro-batch never append to the same table, or announce, at the same time.

Each job answers with ``job_progress`` events: ``running``, then ``succeeded`` or ``failed`` (with
the reason), or ``cancelled`` when a cancel arrived before the job wrote anything. A command the
service cannot carry out (bad parameters, unknown table, an action it does not own) fails the job and
the service goes on; any other error fails the job and then stops the service loudly.
"""

from __future__ import annotations

import logging
import threading
from datetime import date

from pyspark.sql import SparkSession

from lakepulse_bronze_writer import delta_io
from lakepulse_bronze_writer.config import BronzeWriterSettings
from lakepulse_bronze_writer.control import Announcer
from lakepulse_bronze_writer.replay import Replayer, ReplayRequest
from lakepulse_common.commands import (
    CommandListener,
    CommandRejectedError,
    CommandRunner,
    JobCancelledError,
    JobReporter,
    JobState,
    maintained_tables,
    retain_hours,
)
from lakepulse_common.control_events import Command, CommandAction
from lakepulse_common.storage import for_spark, table_uri

log = logging.getLogger(__name__)

# Delta refuses a shorter VACUUM retention unless its safety check is switched off session-wide.


class BronzeCommands(CommandRunner):
    """Executes the bronze writer's commands, one at a time, serialised with the stream's batches."""

    def __init__(
        self,
        spark: SparkSession,
        settings: BronzeWriterSettings,
        announcer: Announcer,
        lock: threading.Lock,
        reporter: JobReporter,
        listener: CommandListener | None = None,
    ) -> None:
        self.spark = spark
        self.settings = settings
        self.announcer = announcer
        self.lock = lock
        self.reporter = reporter
        self.listener = listener
        self.replayer = Replayer(spark, settings)

    def execute(self, command: Command) -> str:
        if command.action is CommandAction.REPLAY:
            return self.replay(command)
        if command.action in (CommandAction.OPTIMIZE, CommandAction.VACUUM):
            return self.maintain(command)
        raise CommandRejectedError(f"bronze-writer does not handle {command.action.value!r} commands")

    def _check_cancel(self, job_id: str) -> None:
        if self.listener is not None and self.listener.is_cancelled(job_id):
            raise JobCancelledError("cancelled before any row was written")

    def replay(self, command: Command) -> str:
        request = ReplayRequest.from_params(command.params, self.replayer.topics)
        result = self.replayer.plan(request)
        self._check_cancel(command.job_id)
        steps = self.replayer.steps(result)
        self.reporter.report(
            command.job_id, JobState.RUNNING, 0.1, f"replaying {result.replayed} in {len(steps)} step(s)"
        )
        for done, step in enumerate(steps):
            if done and self.listener is not None and self.listener.is_cancelled(command.job_id):
                raise JobCancelledError(f"cancelled after {done} of {len(steps)} steps: {result.summary()}")
            # One step at a time under the stream's lock: its micro-batches run between steps.
            with self.lock:
                written = self.replayer.write_step(command.job_id, request, step, result)
                if written:
                    self.announcer.announce(written)
            if done + 1 < len(steps):
                progress = 0.1 + 0.9 * (done + 1) / len(steps)
                self.reporter.report(
                    command.job_id, JobState.RUNNING, progress, f"step {done + 1} of {len(steps)}"
                )
        return result.summary()

    def maintain(self, command: Command) -> str:
        tables = maintained_tables(command.params, "bronze")
        uris = {table: table_uri(self.settings.lake_root, "bronze", table) for table in tables}
        unknown = [t for t, uri in uris.items() if not delta_io.table_exists(self.spark, uri)]
        if unknown:
            raise CommandRejectedError(f"unknown table(s) {', '.join('bronze.' + t for t in unknown)}")
        hours = retain_hours(command.params) if command.action is CommandAction.VACUUM else None
        done: list[str] = []
        for table, uri in uris.items():
            self._check_cancel(command.job_id)
            with self.lock:
                if hours is None:
                    # Every partition: the stream's own compaction only touches recent ones.
                    delta_io.compact(self.spark, uri, date.min.isoformat())
                else:
                    _vacuum(self.spark, uri, hours)
                self.announcer.announce([table])
            done.append(table)
        verb = "optimized" if hours is None else f"vacuumed (retain {hours:g} h)"
        return f"{verb}: {', '.join('bronze.' + t for t in done)}"


def _vacuum(spark: SparkSession, uri: str, hours: float) -> None:
    from delta.tables import DeltaTable

    DeltaTable.forPath(spark, for_spark(uri)).vacuum(hours)
    log.info("vacuumed %s (retain %g h)", uri, hours)
