"""The silver processor's side of the control plane: ``reprocess``, ``optimize`` and ``vacuum``.

A :class:`~lakepulse_common.commands.CommandListener` thread queues the commands addressed to
``silver-processor``; :class:`CommandingLoop` runs them between two control-topic batches, so a job
never races the processor's own MERGEs. Each job answers ``running`` (with per-table progress), then
``succeeded``, ``failed`` (with the reason) or ``cancelled`` (a cancel seen before the job started, or
at a table boundary). A command the service cannot carry out (bad parameters, an unknown or paused
table, a rebuild that stops on a schema problem) fails the job and the service goes on; any other
error fails the job and then stops the service loudly.
"""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import Producer

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
from lakepulse_common.control_events import (
    Command,
    CommandAction,
    ControlEvent,
    EventKind,
    Layer,
    RowCounts,
    TraceContext,
)
from lakepulse_common.errors import LakePulseError
from lakepulse_common.storage import for_spark
from lakepulse_common.topics import TopicNames
from lakepulse_silver_processor import lake
from lakepulse_silver_processor.config import SERVICE_NAME
from lakepulse_silver_processor.consumer import ControlLoop
from lakepulse_silver_processor.processor import ExpectationFailed, SilverProcessor
from lakepulse_silver_processor.reprocess import ReprocessError, Reprocessor, SyncResult, TableReprocess
from lakepulse_silver_processor.schemas import TABLES

log = logging.getLogger(__name__)


def reprocess_event(
    job_id: str, synced: SyncResult, outcome: TableReprocess, trace: TraceContext | None
) -> ControlEvent:
    """The silver commit event of a reprocess MERGE, so gold follows the change."""
    return ControlEvent(
        kind=EventKind.COMMIT,
        service=SERVICE_NAME,
        layer=Layer.SILVER,
        table=synced.table,
        delta_version=synced.version,
        rows=RowCounts(
            input=synced.inserted + synced.updated + synced.deleted,
            written=synced.inserted + synced.updated,
            deleted=synced.deleted,
        ),
        trace=trace,
        details={
            "operation": "reprocess",
            "job_id": job_id,
            "bronze_version_to": outcome.applied,
            "inserted": synced.inserted,
            "updated": synced.updated,
        },
    )


