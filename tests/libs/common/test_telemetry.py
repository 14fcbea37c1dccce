import io
import json
import logging

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from lakepulse_common.settings import TelemetrySettings
from lakepulse_common.telemetry import (
    configure_logging,
    context_from_headers,
    init_telemetry,
    inject_trace_headers,
)

pytestmark = pytest.mark.unit


@pytest.fixture
def telemetry():
    exporter = InMemorySpanExporter()
    result = init_telemetry(
        "test-service",
        TelemetrySettings(environment="ci"),
        extra_processors=(SimpleSpanProcessor(exporter),),
        set_global=False,
    )
    yield result, exporter
    result.shutdown()
    logging.getLogger().handlers.clear()


def test_spans_carry_service_and_deployment_resource(telemetry):
    result, exporter = telemetry
    with result.tracer("t").start_as_current_span("work"):
        pass
    (span,) = exporter.get_finished_spans()
    assert span.resource.attributes["service.name"] == "test-service"
    assert span.resource.attributes["deployment.environment"] == "ci"


def test_trace_context_survives_kafka_headers(telemetry):
    result, exporter = telemetry
    tracer = result.tracer("t")
    with tracer.start_as_current_span("producer") as producer_span:
        headers = dict(inject_trace_headers({}))
    assert headers["traceparent"].split("-")[1] == format(producer_span.get_span_context().trace_id, "032x")
    kafka_headers = {k: v.encode() for k, v in headers.items()}  # Kafka hands header values back as bytes
    with tracer.start_as_current_span("consumer", context=context_from_headers(kafka_headers)):
        pass
    producer, consumer = exporter.get_finished_spans()
    assert consumer.context.trace_id == producer.context.trace_id
    assert consumer.parent.span_id == producer.context.span_id


def test_json_logs_carry_trace_and_span_ids(telemetry):
    result, _ = telemetry
    stream = io.StringIO()
    configure_logging("test-service", TelemetrySettings(), stream=stream)
    with result.tracer("t").start_as_current_span("logged") as span:
        logging.getLogger("lakepulse.test").info("inside a span")
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert line["message"] == "inside a span"
    assert line["service"] == "test-service"
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert line["span_id"] == format(span.get_span_context().span_id, "016x")
    assert line["level"] == "INFO"


def test_no_otlp_exporter_without_otel_variables(monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    result = init_telemetry("quiet", TelemetrySettings(), set_global=False)
    try:
        processors = result.tracer_provider._active_span_processor._span_processors
        assert processors == ()
    finally:
        result.shutdown()
        logging.getLogger().handlers.clear()


def test_tracer_provider_is_not_global_when_asked(telemetry):
    result, _ = telemetry
    assert trace.get_tracer_provider() is not result.tracer_provider
