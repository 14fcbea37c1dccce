"""Prometheus metrics of the control plane (served on ``/metrics`` of the API itself)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from lakepulse_common.freshness import AgeGauge

REQUESTS = Counter("lakepulse_control_api_requests_total", "HTTP requests", ["method", "route", "status"])
REQUEST_SECONDS = Histogram(
    "lakepulse_control_api_request_seconds", "HTTP request latency", ["method", "route"]
)
AUTH_FAILURES = Counter("lakepulse_control_api_auth_failures_total", "mutations refused for a bad token")
CONTROL_EVENTS = Counter(
    "lakepulse_control_api_control_events_total", "control events folded into the state", ["kind"]
)
CONTROL_EVENTS_REJECTED = Counter(
    "lakepulse_control_api_control_events_rejected_total", "control-topic messages that could not be decoded"
)
JOBS_CREATED = Counter("lakepulse_control_api_jobs_created_total", "jobs accepted", ["kind"])
JOBS_FINISHED = Counter(
    "lakepulse_control_api_jobs_finished_total", "jobs that reached a final state", ["kind", "state"]
)
CONSUMER_LAG = Gauge(
    "lakepulse_control_api_consumer_lag_messages", "measured consumer lag per service", ["service"]
)
HEARTBEAT_AGE_SECONDS = Gauge(
    "lakepulse_control_api_heartbeat_age_seconds",
    "now minus the newest heartbeat a service produced on the control topic",
    ["service"],
)
HEARTBEAT_AGE = AgeGauge(HEARTBEAT_AGE_SECONDS)
