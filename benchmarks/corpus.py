"""Deterministic benchmark data: incident descriptions, workflows and ADR-034 audit events.

Standard library only, so that any load driver (the figure modules, Locust) can import it.
Every generator is a pure function of its index (and, for audit events, of ``now``), so two
runs send the same bytes and a result can be reproduced.

Incident texts are all distinct for indices below ``INCIDENT_TEXTS`` (the index is read as a
mixed-radix number whose digits pick the parts), so an embedding cache keyed by text never
hits while a driver keeps increasing the index.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

_WORKLOADS = (
    "payments-api", "checkout", "inventory-service", "search-indexer", "auth-gateway", "billing-worker",
    "notification-relay", "recommendation-engine", "order-processor", "media-transcoder", "ledger-sync",
    "session-store", "pricing-service", "shipping-tracker", "report-builder", "feature-flags", "cart-api",
)  # fmt: skip
_NAMESPACES = (
    "prod", "payments", "storefront", "data-platform", "identity", "internal-tools", "edge", "batch",
    "observability", "ml-serving", "customer-portal", "finance",
)  # fmt: skip
_SYMPTOMS = (
    "was killed because it used too much memory",
    "keeps restarting and ends up in CrashLoopBackOff",
    "cannot pull its container image from the registry",
    "answers with 5xx errors for a growing share of requests",
    "shows p99 latency ten times higher than usual",
    "is stuck pending because no node has enough CPU",
    "lost its persistent volume and cannot start",
    "fills its disk with logs until the node reports DiskPressure",
    "fails readiness probes after every deployment",
    "runs at full CPU throttling and drops requests",
    "cannot reach its database and times out on every call",
    "serves an expired TLS certificate to clients",
    "leaks file descriptors until it hits the ulimit",
    "has replicas that fall further behind the primary every minute",
    "is evicted repeatedly from nodes under memory pressure",
    "returns stale data because its cache never refreshes",
    "deadlocks under load and stops answering health checks",
    "cannot resolve DNS names of other services in the cluster",
    "is rejected by the admission webhook on every rollout",
    "loses messages because its queue consumer lags behind",
)
_TRIGGERS = (
    "right after the last rollout",
    "since the traffic spike this morning",
    "after the node pool was upgraded",
    "when the nightly batch job starts",
    "after a configuration change in the helm values",
    "since the certificate rotation",
    "following a failover of the primary database",
    "after the autoscaler removed two nodes",
    "once the memory limit was lowered",
    "after a dependency bumped its major version",
    "during the end-of-month billing run",
    "since the network policy was tightened",
    "after the cluster moved to a new region",
    "while a backup was running",
    "since the service mesh sidecar was injected",
)
_DETAILS = (
    "Other replicas look healthy.",
    "The alert fired three times in the last hour.",
    "Rolling back did not help.",
    "Only pods on one node are affected.",
    "The on-call engineer suspects a memory leak.",
    "Logs show connection refused errors.",
    "Customers report failed checkouts.",
    "The HPA is already at its maximum replica count.",
    "GitOps keeps reverting manual fixes.",
    "The incident started without any deployment.",
    "Error budget for the month is nearly spent.",
)
# Mixed radix: the product bounds how many distinct texts exist.
_PARTS = (_WORKLOADS, _NAMESPACES, _SYMPTOMS, _TRIGGERS, _DETAILS)
INCIDENT_TEXTS = len(_WORKLOADS) * len(_NAMESPACES) * len(_SYMPTOMS) * len(_TRIGGERS) * len(_DETAILS)


def incident_text(index: int) -> str:
    """A distinct incident description for each ``index`` in ``0 .. INCIDENT_TEXTS - 1``."""
    if not 0 <= index < INCIDENT_TEXTS:
        raise ValueError(f"index {index} outside 0..{INCIDENT_TEXTS - 1}")
    choice: list[str] = []
    rest = index
    for part in _PARTS:
        rest, digit = divmod(rest, len(part))
        choice.append(part[digit])
    workload, namespace, symptom, trigger, detail = choice
    return f"The {workload} deployment in namespace {namespace} {symptom} {trigger}. {detail}"


SIGNAL_TYPES = (
    "OOMKilled", "CrashLoopBackOff", "ImagePullBackOff", "NodeNotReady", "HighCPUUsage", "HighLatency",
    "ErrorRateHigh", "DiskPressure", "PVCFull", "CertificateExpiring", "ReplicaLagHigh", "PodEvicted",
)  # fmt: skip
_SEVERITIES = ("critical", "high", "medium", "low", "*")
_COMPONENTS = ("pod", "deployment", "node", "statefulset", "service", "*")
_ENVIRONMENTS = ("production", "staging", "development", "*")
_PRIORITIES = ("P0", "P1", "P2", "P3", "*")
_ACTIONS = (
    "Raise the memory limit of", "Restart", "Roll back", "Scale out", "Drain and cordon the node of",
    "Rotate the certificate of", "Clear the cache of", "Expand the volume of", "Re-point the registry of",
    "Fail over the database of", "Throttle the batch jobs of", "Recreate the sidecar of",
)  # fmt: skip


def _pick(values: tuple[str, ...], index: int, stride: int) -> str:
    return values[(index // stride) % len(values)]


def workflow_labels(index: int) -> dict[str, str]:
    """The five mandatory labels of workflow ``index``; a search with them always finds it."""
    return {
        "signal_type": SIGNAL_TYPES[index % len(SIGNAL_TYPES)],
        "severity": _pick(_SEVERITIES, index, 3),
        "component": _pick(_COMPONENTS, index, 7),
        "environment": _pick(_ENVIRONMENTS, index, 11),
        "priority": _pick(_PRIORITIES, index, 13),
    }


def workflow_body(index: int, prefix: str = "bench") -> dict[str, Any]:
    """A valid ``POST /api/v1/workflows`` body with a unique name and its own description."""
    labels = workflow_labels(index)
    action = _ACTIONS[index % len(_ACTIONS)]
    workload = _WORKLOADS[(index // len(_ACTIONS)) % len(_WORKLOADS)]
    content = f"apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata:\n  generateName: {prefix}-{index}-\n"
    return {
        "workflow_name": f"{prefix}-{index:06d}",
        "version": "v1.0.0",
        "name": f"{action} {workload} ({labels['signal_type']})",
        "description": f"Remediates: {incident_text((index * 7919) % INCIDENT_TEXTS)}",
        "content": content,
        "content_hash": hashlib.sha256(content.encode()).hexdigest(),
        "labels": labels,
        "execution_engine": "argo-workflows",
        "owner": "platform-team",
    }


def search_filters(index: int) -> dict[str, str]:
    """Concrete (never ``*``) filters drawn like the catalog's labels, so most searches have candidates."""
    labels = workflow_labels(index)
    concrete = {"severity": "critical", "component": "pod", "environment": "production", "priority": "P1"}
    return {key: concrete[key] if value == "*" else value for key, value in labels.items()}


