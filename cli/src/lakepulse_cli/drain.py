"""Wait until the pipeline has applied everything the source committed before a point in time.

"No commit for a while" is no test of that when one batch takes minutes. Instead, each stage is
checked against the position its input had once the stage before it caught up:

1. cdc     the replication slot's ``confirmed_flush_lsn`` reached the WAL position taken at the start
           (the emitter confirms only what Kafka acknowledged; when idle it follows the WAL);
2. bronze  bronze commit events cover every CDC partition up to the high watermarks read then;
3. silver  every silver table applied its bronze table's newest data version (silver's Delta txn),
           and holds no change of an incomplete source transaction (transaction alignment: such a
           change is applied only once its transaction's other changes arrived);
4. gold    ``gold/_build_state`` reflects every silver table's newest data version.

Each target is read only when the stage before it is done, so whatever a stage still has in flight
is counted. Versions that only rewrite files (OPTIMIZE) do not count as data: downstream stages need
not react to them. Paused silver tables are reported and not waited for.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg2
import pyarrow.dataset
from confluent_kafka import Consumer
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from lakepulse_cli.pipeline import ControlWatcher
from lakepulse_common.kafka import create_consumer, watermarks
from lakepulse_common.progress import (
    GOLD_BUILD_STATE_TABLE,
    LAYOUT_ONLY_OPERATIONS,
    SILVER_HELD_TABLE,
    TRANSACTION_INCOMPLETE_RULE,
    silver_app_id,
)
from lakepulse_common.settings import LakePulseSettings
from lakepulse_common.storage import for_delta_rs, table_uri
from lakepulse_common.topics import TopicNames
from lakepulse_oltp.catalog import PUBLISHED_TABLES

STAGES = ("cdc", "bronze", "silver", "gold")
CDC_SERVICE = "cdc-emitter"
_HISTORY_DEPTH = 50


@dataclass
class DrainState:
    """Where the wait stands: the stage being checked and what it still waits for."""

    stage: str
    waiting_for: list[str] = field(default_factory=list)
    paused: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.stage == "done"

    def describe(self) -> str:
        if self.done:
            paused = f" (silver paused: {', '.join(self.paused)})" if self.paused else ""
            return f"caught up with the source{paused}"
        shown = ", ".join(self.waiting_for[:4]) + (" …" if len(self.waiting_for) > 4 else "")
        return f"waiting for {self.stage}: {shown or 'its first report'}"


def latest_data_version(uri: str) -> int | None:
    """The newest version of a Delta table that changed its data; None when there is no table."""
    try:
        table = DeltaTable(for_delta_rs(uri))
    except TableNotFoundError:
        return None
    for commit in table.history(limit=_HISTORY_DEPTH):
        if commit.get("operation") not in LAYOUT_ONLY_OPERATIONS:
            return int(commit["version"])
    return table.version()


def transaction_version(uri: str, app_id: str) -> int:
    try:
        version = DeltaTable(for_delta_rs(uri)).transaction_version(app_id)
    except TableNotFoundError:
        return -1
    return -1 if version is None else int(version)


class Drain:
    """Stage-by-stage check that the lake caught up with the source position taken at :meth:`start`."""

    def __init__(self, settings: LakePulseSettings, watcher: ControlWatcher) -> None:
        self._settings = settings
        self._watcher = watcher
        self._topics = TopicNames.from_settings(settings.kafka)
        self._stage = 0
        self._target: Any = None
        self._paused: list[str] = []
        self.state = DrainState(STAGES[0])

    def start(self) -> None:
        """Take the source position to catch up with (the current WAL position) and start over."""
        self._stage, self._target = 0, self._query_one("SELECT pg_current_wal_lsn()::text")
        self._paused = []
        self.state = DrainState(STAGES[0])

    def poll(self) -> DrainState:
        """Advance through the stages that have caught up; cheap enough to call every second."""
        while self._stage < len(STAGES):
            stage = STAGES[self._stage]
            waiting = getattr(self, f"_waiting_{stage}")()
            if stage == "silver":
                self._paused = sorted(self._watcher_view_paused() & set(self._target))
            self.state = DrainState(stage, waiting, self._paused)
            if waiting:
                return self.state
            self._stage += 1
            if self._stage < len(STAGES):
                self._target = getattr(self, f"_target_{STAGES[self._stage]}")()
        self.state = DrainState("done", paused=self._paused)
        return self.state

    def wait(
        self,
        timeout_s: float,
        on_poll: Callable[[DrainState], None] | None = None,
        stop: Callable[[], bool] = lambda: False,
    ) -> DrainState:
        """Poll until done, ``timeout_s`` or ``stop()``; ``on_poll(state)`` is called after every poll."""
        deadline = time.monotonic() + timeout_s
        while True:
            state = self.poll()
            if on_poll is not None:
                on_poll(state)
            if state.done or stop() or time.monotonic() >= deadline:
                return state
            time.sleep(1.0)

    # --- per stage: what to wait for, and the target the next stage is checked against ---------------

    def _waiting_cdc(self) -> list[str]:
        with self._watcher.lock:
            details = self._watcher.view.heartbeat_details.get(CDC_SERVICE, {})
        slot = details.get("slot")
        if not slot:
            return [f"a heartbeat from {CDC_SERVICE}"]
        caught_up = self._query_one(
            "SELECT confirmed_flush_lsn >= %s::pg_lsn FROM pg_replication_slots WHERE slot_name = %s",
            (self._target, slot),
        )
        return [] if caught_up else [f"slot {slot} to confirm {self._target}"]

    def _target_bronze(self) -> dict[tuple[str, int], int]:
        consumer = self._consumer()
        try:
            metadata = consumer.list_topics(timeout=10)
            marks = {}
            for name, topic in metadata.topics.items():
                if not name.startswith(self._topics.cdc_prefix):
                    continue
                for partition, (_, high) in watermarks(consumer, name, topic.partitions).items():
                    if high > 0:
                        marks[(name, partition)] = high
            return marks
        finally:
            consumer.close()

    def _waiting_bronze(self) -> list[str]:
        with self._watcher.lock:
            consumed = dict(self._watcher.view.kafka_consumed)
        return [
            f"{topic}[{partition}] {consumed.get((topic, partition), 0)}/{high}"
            for (topic, partition), high in sorted(self._target.items())
            if consumed.get((topic, partition), 0) < high
        ]

    def _target_silver(self) -> dict[str, int]:
        targets = {}
        for _, table in PUBLISHED_TABLES:
            version = latest_data_version(table_uri(self._settings.lake_root, "bronze", table))
            if version is not None:
                targets[table] = version
        return targets

    def _waiting_silver(self) -> list[str]:
        paused = self._watcher_view_paused()
        waiting = []
        for table, bronze_version in sorted(self._target.items()):
            if table in paused:
                continue
            uri = table_uri(self._settings.lake_root, "silver", table)
            applied = transaction_version(uri, silver_app_id(table))
            if applied < bronze_version:
                waiting.append(f"{table} {applied}/{bronze_version}")
        if not waiting:
            waiting = [
                f"{table}: {count} changes of incomplete transactions held"
                for table, count in sorted(self._held_incomplete().items())
                if table in self._target and table not in paused
            ]
        return waiting

    def _target_gold(self) -> dict[str, int]:
        state = self._gold_state()
        targets = {}
        for table in state or {t for _, t in PUBLISHED_TABLES}:
            version = latest_data_version(table_uri(self._settings.lake_root, "silver", table))
            if version is not None:
                targets[table] = version
        return targets

    def _waiting_gold(self) -> list[str]:
        state = self._gold_state()
        if state is None:
            return ["the first gold build"]
        return [
            f"{table} {state.get(table, -1)}/{version}"
            for table, version in sorted(self._target.items())
            if table in state and state[table] < version
        ]

    # --- reading ------------------------------------------------------------------------------------

    def _gold_state(self) -> dict[str, int] | None:
        try:
            table = DeltaTable(
                for_delta_rs(table_uri(self._settings.lake_root, "gold", GOLD_BUILD_STATE_TABLE))
            )
        except TableNotFoundError:
            return None
        rows = table.to_pyarrow_table(columns=["silver_table", "silver_version"]).to_pylist()
        return {row["silver_table"]: int(row["silver_version"]) for row in rows}

    def _held_incomplete(self) -> dict[str, int]:
        """Changes per table that silver holds until their source transaction is complete."""
        try:
            held = DeltaTable(for_delta_rs(table_uri(self._settings.lake_root, "silver", SILVER_HELD_TABLE)))
        except TableNotFoundError:
            return {}
        rule = pyarrow.dataset.field("rule") == TRANSACTION_INCOMPLETE_RULE
        tables = held.to_pyarrow_dataset().to_table(columns=["table"], filter=rule).column("table")
        return {str(entry["values"]): int(entry["counts"]) for entry in tables.value_counts().to_pylist()}

    def _watcher_view_paused(self) -> set[str]:
        with self._watcher.lock:
            return self._watcher.view.paused("silver")

    def _consumer(self) -> Consumer:
        return create_consumer(
            self._settings.kafka, "lakepulse-cli-drain", f"lakepulse-cli-drain-{time.time_ns()}"
        )

    def _query_one(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        with psycopg2.connect(self._settings.postgres.dsn()) as conn, conn.cursor() as cur:
            cur.execute(sql, params)
            row = cur.fetchone()
        conn.close()
        return None if row is None else row[0]
