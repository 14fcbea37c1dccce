"""Reading a Delta table's log through the session's JVM: versions and commit infos, no Spark job.

``DeltaTable.history()`` runs a Spark job (and a log replay) per call; a writer that asks "what did
I just commit?" after every micro-batch pays that for every table, every batch. ``DeltaLog`` answers
from the cached snapshot and the new commit files alone, through the same Hadoop filesystem (and
credentials) the session writes with, so local and ``s3a://`` lakes behave alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lakepulse_common.spark import delta_table_exists, java_class
from lakepulse_common.storage import for_spark

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@dataclass(frozen=True)
class CommitInfo:
    """The ``commitInfo`` action of one version: what history() shows for it."""

    version: int
    operation: str
    user_metadata: str | None = None
    operation_metrics: dict[str, str] = field(default_factory=dict)
    timestamp_ms: int | None = None


def no_option(spark: SparkSession) -> Any:
    """Scala's ``None``, for the JVM calls that take an ``Option``."""
    return java_class(spark, "scala.Option").empty()


def delta_log(spark: SparkSession, uri: str) -> Any:
    """The JVM ``DeltaLog`` of a table (cached by Delta per path)."""
    return java_class(spark, "org.apache.spark.sql.delta.DeltaLog").forTable(
        spark._jsparkSession, for_spark(uri)
    )


def snapshot(spark: SparkSession, uri: str) -> Any:
    """The table's newest snapshot: reads only the commit files written since the cached one."""
    return delta_log(spark, uri).update(False, no_option(spark), no_option(spark))


def latest_version(spark: SparkSession, uri: str) -> int:
    """The table's newest version, or -1 when it has no committed version yet."""
    if not delta_table_exists(spark, uri):
        return -1
    return int(snapshot(spark, uri).version())


def _scala_option(value: Any) -> Any:
    return value.get() if value.isDefined() else None


def _string_map(spark: SparkSession, scala_map: Any) -> dict[str, str]:
    java_map = java_class(spark, "scala.jdk.javaapi.CollectionConverters").asJava(scala_map)
    return {str(k): str(v) for k, v in java_map.items()}


def commit_infos(
    spark: SparkSession, uri: str, start: int, end: int | None = None, *, fail_on_gaps: bool = True
) -> Iterator[CommitInfo]:
    """Commit infos of versions ``start..end`` (inclusive; ``end`` None = the newest), oldest first.

    With ``fail_on_gaps`` False, versions whose log files are gone (cleaned up behind a checkpoint)
    are skipped instead of raising.
    """
    if not delta_table_exists(spark, uri):
        return
    newest = int(snapshot(spark, uri).version())
    last = newest if end is None else min(end, newest)
    if last < max(start, 0):
        return
    changes = delta_log(spark, uri).getChanges(max(start, 0), last, no_option(spark), fail_on_gaps)
    while changes.hasNext():
        entry = changes.next()
        version, actions = int(entry._1()), entry._2()
        for i in range(actions.size()):
            action = actions.apply(i)
            if action.getClass().getSimpleName() != "CommitInfo":
                continue
            metrics = _scala_option(action.operationMetrics())
            yield CommitInfo(
                version=version,
                operation=str(action.operation()),
                user_metadata=_scala_option(action.userMetadata()),
                operation_metrics=_string_map(spark, metrics) if metrics is not None else {},
                timestamp_ms=int(action.timestamp().getTime()) if action.timestamp() is not None else None,
            )
            break


def commit_infos_newest_first(spark: SparkSession, uri: str, window: int = 64) -> Iterator[CommitInfo]:
    """Commit infos from the newest version back to the oldest kept, read ``window`` log files at a time."""
    end = latest_version(spark, uri)
    while end >= 0:
        start = max(0, end - window + 1)
        yield from reversed(list(commit_infos(spark, uri, start, end, fail_on_gaps=False)))
        end = start - 1
