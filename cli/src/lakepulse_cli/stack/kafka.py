"""Apache Kafka 4.x for the local stack: one combined broker + controller (KRaft) from Maven jars."""

from __future__ import annotations

import base64
import logging
import os
import shutil
import subprocess
import uuid
from pathlib import Path

from lakepulse_common.errors import StackError
from lakepulse_common.settings import LakePulseSettings

log = logging.getLogger(__name__)

NODE_ID = 1
KAFKA_POM = Path("deploy/maven/kafka/pom.xml")

_LOG4J2_XML = """<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders>
    <Console name="STDOUT" target="SYSTEM_OUT">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </Console>
  </Appenders>
  <Loggers>
    <Logger name="kafka" level="INFO"/>
    <Logger name="org.apache.kafka" level="INFO"/>
    <Logger name="state.change.logger" level="WARN"/>
    <Logger name="kafka.request.logger" level="WARN"/>
    <Root level="WARN"><AppenderRef ref="STDOUT"/></Root>
  </Loggers>
</Configuration>
"""


def kafka_dir(settings: LakePulseSettings) -> Path:
    return settings.state_dir / "kafka"


def java_executable(settings: LakePulseSettings) -> str:
    if settings.java_home is not None:
        return str(settings.java_home / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise StackError("no java on PATH: install a JDK 17+ or set LAKEPULSE_JAVA_HOME")
    return found


def classpath(settings: LakePulseSettings) -> str:
    jars_dir = settings.kafka_jars_dir
    if not any(jars_dir.glob("kafka_2.13-*.jar")):
        raise StackError(f"Kafka jars missing in {jars_dir}: run `make setup`")
    return f"{jars_dir}/*"


def server_properties(settings: LakePulseSettings) -> str:
    kafka = settings.kafka
    host, port = kafka.bootstrap_host_port
    controller = f"{host}:{kafka.controller_port}"
    properties = {
        "process.roles": "broker,controller",
        "node.id": str(NODE_ID),
        "controller.quorum.voters": f"{NODE_ID}@{controller}",
        "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{controller}",
        "advertised.listeners": f"PLAINTEXT://{host}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(kafka_dir(settings) / "data"),
        "num.partitions": str(kafka.default_partitions),
        "default.replication.factor": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "log.retention.ms": str(kafka.retention_ms),
        "log.segment.bytes": str(256 * 1024 * 1024),
        "auto.create.topics.enable": "false",
        "group.initial.rebalance.delay.ms": "0",
        "num.network.threads": "2",
        "num.io.threads": "4",
        "message.max.bytes": str(10 * 1024 * 1024),
    }
    return "".join(f"{key}={value}\n" for key, value in properties.items())


def _cluster_id(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    while True:  # Kafka's Uuid.randomUuid also rejects ids that start with a dash
        candidate = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not candidate.startswith("-"):
            path.write_text(candidate + "\n")
            return candidate


def write_config(settings: LakePulseSettings) -> Path:
    directory = kafka_dir(settings)
    (directory / "data").mkdir(parents=True, exist_ok=True)
    (directory / "server.properties").write_text(server_properties(settings))
    (directory / "log4j2.xml").write_text(_LOG4J2_XML)
    return directory / "server.properties"


def jvm_args(settings: LakePulseSettings) -> list[str]:
    heap = settings.kafka.broker_heap
    return [
        java_executable(settings),
        f"-Xms{heap}",
        f"-Xmx{heap}",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:+ExitOnOutOfMemoryError",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={kafka_dir(settings) / 'log4j2.xml'}",
        f"-Dkafka.logs.dir={settings.logs_dir}",
        "-cp",
        classpath(settings),
    ]


def ensure_formatted(settings: LakePulseSettings) -> None:
    """Format the KRaft storage once; ``--ignore-formatted`` keeps later calls harmless."""
    properties = write_config(settings)
    directory = kafka_dir(settings)
    if (directory / "data" / "meta.properties").exists():
        return
    cluster_id = _cluster_id(directory / "cluster.id")
    args = [
        *jvm_args(settings),
        "kafka.tools.StorageTool",
        "format",
        "-t", cluster_id,
        "-c", str(properties),
        "--ignore-formatted",
    ]  # fmt: skip
    result = subprocess.run(args, capture_output=True, text=True, check=False, env=os.environ.copy())
    if result.returncode != 0:
        raise StackError(f"kafka storage format failed: {result.stdout}{result.stderr}")
    log.info("formatted Kafka storage (cluster id %s)", cluster_id)


def server_command(settings: LakePulseSettings) -> list[str]:
    return [*jvm_args(settings), "kafka.Kafka", str(kafka_dir(settings) / "server.properties")]
