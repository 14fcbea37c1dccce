"""Typed settings for every LakePulse process.

One environment prefix, ``LAKEPULSE_``, with ``__`` between nested sections, e.g.
``LAKEPULSE_KAFKA__BOOTSTRAP_SERVERS`` or ``LAKEPULSE_POSTGRES__PORT``. Defaults target the
embedded local stack that ``lakepulse up`` starts; every host, port and path comes from here.
Services subclass :class:`LakePulseSettings` to add their own section and build it in ``main()``,
never at import time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "LAKEPULSE_"
NESTED_DELIMITER = "__"
SEVEN_DAYS_MS = 7 * 24 * 3600 * 1000


class PostgresSettings(BaseModel):
    """The OLTP source database (and the control plane's metadata schema)."""

    host: str = "127.0.0.1"
    port: int = Field(default=15432, ge=1, le=65535)
    user: str = "lakepulse"
    password: SecretStr = SecretStr("lakepulse")
    database: str = "wwi"
    bin_dir: Path = Path("/usr/lib/postgresql/15/bin")
    data_dir: Path | None = Field(
        default=None, description="Cluster directory of the local stack; default <state_dir>/postgres"
    )
    shared_buffers: str = "128MB"

    def dsn(self, database: str | None = None) -> str:
        """libpq URI including the password: hand it to drivers, never to a logger."""
        password = quote(self.password.get_secret_value(), safe="")
        user = quote(self.user, safe="")
        return f"postgresql://{user}:{password}@{self.host}:{self.port}/{database or self.database}"

    def redacted_dsn(self, database: str | None = None) -> str:
        return f"postgresql://{self.user}:***@{self.host}:{self.port}/{database or self.database}"

    def sqlalchemy_url(self, database: str | None = None) -> str:
        return self.dsn(database).replace("postgresql://", "postgresql+psycopg2://", 1)


class KafkaSettings(BaseModel):
    """Kafka connection and topic defaults; turned into librdkafka keys only in ``lakepulse_common.kafka``."""

    bootstrap_servers: str = "127.0.0.1:19092"
    controller_port: int = Field(default=19093, ge=1, le=65535)
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    topic_prefix: str = Field(default="lakepulse", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    default_partitions: int = Field(default=3, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    retention_ms: int = Field(default=SEVEN_DAYS_MS, ge=-1)
    broker_heap: str = "512m"
    max_poll_interval_ms: int = Field(
        default=1_800_000,
        ge=10_000,
        description="a consumer that does not poll for this long leaves its group; the Spark stages"
        " work on one batch of events between polls, and a snapshot-sized batch takes minutes",
    )

    @property
    def bootstrap_host_port(self) -> tuple[str, int]:
        host, _, port = self.bootstrap_servers.split(",")[0].rpartition(":")
        return host or "127.0.0.1", int(port)


class LakeSettings(BaseModel):
    """Where the Delta tables live: ``<root>/<layer>/<table>``."""

    root: str | None = Field(
        default=None, description="file:///… or s3a://bucket/prefix; default file://<state_dir>/lake"
    )
    s3_endpoint: str | None = None
    s3_access_key: SecretStr | None = None
    s3_secret_key: SecretStr | None = None
    s3_path_style_access: bool = True

    @field_validator("root")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("file://", "s3a://", "s3://")):
            raise ValueError("lake root must be a file://, s3a:// or s3:// URI")
        return value.rstrip("/") if value else value


class SparkSettings(BaseModel):
    """SparkSession defaults sized for a 2-core laptop; ``master`` points at a real cluster when set."""

    master: str = "local[*]"
    driver_memory: str = "1g"
    # Three Spark drivers share a laptop: a serial collector that hands freed heap back to the OS,
    # and a smaller code cache, keep each JVM's resident set near what it uses rather than its -Xmx.
    jvm_options: str = (
        "-XX:+UseSerialGC -XX:MinHeapFreeRatio=10 -XX:MaxHeapFreeRatio=30 -XX:ReservedCodeCacheSize=128m"
    )
    shuffle_partitions: int | None = Field(default=None, ge=1, description="default: the number of cores")
    ui_enabled: bool = False
    ui_port: int = 4040
    jars_dir: Path | None = Field(default=None, description="default <state_dir>/jars/spark")
    extra_conf: dict[str, str] = Field(default_factory=dict)


class TelemetrySettings(BaseModel):
    """Logging and metrics. Traces go out when the standard ``OTEL_EXPORTER_OTLP_*`` variables are set."""

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "json"
    environment: str = "local"
    metrics_port: int = Field(default=0, ge=0, le=65535, description="0 disables the /metrics endpoint")
    metrics_host: str = "127.0.0.1"


class ControlApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8088, ge=1, le=65535)
    tokens: list[SecretStr] = Field(default_factory=list, description="bearer tokens allowed to mutate")
    command_ttl_s: float = Field(
        default=86_400.0,
        gt=0,
        description="a command older than this when a service reads it is answered failed (expired),"
        " not run: a new deployment or a reset consumer group re-reads the retained commands topic",
    )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


class LakePulseSettings(BaseSettings):
    """Settings shared by every process. Build it once in ``main()`` and pass it down."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=NESTED_DELIMITER,
        extra="ignore",
        validate_default=True,
    )

    state_dir: Path = Field(default=Path(".lakepulse"), description="logs, data, checkpoints, jars")
    java_home: Path | None = None
    heartbeat_interval_s: float = Field(default=10.0, gt=0)
    postgres: PostgresSettings = PostgresSettings()
    kafka: KafkaSettings = KafkaSettings()
    lake: LakeSettings = LakeSettings()
    spark: SparkSettings = SparkSettings()
    telemetry: TelemetrySettings = TelemetrySettings()
    control_api: ControlApiSettings = ControlApiSettings()

    @model_validator(mode="after")
    def _resolve_paths(self) -> LakePulseSettings:
        self.state_dir = self.state_dir.expanduser().resolve()
        if self.postgres.data_dir is None:
            self.postgres.data_dir = self.state_dir / "postgres"
        if self.spark.jars_dir is None:
            self.spark.jars_dir = self.state_dir / "jars" / "spark"
        if self.lake.root is None:
            self.lake.root = (self.state_dir / "lake").as_uri()
        if self.java_home is None and os.environ.get("JAVA_HOME"):
            self.java_home = Path(os.environ["JAVA_HOME"])
        return self

    @property
    def lake_root(self) -> str:
        assert self.lake.root is not None  # set by the validator
        return self.lake.root

    @property
    def kafka_jars_dir(self) -> Path:
        return self.state_dir / "jars" / "kafka"

    @property
    def checkpoints_dir(self) -> Path:
        return self.state_dir / "checkpoints"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"
