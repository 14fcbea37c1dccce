"""Spans leave a LakePulse process over OTLP and can be read back from a real receiver (Jaeger v2).

Only the standard ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_PROTOCOL`` variables point
``init_telemetry`` at the receiver, exactly as in compose.yaml; both OTLP transports are exercised.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.semconv._incubating.attributes import messaging_attributes as messaging

from lakepulse_common.settings import TelemetrySettings
from lakepulse_common.telemetry import init_telemetry
from tests.observability.jaeger import Jaeger
from tests.support import random_name, wait_for

pytestmark = pytest.mark.integration

TOPIC = "lakepulse.sales.orders"


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    """init_telemetry replaces the root handlers; give pytest its own back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _traces(jaeger: Jaeger, service: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{jaeger.query}/api/traces", params={"service": service, "limit": 20}, timeout=5.0)
    if not response.is_success:  # an unknown service is a 4xx until its first span lands
        return []
    return response.json().get("data") or []


def _tags(span: dict[str, Any]) -> dict[str, Any]:
    return {tag["key"]: tag["value"] for tag in span.get("tags", [])}


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_parent_and_child_spans_reach_jaeger(
    protocol: str, jaeger: Jaeger, monkeypatch: pytest.MonkeyPatch, restore_root_logger: None
) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", raising=False)
    monkeypatch.setenv(
        "OTEL_EXPORTER_OTLP_ENDPOINT", jaeger.otlp_grpc if protocol == "grpc" else jaeger.otlp_http
    )
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
    service = random_name("otlp-export-")

    telemetry = init_telemetry(service, TelemetrySettings(environment="ci"), set_global=False)
    tracer = telemetry.tracer(__name__)
    with tracer.start_as_current_span("cdc.transaction", kind=trace.SpanKind.INTERNAL) as parent:
        child = tracer.start_span(  # a child of the current span: the parent link under test
            f"{TOPIC} publish",
            kind=trace.SpanKind.PRODUCER,
            attributes={
                messaging.MESSAGING_SYSTEM: "kafka",
                messaging.MESSAGING_DESTINATION_NAME: TOPIC,
                messaging.MESSAGING_OPERATION_TYPE: "publish",
                messaging.MESSAGING_KAFKA_MESSAGE_KEY: '{"order_id": 42}',
                messaging.MESSAGING_KAFKA_OFFSET: 7,
            },
        )
        child.end()
    telemetry.shutdown()  # flushes the batch processor into the exporter

    parent_id = format(parent.get_span_context().span_id, "016x")
    child_id = format(child.get_span_context().span_id, "016x")
    trace_id = format(parent.get_span_context().trace_id, "032x")

    def both_spans_stored() -> list[dict[str, Any]]:
        return [t for t in _traces(jaeger, service) if len(t.get("spans", [])) >= 2]

    (stored,) = wait_for(both_spans_stored, 30.0, f"two spans of {service} in Jaeger")
    spans = {span["spanID"]: span for span in stored["spans"]}
    assert set(spans) == {parent_id, child_id}
    assert stored["traceID"] == trace_id
    assert spans[parent_id]["operationName"] == "cdc.transaction"
    assert not spans[parent_id].get("references")

    published = spans[child_id]
    assert published["operationName"] == f"{TOPIC} publish"
    assert published["references"] == [{"refType": "CHILD_OF", "traceID": trace_id, "spanID": parent_id}]
    tags = _tags(published)
    assert tags["messaging.system"] == "kafka"
    assert tags["messaging.destination.name"] == TOPIC
    assert tags["messaging.kafka.offset"] == 7
    assert tags["span.kind"] == "producer"

    process = stored["processes"][published["processID"]]
    assert process["serviceName"] == service
    resource = _tags(process)
    assert resource["service.namespace"] == "lakepulse"
    assert resource["deployment.environment"] == "ci"
