"""The service's Prometheus metrics, defined once per process (prometheus-client's registry is global).

Every label value comes from a small fixed set (route templates, modes, table names, event
categories, normalised field names), never from ids or free text, so the number of series stays
bounded whatever clients send.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine

FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter("http_requests", "HTTP requests answered", ["method", "route", "status"])
HTTP_DURATION = Histogram(
    "http_request_duration_seconds", "HTTP request latency", ["method", "route"], buckets=FAST_BUCKETS
)

SEARCH_DURATION = Histogram("search_duration_seconds", "Workflow search latency", ["mode"], buckets=FAST_BUCKETS)
SEARCH_RESULTS = Histogram(
    "search_results", "Workflows returned per search", ["mode"], buckets=(0, 1, 2, 3, 5, 10, 20, 50, 100)
)

WRITES = Counter("write", "Rows written per table, by outcome (stored, queued, failed)", ["table", "status"])
WRITE_DURATION = Histogram("write_duration_seconds", "Write latency per table", ["table"], buckets=FAST_BUCKETS)
DUALWRITE_SUCCESS = Counter("dualwrite_success", "Remediation audits written to both stores as one unit")
DUALWRITE_FAILURE = Counter("dualwrite_failure", "Remediation audits whose vector write failed", ["reason"])
FALLBACK_MODE = Counter("fallback_mode", "Remediation audits written to PostgreSQL alone, vector pending")
AUDIT_TRACES = Counter(
    "audit_traces", "Audit records by service and outcome (success, failure, dlq_fallback)", ["service", "status"]
)
AUDIT_LAG = Histogram(
    "audit_lag_seconds",
    "From an audit record's own timestamp to its storage",
    ["service"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 60.0, 300.0, 3600.0, 86400.0),
)
# tool: one of the tools app.mcp lists, else "unknown"; outcome: "ok", a problem slug (app.lib.problems)
# or, for an unknown tool, "unknown-tool".
MCP_TOOL_CALLS = Counter("mcp_tool_calls", "MCP tool calls by tool and outcome", ["tool", "outcome"])
MCP_TOOL_DURATION = Histogram("mcp_tool_duration_seconds", "MCP tool call latency", ["tool"], buckets=FAST_BUCKETS)
VALIDATION_FAILURES = Counter("validation_failures", "Rejected request fields", ["field", "reason"])


MetricT = TypeVar("MetricT", Counter, Gauge, Histogram)


@functools.cache
def series(metric: MetricT, *labels: str) -> MetricT:
    """``metric.labels(*labels)``, looked up once: each ``labels()`` call takes a lock and builds its
    key, and the hot paths (every request, every stored audit event) ask for the same few series.
    Only for label values from small fixed sets (methods, route templates, modes, tables)."""
    return metric.labels(*labels)


def _queue_gauge(name: str, documentation: str) -> Gauge:
    # The queue is shared: under `serve --workers` each live worker reports the same figure, shown once.
    return Gauge(name, documentation, ["stream"], multiprocess_mode="livemax")


DLQ_DEPTH = _queue_gauge("dlq_depth", "Records waiting in the dead letter queue")
DLQ_CAPACITY_RATIO = _queue_gauge("dlq_capacity_ratio", "Dead letter queue depth over its maximum length")
DLQ_WARNING = _queue_gauge("dlq_warning", "1 while the dead letter queue is at least 80% full")
DLQ_CRITICAL = _queue_gauge("dlq_critical", "1 while the dead letter queue is at least 90% full")
DLQ_OVERFLOW_IMMINENT = _queue_gauge("dlq_overflow_imminent", "1 while the dead letter queue is at least 95% full")
DLQ_DEAD_LETTERS = _queue_gauge("dlq_dead_letters", "Records whose retries are exhausted, awaiting an operator")

_LEADING_INDEX = re.compile(r"^\[\d+\]\.?")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.*]")
# Field and parameter names of the routes (app.http.body_checks adds them); "body" names the whole body.
_KNOWN_NAMES: set[str] = {"body"}
_REASONS = (
    ("missing", ("required", "missing")),
    ("length", ("length", "characters", "larger than", "at most")),
    ("range", (">=", "<=", "in the future", "in the past", "between")),
    ("type", ("expected `",)),
    ("choice", ("one of", "invalid enum", "must be")),
    ("unknown", ("names no", "unknown", "not found")),
)


def register_field_names(names: Iterable[str]) -> None:
    """Record names the API's own schemas and parameters define: only these become label text."""
    _KNOWN_NAMES.update(names)


def field_label(field: str) -> str:
    """``[3].event_type`` -> ``event_type``; ``filters.custom_labels["team"]`` -> ``filters.custom_labels``;
    ``event_data.anykey`` -> ``event_data.*``: no indexes, no client-chosen keys, so a bounded set of series."""
    name = _LEADING_INDEX.sub("", field).split("[", 1)[0]
    segments = [s if s in _KNOWN_NAMES else "*" for s in name.split(".")[:2]]
    return _UNSAFE.sub("", ".".join(segments))[:64] or "body"


def failure_reason(message: str) -> str:
    lowered = message.lower()
    return next((reason for reason, words in _REASONS if any(word in lowered for word in words)), "invalid")


class PoolCollector(Collector):
    """Database pool gauges read at scrape time: configured size, connections in use, waiters."""

    def __init__(self) -> None:
        self.engines: list[AsyncEngine] = []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        size = GaugeMetricFamily("db_pool_size", "Connections the pool keeps")
        in_use = GaugeMetricFamily("db_pool_in_use", "Connections checked out")
        waiting = GaugeMetricFamily("db_pool_waiting", "Callers waiting for a connection")
        for engine in self.engines[-1:]:  # the live app's engine
            pool: Any = engine.pool
            size.add_metric([], pool.size())
            in_use.add_metric([], pool.checkedout())
            # The async pool's queue keeps its waiters as asyncio.Queue getters (private, so guarded).
            getters = getattr(getattr(getattr(pool, "_pool", None), "_queue", None), "_getters", ())
            waiting.add_metric([], sum(not getter.done() for getter in getters))
        yield from (size, in_use, waiting)


POOL = PoolCollector()
REGISTRY.register(POOL)