class SilverCommands(CommandRunner):
    expected_failures = (CommandRejectedError, ReprocessError, ExpectationFailed)

    def __init__(
        self,
        processor: SilverProcessor,
        producer: Producer,
        topics: TopicNames,
        reporter: JobReporter,
        listener: CommandListener | None = None,
        flush_timeout_s: float = 30.0,
    ) -> None:
        self.processor = processor
        self.producer = producer
        self.topics = topics
        self.reporter = reporter
        self.listener = listener
        self.flush_timeout_s = flush_timeout_s

    def execute(self, command: Command) -> str:
        if command.action is CommandAction.REPROCESS:
            return self.reprocess(command)
        if command.action in (CommandAction.OPTIMIZE, CommandAction.VACUUM):
            return self.maintain(command)
        raise CommandRejectedError(f"{SERVICE_NAME} does not handle {command.action.value!r} commands")

    def _check_cancel(self, job_id: str, done: list[str]) -> None:
        if self.listener is not None and self.listener.is_cancelled(job_id):
            raise JobCancelledError(f"cancelled after {len(done)} table(s): {', '.join(done) or 'none'}")

    # --- reprocess -------------------------------------------------------------------------------

    def reprocess(self, command: Command) -> str:
        tables = self._reprocess_tables(command.params.get("tables"))
        start = command.params.get("from_bronze_version")
        if start is not None and (not isinstance(start, int) or isinstance(start, bool) or start < 0):
            raise CommandRejectedError("params.from_bronze_version must be a non-negative integer")
        done: list[str] = []
        summary: list[str] = []
        with Reprocessor(self.processor, command.job_id, tables) as reprocessor:
            for index, table in enumerate(tables):
                self._check_cancel(command.job_id, done)
                outcome = reprocessor.table(table, start)
                for synced in outcome.changed:
                    self._announce(reprocess_event(command.job_id, synced, outcome, command.trace))
                self._flush()
                done.append(table)
                summary.append(_describe(outcome))
                progress = (index + 1) / len(tables)
                self.reporter.report(
                    command.job_id, JobState.RUNNING, progress, f"{len(done)} of {len(tables)} tables"
                )
        return "; ".join(summary)

    def _reprocess_tables(self, named: object) -> list[str]:
        """Requested tables (all built ones when absent), parents before children."""
        if named is None:
            built = [t for t in TABLES if self.processor.applied_version(t) >= 0]
            if not built:
                raise CommandRejectedError("no silver table has been built yet")
            return built
        if not isinstance(named, list) or not named or not all(isinstance(t, str) for t in named):
            raise CommandRejectedError("params.tables must be a non-empty list of silver table names")
        unknown = [t for t in named if t not in TABLES or self.processor.applied_version(t) < 0]
        if unknown:
            raise CommandRejectedError(
                f"unknown table(s) {', '.join('silver.' + t for t in unknown)}: reprocess rebuilds the"
                " current-state tables of the source tables (their _history follows)"
            )
        paused = [t for t in named if t in self.processor.paused]
        if paused:
            raise CommandRejectedError(
                f"paused table(s) {', '.join(paused)}: fix the schema and restart first"
            )
        return [t for t in TABLES if t in set(named)]

    def _announce(self, event: ControlEvent) -> None:
        self.producer.produce(self.topics.control, key=event.key, value=event.to_bytes())
        self.producer.poll(0)

    def _flush(self) -> None:
        remaining = self.producer.flush(self.flush_timeout_s)
        if remaining:
            raise LakePulseError(f"{remaining} silver reprocess events not delivered")

    # --- maintenance -----------------------------------------------------------------------------

    def maintain(self, command: Command) -> str:
        tables = maintained_tables(command.params, "silver")
        unknown = [t for t in tables if not lake.table_exists(self.processor.spark, self.processor.uri(t))]
        if unknown:
            raise CommandRejectedError(f"unknown table(s) {', '.join('silver.' + t for t in unknown)}")
        hours = retain_hours(command.params) if command.action is CommandAction.VACUUM else None
        done: list[str] = []
        for table in tables:
            self._check_cancel(command.job_id, done)
            if hours is not None:
                from delta.tables import DeltaTable

                DeltaTable.forPath(self.processor.spark, for_spark(self.processor.uri(table))).vacuum(hours)
            elif table in TABLES:  # Z-ordered by key, old delete markers pruned (as the service does)
                self.processor.tables.optimize(table, TABLES[table])
            else:
                lake.optimize(
                    self.processor.spark,
                    self.processor.uri(table),
                    self.processor.settings.target_file_size_bytes,
                )
            done.append(table)
        verb = "optimized" if hours is None else f"vacuumed (retain {hours:g} h)"
        return f"{verb}: {', '.join('silver.' + t for t in done)}"


def _describe(outcome: TableReprocess) -> str:
    scope = "all keys" if outcome.scope_keys is None else f"{outcome.scope_keys} keys"
    changes = [f"{s.table}@{s.version} (+{s.inserted} ~{s.updated} -{s.deleted})" for s in outcome.changed]
    return f"{outcome.table} to bronze@{outcome.applied}, {scope}: {', '.join(changes) or 'unchanged'}"


class CommandingLoop(ControlLoop):
    """The control loop with the control plane's jobs run between two control-topic batches."""

    def __init__(self, *args: Any, commands: SilverCommands, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = commands

    def poll_once(self) -> int:
        consumed = super().poll_once()
        if not self.shutdown.requested:
            self.commands.run_pending()
        return consumed