# The 27 ADR-034 event types of the kubernaut services (tests/integration/audit/test_audit_events.py)
# and the event_category each service writes them under.
ADR_034_EVENT_TYPES = (
    "gateway.signal.received", "gateway.signal.deduplicated", "gateway.storm.detected", "gateway.crd.created",
    "gateway.signal.rejected", "gateway.error.occurred", "signalprocessing.enrichment.started",
    "signalprocessing.enrichment.completed", "signalprocessing.categorization.completed",
    "signalprocessing.error.occurred", "analysis.investigation.started", "analysis.investigation.completed",
    "analysis.recommendation.generated", "analysis.approval.required", "analysis.error.occurred",
    "workflow.catalog.search_completed", "remediationorchestrator.request.created",
    "remediationorchestrator.phase.transitioned", "remediationorchestrator.approval.requested",
    "remediationorchestrator.child.created", "remediationorchestrator.error.occurred",
    "effectivenessmonitor.evaluation.started", "effectivenessmonitor.evaluation.completed",
    "effectivenessmonitor.playbook.updated", "notification.sent", "notification.failed", "notification.escalated",
)  # fmt: skip
CATEGORY_BY_SERVICE = {
    "gateway": "gateway", "signalprocessing": "signalprocessing", "analysis": "analysis", "workflow": "workflow",
    "remediationorchestrator": "orchestration", "effectivenessmonitor": "effectiveness",
    "notification": "notification",
}  # fmt: skip
_OUTCOMES = ("success", "success", "success", "failure", "pending")
_AUDIT_SEVERITIES = ("critical", "high", "medium", "low", "info")


def audit_event(index: int, now: datetime) -> dict[str, Any]:
    """A valid ADR-034 ``AuditEventRequest``; cycles through all 27 event types.

    Timestamps lie in the hour before ``now`` (the service refuses events over 7 days old or
    more than 5 minutes ahead). ``event_data`` is a small nested object like the services send.
    """
    event_type = ADR_034_EVENT_TYPES[index % len(ADR_034_EVENT_TYPES)]
    service = event_type.split(".", maxsplit=1)[0]
    outcome = _OUTCOMES[index % len(_OUTCOMES)]
    incident = index // len(ADR_034_EVENT_TYPES)  # one remediation's events share a correlation id
    workload = _WORKLOADS[incident % len(_WORKLOADS)]
    namespace = _NAMESPACES[incident % len(_NAMESPACES)]
    event_data: dict[str, Any] = {
        "fingerprint": hashlib.sha256(f"incident-{incident}".encode()).hexdigest()[:16],
        "signal": {"type": SIGNAL_TYPES[incident % len(SIGNAL_TYPES)], "resource": f"deployment/{workload}"},
        "attempt": index % 3 + 1,
    }
    if outcome == "failure":
        event_data["error"] = {"code": "E" + str(500 + index % 7), "message": f"{workload} did not recover"}
    return {
        "version": "1.0",
        "event_type": event_type,
        "event_timestamp": (now - timedelta(seconds=index % 3600, microseconds=index % 1000)).isoformat(),
        "event_category": CATEGORY_BY_SERVICE[service],
        "event_action": event_type.rsplit(".", maxsplit=1)[-1],
        "event_outcome": outcome,
        "correlation_id": f"rr-bench-{incident:07d}",
        "event_data": event_data,
        "actor_type": "service",
        "actor_id": f"{service}-service",
        "resource_type": "deployment",
        "resource_id": workload,
        "namespace": namespace,
        "cluster_name": "bench-cluster",
        "severity": _AUDIT_SEVERITIES[incident % len(_AUDIT_SEVERITIES)],
        "duration_ms": (index * 37) % 5000,
    }
