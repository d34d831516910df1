"""The service's Prometheus metrics, defined once per process (prometheus-client's registry is global)."""

from __future__ import annotations

from prometheus_client import Gauge

DLQ_DEPTH = Gauge("dlq_depth", "Records waiting in the dead letter queue", ["stream"])
DLQ_CAPACITY_RATIO = Gauge("dlq_capacity_ratio", "Dead letter queue depth over its maximum length", ["stream"])
DLQ_WARNING = Gauge("dlq_warning", "1 while the dead letter queue is at least 80% full", ["stream"])
DLQ_CRITICAL = Gauge("dlq_critical", "1 while the dead letter queue is at least 90% full", ["stream"])
DLQ_OVERFLOW_IMMINENT = Gauge("dlq_overflow_imminent", "1 while the dead letter queue is at least 95% full", ["stream"])
DLQ_DEAD_LETTERS = Gauge("dlq_dead_letters", "Records whose retries are exhausted, awaiting an operator", ["stream"])
