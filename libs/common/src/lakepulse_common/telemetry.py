"""One ``init_telemetry(service)``: structured logs, OpenTelemetry traces, a Prometheus endpoint.

Traces go to an OTLP exporter only when the standard ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) variable is set; ``OTEL_EXPORTER_OTLP_PROTOCOL`` picks
gRPC (default) or ``http/protobuf``. Log records carry the current trace and span ids.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import TextIO

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Link
from prometheus_client import start_http_server
from pythonjsonlogger.json import JsonFormatter

from lakepulse_common import __version__
from lakepulse_common.control_events import TraceContext
from lakepulse_common.settings import TelemetrySettings

_OTLP_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


class _TraceIdsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        record.trace_id = format(context.trace_id, "032x") if context.is_valid else None
        record.span_id = format(context.span_id, "016x") if context.is_valid else None
        return True


@dataclass
class Telemetry:
    service: str
    tracer_provider: TracerProvider
    metrics_port: int | None

    def tracer(self, name: str) -> trace.Tracer:
        return self.tracer_provider.get_tracer(name, __version__)

    def shutdown(self) -> None:
        self.tracer_provider.force_flush()
        self.tracer_provider.shutdown()


def configure_logging(service: str, settings: TelemetrySettings, stream: TextIO | None = None) -> None:
    """Replace the root logger's handlers with one structured handler (stderr by default)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(_TraceIdsFilter())
    if settings.log_format == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(trace_id)s %(span_id)s",
                rename_fields={"asctime": "ts", "levelname": "level", "name": "logger"},
                static_fields={"service": service},
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    for noisy in ("py4j", "urllib3", "kafka"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _otlp_processor() -> SpanProcessor | None:
    if not any(os.environ.get(name) for name in _OTLP_VARIABLES):
        return None
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"
    )
    if protocol.startswith("http"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

        return BatchSpanProcessor(HttpExporter())
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

    return BatchSpanProcessor(GrpcExporter())


def init_telemetry(
    service: str,
    settings: TelemetrySettings,
    *,
    extra_processors: tuple[SpanProcessor, ...] = (),
    set_global: bool = True,
) -> Telemetry:
    """Set up logs, traces and metrics for one process. Call once, from ``main()``."""
    configure_logging(service, settings)
    resource = Resource.create(
        {
            "service.name": service,
            "service.namespace": "lakepulse",
            "service.version": __version__,
            "deployment.environment": settings.environment,
        }
    )
    provider = TracerProvider(resource=resource)
    exporter = _otlp_processor()
    for processor in (*extra_processors, *((exporter,) if exporter else ())):
        provider.add_span_processor(processor)
    if set_global:
        trace.set_tracer_provider(provider)
    port: int | None = None
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr=settings.metrics_host)
        port = settings.metrics_port
    logging.getLogger(__name__).info(
        "telemetry ready", extra={"otlp": exporter is not None, "metrics_port": port}
    )
    return Telemetry(service=service, tracer_provider=provider, metrics_port=port)


def inject_trace_headers(carrier: MutableMapping[str, str]) -> MutableMapping[str, str]:
    """Put the current context's ``traceparent``/``tracestate`` into a header mapping."""
    propagate.inject(carrier)
    return carrier


def context_from_headers(headers: Mapping[str, str | bytes] | None) -> object:
    """The trace context carried by Kafka headers (or a control event), for a child span or a link."""
    carrier = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in (headers or {}).items()}
    return propagate.extract(carrier)


def link_from_headers(headers: Mapping[str, str | bytes] | None) -> Link | None:
    """A span link to the context that headers (or a control event's ``trace``) carry; None if none.

    Batch spans link to the traces of the messages they consume instead of adopting one as parent.
    """
    context = trace.get_current_span(context_from_headers(headers)).get_span_context()  # type: ignore[arg-type]
    return Link(context) if context.is_valid else None


def current_trace_context() -> TraceContext | None:
    """The current span's W3C context as a control event's ``trace`` (None outside a valid span)."""
    carrier = inject_trace_headers({})
    return TraceContext.model_validate(carrier) if carrier.get("traceparent") else None
