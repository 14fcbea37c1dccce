"""Turns a job request into a :class:`JobPlan`: validation against Kafka and the lake, scope, commands.

Everything a request names is checked before a job exists: the topic and its partitions against the
broker's metadata, offsets against the retained range, tables against the lake and the control
topic. Names are validated (``validate_table_name``) before they become a scope key or a parameter.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]

from lakepulse_common.control_events import CommandAction, Layer
from lakepulse_common.storage import validate_table_name
from lakepulse_common.topics import TopicNames
from lakepulse_control_api.config import ControlSettings
from lakepulse_control_api.errors import DependencyUnavailableError, InvalidRequestError
from lakepulse_control_api.jobs import JobPlan, TargetCommand
from lakepulse_control_api.lake import LakeReader
from lakepulse_control_api.models import JobKind
from lakepulse_control_api.schemas import BackfillRequest, MaintenanceRequest, ReplayRequest, ReprocessRequest
from lakepulse_control_api.state import PipelineState

BRONZE_WRITER = "bronze-writer"
SILVER_PROCESSOR = "silver-processor"
GOLD_BUILDER = "gold-builder"
LAYER_OWNERS = {Layer.BRONZE: BRONZE_WRITER, Layer.SILVER: SILVER_PROCESSOR, Layer.GOLD: GOLD_BUILDER}
# Kafka's timestamp lookups treat a far-future bound as "the end"; a day of clock skew is tolerated.
_FUTURE_SLACK = timedelta(days=1)


class JobPlanner:
    def __init__(
        self,
        admin: AdminClient,
        topics: TopicNames,
        lake: LakeReader,
        state: PipelineState,
        control: ControlSettings,
    ) -> None:
        self._admin = admin
        self._topics = topics
        self._lake = lake
        self._state = state
        self._control = control

    def replay(self, request: ReplayRequest) -> JobPlan:
        table = self._topics.table_of_cdc_topic(request.topic)
        if table is None:
            raise InvalidRequestError("topic", f"{request.topic} is not a CDC topic of this deployment")
        validate_table_name(table)
        partitions = self._partitions_of(request.topic)
        selected = sorted(set(request.partitions)) if request.partitions else partitions
        missing = [p for p in selected if p not in partitions]
        if missing:
            raise InvalidRequestError("partitions", f"{request.topic} has no partition(s) {missing}")
        params: dict[str, Any] = {"topic": request.topic, "partitions": selected}
        by_offset = request.start_offset is not None or request.end_offset is not None
        by_time = request.start_timestamp is not None or request.end_timestamp is not None
        if by_offset == by_time:
            raise InvalidRequestError(
                "start_offset", "give either start_offset/end_offset or start_timestamp/end_timestamp"
            )
        if by_offset:
            params |= self._offset_range(request, selected)
        else:
            params |= _time_range(request)
        return JobPlan(
            kind=JobKind.REPLAY,
            params=request.model_dump(mode="json", exclude_none=True),
            scope=[f"bronze.{table}"],
            commands=[TargetCommand(BRONZE_WRITER, CommandAction.REPLAY, params)],
        )

    def reprocess(self, request: ReprocessRequest) -> JobPlan:
        """One command per layer owner; ``tables`` is left out of a command that covers its whole layer."""
        by_layer: dict[str, list[str] | None]
        if request.tables == "all":
            layers = sorted(set(request.layers), key=["silver", "gold"].index)
            by_layer = dict.fromkeys(layers)
            scope = [f"{layer}.*" for layer in layers]
        else:
            if not request.tables:
                raise InvalidRequestError("tables", 'name at least one table, or "all"')
            named: dict[str, list[str]] = {}
            for qualified in sorted(set(request.tables)):
                layer, _, table = qualified.partition(".")
                if layer not in ("silver", "gold"):
                    raise InvalidRequestError(
                        "tables", f"{qualified!r}: reprocess covers silver.* and gold.*"
                    )
                self._require_table(Layer(layer), table, "tables")
                named.setdefault(layer, []).append(table)
            by_layer = dict(named)
            scope = [f"{layer}.{t}" for layer, names in named.items() for t in names]
        commands = []
        for layer, tables in by_layer.items():
            params: dict[str, Any] = {}
            if tables is not None:
                params["tables"] = tables
            if request.from_bronze_version is not None:
                params["from_bronze_version"] = request.from_bronze_version
            commands.append(TargetCommand(LAYER_OWNERS[Layer(layer)], CommandAction.REPROCESS, params))
        return JobPlan(
            kind=JobKind.REPROCESS, params=request.model_dump(mode="json"), scope=scope, commands=commands
        )

    def backfill(self, request: BackfillRequest) -> JobPlan:
        if request.end_date < request.start_date:
            raise InvalidRequestError("end_date", "end_date is before start_date")
        if request.end_date > datetime.now(UTC).date() + _FUTURE_SLACK:
            raise InvalidRequestError("end_date", "end_date is in the future")
        if (request.end_date - request.start_date).days + 1 > self._control.max_backfill_days:
            raise InvalidRequestError(
                "end_date", f"a backfill covers at most {self._control.max_backfill_days} days"
            )
        tables = sorted(set(request.tables)) if request.tables else None
        if request.tables is not None and not request.tables:
            raise InvalidRequestError("tables", "name at least one gold table, or leave tables out")
        for table in tables or []:
            self._require_table(Layer.GOLD, table, "tables")
        params: dict[str, Any] = {"start_date": _iso(request.start_date), "end_date": _iso(request.end_date)}
        if tables:
            params["tables"] = tables
        return JobPlan(
            kind=JobKind.BACKFILL,
            params=request.model_dump(mode="json"),
            scope=[f"gold.{t}" for t in tables] if tables else ["gold.*"],
            commands=[TargetCommand(GOLD_BUILDER, CommandAction.BACKFILL, params)],
        )

    def maintenance(self, request: MaintenanceRequest) -> JobPlan:
        layer = Layer(request.layer)
        self._require_table(layer, request.table, "table")
        params: dict[str, Any] = {"layer": layer.value, "tables": [request.table]}
        if request.action == "vacuum":
            retention = (
                request.retain_hours
                if request.retain_hours is not None
                else self._control.min_vacuum_retention_hours
            )
            if retention < self._control.min_vacuum_retention_hours:
                raise InvalidRequestError(
                    "retain_hours",
                    f"retention below {self._control.min_vacuum_retention_hours} h would break time travel"
                    " and readers of older versions",
                )
            params["retain_hours"] = retention
        elif request.retain_hours is not None:
            raise InvalidRequestError("retain_hours", "retain_hours applies to vacuum only")
        action = CommandAction(request.action)
        return JobPlan(
            kind=JobKind(request.action),
            params=request.model_dump(mode="json", exclude_none=True),
            scope=[f"{layer.value}.{request.table}"],
            commands=[TargetCommand(LAYER_OWNERS[layer], action, params)],
        )

    def _require_table(self, layer: Layer, table: str, field: str) -> None:
        try:
            validate_table_name(table)
        except ValueError as exc:
            raise InvalidRequestError(field, str(exc)) from exc
        if (layer.value, table) in self._state.snapshot().tables or self._lake.exists(layer, table):
            return
        raise InvalidRequestError(field, f"unknown table {layer.value}.{table}")

    def _partitions_of(self, topic: str) -> list[int]:
        try:
            metadata = self._admin.list_topics(topic=topic, timeout=self._control.kafka_timeout_s)
        except KafkaException as exc:
            raise DependencyUnavailableError(f"cannot describe {topic}: {exc}") from exc
        described = metadata.topics.get(topic)
        if described is None or described.error is not None or not described.partitions:
            raise InvalidRequestError("topic", f"no topic {topic}")
        return sorted(described.partitions)

    def _offset_range(self, request: ReplayRequest, partitions: list[int]) -> dict[str, Any]:
        start, end = request.start_offset, request.end_offset
        if start is None or end is None:
            raise InvalidRequestError("end_offset", "an offset range needs both start_offset and end_offset")
        if end <= start:
            raise InvalidRequestError("end_offset", "end_offset must be greater than start_offset")
        for partition, (low, high) in self._watermarks(request.topic, partitions).items():
            if start < low or end > high:
                raise InvalidRequestError(
                    "end_offset" if end > high else "start_offset",
                    f"{request.topic}[{partition}] retains offsets [{low}, {high}); asked [{start}, {end})",
                )
        return {"start_offset": start, "end_offset": end}

    def _watermarks(self, topic: str, partitions: list[int]) -> dict[int, tuple[int, int]]:
        """Low and high watermark of each partition: the offsets a replay can still read."""
        timeout = self._control.kafka_timeout_s
        bounds: dict[int, list[int]] = {p: [] for p in partitions}
        try:
            specs = (OffsetSpec.earliest(), OffsetSpec.latest())  # type: ignore[no-untyped-call]
            for spec in specs:
                request = {TopicPartition(topic, p): spec for p in partitions}
                for tp, future in self._admin.list_offsets(request, request_timeout=timeout).items():
                    bounds[tp.partition].append(future.result(timeout=timeout).offset)
        except KafkaException as exc:
            raise DependencyUnavailableError(f"cannot read the offsets of {topic}: {exc}") from exc
        return {p: (b[0], b[1]) for p, b in bounds.items()}


def _time_range(request: ReplayRequest) -> dict[str, Any]:
    start, end = request.start_timestamp, request.end_timestamp
    if start is None or end is None:
        raise InvalidRequestError(
            "end_timestamp", "a time range needs both start_timestamp and end_timestamp"
        )
    start, end = _aware(start), _aware(end)
    if end <= start:
        raise InvalidRequestError("end_timestamp", "end_timestamp must be after start_timestamp")
    if start > datetime.now(UTC) + _FUTURE_SLACK:
        raise InvalidRequestError("start_timestamp", "start_timestamp is in the future")
    return {
        "start_timestamp_ms": int(start.timestamp() * 1000),
        "end_timestamp_ms": int(end.timestamp() * 1000),
    }


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _iso(day: date) -> str:
    return day.isoformat()
