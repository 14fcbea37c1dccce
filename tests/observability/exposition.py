"""What the services expose on /metrics, read from their code, and which metrics a PromQL query names.

Alert rules and dashboards are only worth something if the series they query exist, so the deploy
tests compare the metric names in every expression with the names the services' ``metrics`` modules
register. Two registration styles are in use and both are read:

- module-level metrics (``EVENTS = Counter(...)`` registered in the global registry);
- a metrics class that takes ``registry=`` (``BronzeMetrics``, ``SilverMetrics``), instantiated here
  with a private ``CollectorRegistry``.

The process/platform/GC collectors that ``prometheus_client`` puts in the global registry are served
too, and Prometheus adds its own series (``up``, ``ALERTS``, ...) to every scrape.
"""

from __future__ import annotations

import importlib
import inspect
import re
from functools import cache
from pathlib import Path
from types import ModuleType

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.registry import Collector

REPO_ROOT = Path(__file__).resolve().parents[2]

# Series Prometheus itself writes for every target and every alerting rule.
PROMETHEUS_SERIES = frozenset(
    {
        "up",
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        "scrape_samples_post_metric_relabeling",
        "scrape_series_added",
        "ALERTS",
        "ALERTS_FOR_STATE",
    }
)

# Names a metric family of each type is exposed under (text format 0.0.4, created series on).
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
    "stateset": ("",),
    "unknown": ("",),
}


def metrics_modules() -> dict[str, str]:
    """Service name → import path of its metrics module (``services/<name>/src/<package>/metrics.py``)."""
    found: dict[str, str] = {}
    for path in sorted((REPO_ROOT / "services").glob("*/src/*/metrics.py")):
        service = path.parents[2].name
        found[service] = f"{path.parent.name}.metrics"
    return found


def _collector_names(collector: Collector) -> set[str]:
    names: set[str] = set()
    for family in collector.collect():
        if family.samples:  # exactly what is served
            names.update(sample.name for sample in family.samples)
        else:  # a labelled metric before its first child: what it will be served as
            names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",)))
    return names


def _registry_classes(module: ModuleType) -> list[type]:
    """Classes of ``module`` that build their metrics into a registry passed as ``registry=``."""
    return [
        cls
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if cls.__module__ == module.__name__ and "registry" in inspect.signature(cls).parameters
    ]


def module_exposition(module: ModuleType) -> set[str]:
    """Every series name the metrics defined in ``module`` are exposed under."""
    names: set[str] = set()
    for metric in _metric_objects(module):
        names |= _collector_names(metric)
    return names


def _metric_objects(module: ModuleType) -> list[MetricWrapperBase]:
    found = [value for value in vars(module).values() if isinstance(value, MetricWrapperBase)]
    for cls in _registry_classes(module):
        instance = cls(registry=CollectorRegistry())
        found += [value for value in vars(instance).values() if isinstance(value, MetricWrapperBase)]
    return found


def documented_names() -> dict[str, set[str]]:
    """Service name → its metrics as a catalogue names them (counters with ``_total``, histograms bare)."""
    return {
        service: {
            family.name + ("_total" if family.type == "counter" else "")
            for metric in _metric_objects(importlib.import_module(module))
            for family in metric.describe()
        }
        for service, module in metrics_modules().items()
    }


def default_collectors_exposition() -> set[str]:
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return _collector_names(registry)


@cache
def services_exposition() -> dict[str, frozenset[str]]:
    """Service name → series names it exposes (its own metrics plus the default collectors)."""
    common = default_collectors_exposition()
    return {
        service: frozenset(module_exposition(importlib.import_module(module)) | common)
        for service, module in metrics_modules().items()
    }


def known_series() -> frozenset[str]:
    """Every name a query against LakePulse's Prometheus can find data under."""
    return frozenset().union(*services_exposition().values()) | PROMETHEUS_SERIES


_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_NAME_MATCHER = re.compile(r'__name__\s*=\s*"([^"]+)"')
_TEMPLATE_VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+|\[\[\w+\]\]")
_BRACES = re.compile(r"\{[^}]*\}")
_BRACKETS = re.compile(r"\[[^\]]*\]")
_LABEL_LIST = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NUMBER = r"(?:\d+(?:ms|[smhdwy]))+(?!\w)|0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_TOKEN = re.compile(rf"{_NUMBER}|[A-Za-z_:][\w:]*|\S")
_KEYWORDS = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right"}
    | {"offset", "bool", "atan2", "inf", "nan", "Inf", "NaN"}
)


def promql_metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (Grafana ``$variables`` allowed).

    A lexical reading, enough for the expressions this repository writes: strings, label matchers,
    ranges and label lists are dropped; what remains that is a name not followed by ``(`` (a
    function or an aggregation) and not a keyword is a metric selector.
    """
    names = set(_NAME_MATCHER.findall(expr))
    text = _TEMPLATE_VARIABLE.sub(" ", expr)
    text = _STRING.sub('""', text)
    text = _BRACES.sub(" ", text)
    text = _BRACKETS.sub(" ", text)
    text = _LABEL_LIST.sub(" ", text)
    tokens = [match.group(0) for match in _TOKEN.finditer(text)]
    for index, token in enumerate(tokens):
        if not (token[0].isalpha() or token[0] in "_:") or token in _KEYWORDS:
            continue
        if index + 1 < len(tokens) and tokens[index + 1] == "(":
            continue
        names.add(token)
    return names
