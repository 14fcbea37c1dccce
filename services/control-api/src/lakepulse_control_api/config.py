"""The control plane's settings: the shared :class:`LakePulseSettings` plus a ``control`` section.

Environment examples: ``LAKEPULSE_CONTROL_API__TOKENS='["s3cret"]'``,
``LAKEPULSE_CONTROL__MAX_CONCURRENT_JOBS=4``,
``LAKEPULSE_CONTROL__CONSUMER_GROUPS='{"silver-processor": "lakepulse-silver-processor"}'``.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from lakepulse_common.settings import LakePulseSettings

SERVICE_NAME = "control-api"


class ControlSettings(BaseModel):
    """How the control plane folds the control topic, runs jobs and bounds what a request may ask."""

    control_group: str | None = Field(
        default=None, description="consumer group of the control-topic reader; default <prefix>.control-api"
    )
    max_concurrent_jobs: int = Field(default=4, ge=1, description="queued + running jobs at once")
    liveness_factor: float = Field(
        default=3.0, gt=1, description="a service is down after this many missed heartbeat intervals"
    )
    consumer_groups: dict[str, str] = Field(
        default_factory=lambda: {
            "silver-processor": "lakepulse-silver-processor",
            "gold-builder": "lakepulse-gold-builder",
        },
        description="service → Kafka consumer group whose committed offsets measure its lag",
    )
    lag_cache_s: float = Field(default=5.0, ge=0, description="consumer lag is measured at most this often")
    kafka_timeout_s: float = Field(default=5.0, gt=0, description="admin/metadata request timeout")
    preview_max_rows: int = Field(default=1000, ge=1, description="upper bound of a preview's `limit`")
    min_vacuum_retention_hours: float = Field(
        default=168.0, ge=0, description="a vacuum job may not ask for a shorter retention"
    )
    max_backfill_days: int = Field(default=3660, ge=1, description="longest date range one backfill covers")


class ControlApiServiceSettings(LakePulseSettings):
    control: ControlSettings = ControlSettings()

    @property
    def control_group(self) -> str:
        return self.control.control_group or f"{self.kafka.topic_prefix}.control-api"
