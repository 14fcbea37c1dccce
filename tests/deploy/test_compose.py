"""compose.yaml cannot run here (no Docker engine), so these tests keep it honest structurally.

They fail on what would break `docker compose up` or silently misconfigure a service: a missing
healthcheck, an unpinned image, a ``LAKEPULSE_*`` variable that no settings field reads, a scrape
target that is not a service, a mount of a file that does not exist.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from lakepulse_common.settings import LakePulseSettings
from tests.deploy.deploy_files import (
    LAKEPULSE_SERVICES,
    REPO_ROOT,
    environment_of,
    interpolate,
    parse_dockerfile,
    service_pyproject,
    settings_env_error,
)

pytestmark = pytest.mark.unit

ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - inside a container the service must listen beyond loopback

SEED_STACK = (
    "postgres",
    "kafka",
    "schema-registry",
    "kafka-ui",
    "spark-master",
    "spark-worker",
    "minio",
    "minio-init",
    "trino",
    "prometheus",
    "grafana",
    "tempo",
)
METRICS_PORTS = {
    "cdc-emitter": 9401,
    "bronze-writer": 9402,
    "silver-processor": 9403,
    "gold-builder": 9404,
    "control-api": 8088,
}


def _is_one_shot(service: dict[str, Any]) -> bool:
    return str(service.get("restart", "no")) == "no"


def _image_tag(image: str) -> str:
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.partition(":")[2]


def _host_ports(service: dict[str, Any]) -> list[int]:
    ports: list[int] = []
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            ports.append(int(entry["published"]))
            continue
        parts = str(entry).split("/", 1)[0].split(":")
        assert len(parts) >= 2, f"port {entry!r} publishes a random host port; name it"
        ports.append(int(parts[-2]))
    return ports


def test_compose_has_the_seed_stack_and_the_five_services(compose_services: dict[str, Any]) -> None:
    missing = sorted(set(SEED_STACK + LAKEPULSE_SERVICES) - set(compose_services))
    assert not missing, f"compose.yaml lacks services: {missing}"


def test_postgres_runs_with_logical_decoding(compose_services: dict[str, Any]) -> None:
    postgres = compose_services["postgres"]
    assert _image_tag(postgres["image"]).startswith("15"), postgres["image"]
    command = " ".join(postgres["command"])
    assert "wal_level=logical" in command
    assert "max_replication_slots=" in command and "max_wal_senders=" in command


def test_kafka_is_a_single_combined_kraft_node(compose_services: dict[str, Any]) -> None:
    kafka = environment_of(compose_services["kafka"])
    assert set(kafka["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert kafka["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith(f"{kafka['KAFKA_NODE_ID']}@kafka:")
    for name in ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"):
        assert kafka[name] == "1", f"{name} must be 1 on a single broker"


def test_every_long_running_service_has_a_healthcheck(compose_services: dict[str, Any]) -> None:
    without = [
        name
        for name, service in compose_services.items()
        if not _is_one_shot(service)
        and (
            not service.get("healthcheck")
            or service["healthcheck"].get("disable")
            or not service["healthcheck"].get("test")
        )
    ]
    assert not without, f"long-running services without a healthcheck: {without}"


def test_every_dependency_waits_on_a_condition(compose_services: dict[str, Any]) -> None:
    problems: list[str] = []
    for name, service in compose_services.items():
        depends_on = service.get("depends_on", {})
        if isinstance(depends_on, list):
            problems.append(f"{name}: depends_on is a list; give each dependency a condition")
            continue
        for dependency, spec in depends_on.items():
            if dependency not in compose_services:
                problems.append(f"{name}: depends on unknown service {dependency}")
                continue
            expected = (
                "service_completed_successfully"
                if _is_one_shot(compose_services[dependency])
                else "service_healthy"
            )
            condition = (spec or {}).get("condition")
            if condition != expected:
                problems.append(f"{name} -> {dependency}: condition {condition!r}, expected {expected!r}")
    assert not problems, "\n".join(problems)


def test_every_image_is_pinned(compose_services: dict[str, Any]) -> None:
    problems: list[str] = []
    for name, service in compose_services.items():
        image = service.get("image")
        if not image:
            problems.append(f"{name}: no image (built services name theirs too)")
            continue
        tag = _image_tag(image)
        if not tag or tag == "latest" or not re.search(r"\d", tag):
            problems.append(f"{name}: image {image!r} is not pinned to a version tag")
    assert not problems, "\n".join(problems)


def test_published_host_ports_do_not_clash(compose_services: dict[str, Any]) -> None:
    published = Counter(port for service in compose_services.values() for port in _host_ports(service))
    clashes = sorted(port for port, count in published.items() if count > 1)
    assert not clashes, f"host ports published twice: {clashes}"


def test_every_documented_port_is_published(compose_services: dict[str, Any]) -> None:
    published = {port for service in compose_services.values() for port in _host_ports(service)}
    header = (REPO_ROOT / "compose.yaml").read_text().split("\nname:", 1)[0]
    documented = {int(port) for port in re.findall(r"^#\s+(\d{4,5})\b", header, flags=re.MULTILINE)}
    documented |= {int(port) for port in re.findall(r"^#\s+\d{4,5}, (\d{4,5})\b", header, flags=re.MULTILINE)}
    assert documented == published, f"header vs ports: {sorted(documented ^ published)}"


def test_bind_mounts_point_at_files_in_the_repo(compose_services: dict[str, Any]) -> None:
    missing: list[str] = []
    for name, service in compose_services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source", "")
            if source.startswith((".", "/")) and not (REPO_ROOT / source).exists():
                missing.append(f"{name}: {source}")
    assert not missing, f"bind mounts of missing paths: {missing}"


def test_lakepulse_variables_name_real_settings_fields(compose_services: dict[str, Any]) -> None:
    errors = [
        f"{service}: {error}"
        for service, spec in compose_services.items()
        for name in environment_of(spec)
        if name.upper().startswith("LAKEPULSE_") and (error := settings_env_error(name))
    ]
    assert not errors, "\n".join(errors)


def test_lakepulse_services_are_configured_only_by_settings_and_otel(
    compose_services: dict[str, Any],
) -> None:
    foreign = {
        service: sorted(
            name
            for name in environment_of(compose_services[service])
            if not name.startswith(("LAKEPULSE_", "OTEL_"))
        )
        for service in LAKEPULSE_SERVICES
    }
    assert not any(foreign.values()), f"variables LakePulse does not read: {foreign}"


@pytest.mark.parametrize("service", LAKEPULSE_SERVICES)
def test_compose_environment_builds_valid_settings(
    service: str, compose_services: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The defaults in compose.yaml validate: types, URI schemes and ports are accepted by the model."""
    for name in list(os.environ):
        if name.startswith("LAKEPULSE_"):
            monkeypatch.delenv(name)
    environment = {
        name: interpolate(value, {})
        for name, value in environment_of(compose_services[service]).items()
        if name.startswith("LAKEPULSE_")
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    settings = LakePulseSettings()
    assert settings.kafka.bootstrap_servers == "kafka:9092"
    assert settings.postgres.host == "postgres"
    assert settings.lake_root.startswith("s3a://")
    assert settings.lake.s3_endpoint == "http://minio:9000"
    if service == "control-api":
        assert settings.control_api.host == ALL_INTERFACES
        assert settings.control_api.port == METRICS_PORTS[service]
    else:
        assert settings.telemetry.metrics_host == ALL_INTERFACES
        assert settings.telemetry.metrics_port == METRICS_PORTS[service]
    if service in ("bronze-writer", "silver-processor", "gold-builder"):
        assert settings.spark.master == "spark://spark-master:7077"
    assert environment_of(compose_services[service])["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://tempo:4317"


@pytest.mark.parametrize("service", LAKEPULSE_SERVICES)
def test_service_is_built_from_the_repo_root_with_its_dockerfile(
    service: str, compose_services: dict[str, Any]
) -> None:
    build = compose_services[service]["build"]
    assert Path(build["context"]) == Path("."), "services build from the repository root (the uv workspace)"
    dockerfile = REPO_ROOT / build["dockerfile"]
    assert dockerfile == REPO_ROOT / "services" / service / "Dockerfile"
    assert dockerfile.is_file(), f"{dockerfile} missing"

    entrypoints = [i for i in parse_dockerfile(dockerfile) if i.keyword == "ENTRYPOINT"]
    assert len(entrypoints) == 1, f"{dockerfile}: expected one ENTRYPOINT"
    command = yaml.safe_load(entrypoints[0].arguments)
    assert isinstance(command, list), "ENTRYPOINT must use the exec form so SIGTERM reaches the service"
    scripts = service_pyproject(service)["project"].get("scripts", {})
    assert command[0] in scripts, f"ENTRYPOINT {command[0]!r} is not in [project.scripts] {sorted(scripts)}"


@pytest.mark.parametrize("service", LAKEPULSE_SERVICES)
def test_dockerfile_lakepulse_variables_name_real_settings_fields(service: str) -> None:
    dockerfile = REPO_ROOT / "services" / service / "Dockerfile"
    names = [
        assignment.split("=", 1)[0]
        for instruction in parse_dockerfile(dockerfile)
        if instruction.keyword == "ENV"
        for assignment in instruction.arguments.split()
        if "=" in assignment
    ]
    errors = [
        error for name in names if name.startswith("LAKEPULSE_") and (error := settings_env_error(name))
    ]
    assert not errors, "\n".join(errors)


def test_prometheus_scrapes_every_service_at_its_metrics_port(compose_services: dict[str, Any]) -> None:
    config = yaml.safe_load((REPO_ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    targets = [
        target
        for job in config["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    ]
    hosts = {target.rpartition(":")[0] for target in targets}
    unknown = sorted(hosts - set(compose_services) - {"localhost"})
    assert not unknown, f"scrape targets that are not compose services: {unknown}"
    scraped = set(targets)
    expected = {f"{service}:{port}" for service, port in METRICS_PORTS.items()}
    assert expected <= scraped, f"not scraped: {sorted(expected - scraped)}"


def test_grafana_provisions_prometheus_and_tempo() -> None:
    files = sorted((REPO_ROOT / "deploy" / "grafana" / "provisioning" / "datasources").glob("*.yaml"))
    sources = [source for file in files for source in yaml.safe_load(file.read_text())["datasources"]]
    by_type = {source["type"]: source["url"] for source in sources}
    assert by_type.get("prometheus") == "http://prometheus:9090"
    assert by_type.get("tempo") == "http://tempo:3200"


def test_trino_delta_catalog_reads_the_lake_bucket_from_object_storage() -> None:
    lines = (REPO_ROOT / "deploy" / "trino" / "etc" / "catalog" / "delta.properties").read_text().splitlines()
    properties = dict(
        line.split("=", 1) for line in lines if line.strip() and not line.lstrip().startswith("#")
    )
    assert properties["connector.name"] == "delta_lake"
    assert properties["s3.endpoint"] == "http://minio:9000"
    assert "${ENV:S3_SECRET_KEY}" in properties["s3.aws-secret-key"], "credentials come from the environment"


def test_settings_check_rejects_names_no_field_reads() -> None:
    """The checker itself: it must fail on the mistakes it exists to catch."""
    assert settings_env_error("LAKEPULSE_KAFKA__BOOTSTRAP_SERVERS") is None
    assert settings_env_error("lakepulse_lake__s3_endpoint") is None
    assert settings_env_error("LAKEPULSE_SPARK__EXTRA_CONF__spark.sql.shuffle.partitions") is None
    assert settings_env_error("LAKEPULSE_STATE_DIR") is None
    for wrong in (
        "LAKEPULSE_KAFKA_BOOTSTRAP_SERVERS",  # single underscore: not nested
        "LAKEPULSE_KAFKA__BOOTSTRAP",  # no such field
        "LAKEPULSE_CDC__SLOT_NAME",  # a service section LakePulseSettings does not have
        "LAKEPULSE_KAFKA",  # a section, not a value
        "LAKEPULSE_STATE_DIR__X",  # a value has no fields
        "KAFKA_BOOTSTRAP_SERVERS",  # no prefix
    ):
        error = settings_env_error(wrong)
        assert error is not None and wrong in error, wrong


def test_interpolation_uses_the_documented_defaults() -> None:
    assert interpolate("${PG_PASSWORD:-lakepulse}", {}) == "lakepulse"
    assert interpolate("${PG_PASSWORD:-lakepulse}", {"PG_PASSWORD": "s3cret"}) == "s3cret"
    assert interpolate("s3a://${B:-lake}/x $${literal}", {}) == "s3a://lake/x ${literal}"
    with pytest.raises(KeyError):
        interpolate("${TOKEN:?set TOKEN}", {})
