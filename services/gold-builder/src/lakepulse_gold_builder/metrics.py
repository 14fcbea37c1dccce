"""Prometheus metrics of the gold builder (served on ``telemetry.metrics_port``, default 9404).

Freshness is per gold table: a commit reflects the silver events that triggered its build, whose
newest ``source_commit_ts_ms`` the commit's control event carries.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from lakepulse_common.freshness import AgeGauge

BUILDS = Counter("lakepulse_gold_builds", "Gold builds run", ["mode", "outcome"])
BUILD_SECONDS = Histogram(
    "lakepulse_gold_build_seconds",
    "Wall time of one gold build (pin silver → last commit)",
    ["mode"],
    buckets=(0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300),
)
COMMITS = Counter("lakepulse_gold_commits", "Delta commits to gold tables", ["table"])
TABLE_VERSION = Gauge("lakepulse_gold_table_version", "Latest committed Delta version", ["table"])
SILVER_VERSION = Gauge("lakepulse_gold_silver_version", "Silver version gold reflects", ["table"])
SILVER_EVENTS = Counter("lakepulse_gold_silver_events", "Silver control events consumed", ["outcome"])
COMMANDS = Counter("lakepulse_gold_commands", "Control-plane commands handled", ["action", "outcome"])
TABLE_FILES = Gauge("lakepulse_gold_table_files", "Active data files of a gold table", ["table"])
BUILD_LAG_SECONDS = Gauge(
    "lakepulse_gold_build_lag_seconds", "Newest silver commit event of a build produced → build finished"
)
FRESHNESS_SECONDS = Gauge(
    "lakepulse_gold_freshness_seconds",
    "Now minus the source commit time of the newest change a gold table reflects",
    ["table"],
)
FRESHNESS = AgeGauge(FRESHNESS_SECONDS)
ERRORS = Counter("lakepulse_gold_errors", "Failures that stopped or disturbed the gold builder", ["kind"])
