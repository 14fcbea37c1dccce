"""Kafka topic names. Every name derives from ``kafka.topic_prefix`` so tests can isolate themselves."""

from __future__ import annotations

import re
from dataclasses import dataclass

from lakepulse_common.settings import KafkaSettings

_TABLE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class TopicNames:
    """The topics LakePulse owns; documented in docs/architecture.md."""

    prefix: str = "lakepulse"

    @classmethod
    def from_settings(cls, kafka: KafkaSettings) -> TopicNames:
        return cls(prefix=kafka.topic_prefix)

    @property
    def cdc_prefix(self) -> str:
        return f"{self.prefix}.cdc."

    def cdc(self, table: str) -> str:
        """``<prefix>.cdc.<table>``: one topic per captured source table (Debezium envelope)."""
        if not _TABLE_NAME.match(table) or table == "transaction":
            raise ValueError(f"not a capturable table name: {table!r}")
        return f"{self.cdc_prefix}{table}"

    @property
    def cdc_pattern(self) -> str:
        """Regex for the data topics only (the transaction topic is excluded)."""
        return re.escape(self.cdc_prefix) + r"(?!transaction$)[a-z][a-z0-9_]*"

    @property
    def transaction(self) -> str:
        """BEGIN/END transaction metadata, as Debezium's ``<prefix>.transaction``."""
        return f"{self.cdc_prefix}transaction"

    @property
    def control(self) -> str:
        """Commit announcements, heartbeats, status and job progress (:class:`ControlEvent`)."""
        return f"{self.prefix}.control"

    @property
    def commands(self) -> str:
        """Commands from the control plane to the services (:class:`Command`)."""
        return f"{self.prefix}.commands"

    @property
    def gold_changes(self) -> str:
        """Change notifications for downstream consumers of gold tables."""
        return f"{self.prefix}.gold.changes"

    def table_of_cdc_topic(self, topic: str) -> str | None:
        if not topic.startswith(self.cdc_prefix) or topic == self.transaction:
            return None
        table = topic[len(self.cdc_prefix) :]
        return table if _TABLE_NAME.match(table) else None
