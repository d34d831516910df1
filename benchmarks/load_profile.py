"""What the Locust profile (locustfile.py) sends: incidents, ADR-034 audit events, workflows.

Data only, with no Locust import, so that it can be read without gevent patching the process.
The incidents are written for the demo catalog (``workflow-search seed --demo``), so every search
has at least one match; every payload is one the API accepts.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.corpus import ADR_034_EVENT_TYPES, CATEGORY_BY_SERVICE

SEARCH_COMPLETED = "workflow.catalog.search_completed"


def utc_now() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------------------------------------
# Incident corpus: what an agent knows when it asks for a workflow.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Incident:
    signal_type: str
    severity: str
    component: str
    environment: str
    priority: str
    detected_labels: dict[str, Any]
    descriptions: tuple[str, ...]  # how an agent would describe it in words
    namespace: str
    resource: str

    def filters(self, *, with_detected: bool) -> dict[str, Any]:
        filters: dict[str, Any] = {
            "signal_type": self.signal_type,
            "severity": self.severity,
            "component": self.component,
            "environment": self.environment,
            "priority": self.priority,
        }
        if with_detected:
            filters["detected_labels"] = self.detected_labels
        return filters


# Each incident's five labels match at least one workflow of app/cli/demo.py.
INCIDENTS: tuple[Incident, ...] = (
    Incident("OOMKilled", "critical", "pod", "production", "P0", {"gitOpsManaged": True, "gitOpsTool": "argocd"}, (
        "payments-api container was OOMKilled three times in ten minutes, memory limit 512Mi",
        "my app was killed because it used too much RAM",
        "checkout pods restarting with exit code 137 after a traffic spike, kernel out of memory killer",
    ), "payments", "pod/payments-api-7d9f8b6c5-x2k4q"),
    Incident("OOMKilled", "high", "pod", "staging", "P1", {"helmManaged": True}, (
        "staging search-indexer pod exceeded its memory limit while rebuilding the index",
        "java heap grows until the container is killed, OOMKilled in staging",
    ), "search", "pod/search-indexer-0"),
    Incident("OOMKilled", "low", "pod", "development", "P3", {"gitOpsManaged": False}, (
        "a developer's notebook pod ran out of memory loading a large dataset",
    ), "dev-sandbox", "pod/notebook-alice"),
    Incident("OOMKilled", "critical", "statefulset", "production", "P0", {"stateful": True, "pdbProtected": True}, (
        "postgres replica in the orders statefulset killed for exceeding memory during vacuum",
        "kafka broker statefulset pods OOMKilled one after another, partitions under-replicated",
    ), "orders", "statefulset/orders-db"),
    Incident("OOMKilled", "high", "statefulset", "staging", "P1", {"stateful": True}, (
        "redis statefulset in staging hits maxmemory and the container is OOM killed",
    ), "cache", "statefulset/redis"),
    Incident("CrashLoopBackOff", "high", "deployment", "production", "P1", {"helmManaged": True}, (
        "new release of the billing deployment crash loops on start with a missing config key",
        "pods of the latest rollout keep crashing right after the deploy, previous version was fine",
    ), "billing", "deployment/billing-worker"),
    Incident("CrashLoopBackOff", "medium", "pod", "staging", "P2", {"gitOpsManaged": True, "gitOpsTool": "flux"}, (
        "notification-sender pod in back-off restarting, liveness probe fails after 30 seconds",
        "container exits with code 1 immediately, cannot connect to the message queue",
    ), "notify", "pod/notification-sender-5c7d9"),
    Incident("CrashLoopBackOff", "critical", "pod", "production", "P0", {"serviceMesh": "istio"}, (
        "auth gateway pod crash looping, every login request fails with 503",
    ), "auth", "pod/auth-gateway-66b8d"),
    Incident("ImagePullBackOff", "medium", "pod", "production", "P2", {"gitOpsManaged": True, "gitOpsTool": "argocd"}, (
        "pods stuck in ImagePullBackOff, registry answers 401 unauthorized for the private image",
        "image pull secret expired, new pods cannot pull from the company registry",
    ), "frontend", "pod/web-frontend-84f7c"),
    Incident("ImagePullBackOff", "medium", "pod", "staging", "P2", {}, (
        "ErrImagePull on staging deploy, manifest unknown for tag v2.3.1",
    ), "frontend", "pod/web-frontend-staging-1"),
    Incident("NodeNotReady", "critical", "node", "production", "P0", {"pdbProtected": True}, (
        "worker node ip-10-0-3-17 NotReady for five minutes, kubelet stopped posting status",
        "node lost contact with the control plane after a kernel panic, pods stuck terminating",
    ), "kube-system", "node/ip-10-0-3-17"),
    Incident("DiskPressure", "high", "node", "production", "P1", {}, (
        "node reports DiskPressure, image filesystem 92% full, pods being evicted",
        "kubelet evicting pods because the root disk is almost out of space from container logs",
    ), "kube-system", "node/ip-10-0-5-42"),
    Incident("DiskPressure", "medium", "node", "staging", "P2", {}, (
        "staging node running low on ephemeral storage, old images never garbage collected",
    ), "kube-system", "node/staging-pool-b-3"),
    Incident("PVCNearlyFull", "high", "persistentvolumeclaim", "production", "P1", {"stateful": True}, (
        "persistent volume of the elasticsearch data node is 95% full and still growing",
        "prometheus storage volume almost full, retention cannot keep up with ingestion",
    ), "observability", "persistentvolumeclaim/data-es-0"),
    Incident("HighLatency", "medium", "deployment", "production", "P2", {"hpaEnabled": True, "serviceMesh": "istio"}, (
        "p99 latency of the catalog API above 2 seconds for 15 minutes, CPU saturated",
        "requests slow during the evening peak, autoscaler already at max replicas",
    ), "catalog", "deployment/catalog-api"),
    Incident("CertificateExpiring", "high", "ingress", "production", "P1",
             {"gitOpsManaged": True, "gitOpsTool": "argocd"}, (
        "TLS certificate of the public ingress expires in 48 hours, renewal did not happen",
        "cert-manager certificate not ready, ACME challenge failing for api.example.com",
    ), "ingress-nginx", "ingress/public-api"),
    Incident("CertificateExpiring", "high", "secret", "staging", "P1", {}, (
        "webhook serving certificate in staging expires tomorrow",
    ), "webhooks", "secret/webhook-tls"),
    Incident("NetworkPolicyMissing", "high", "namespace", "production", "P1",
             {"networkIsolated": True, "gitOpsManaged": True, "gitOpsTool": "flux"}, (
        "default deny network policy was deleted from the payments namespace, traffic no longer isolated",
        "namespace lost its NetworkPolicy after a manual kubectl apply, audit flagged open ingress",
    ), "payments", "namespace/payments"),
)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# ADR-034 audit events: the 27 event types and a realistic payload for each.
# ---------------------------------------------------------------------------------------------

ACTOR_BY_SERVICE = {
    "gateway": "gateway-service", "signalprocessing": "signal-processing-controller",
    "analysis": "holmesgpt-api", "workflow": "workflow-search",
    "remediationorchestrator": "remediation-orchestrator", "effectivenessmonitor": "effectiveness-monitor",
    "notification": "notification-controller",
}  # fmt: skip
FAILURE_TYPES = frozenset(
    {"gateway.signal.rejected", "notification.failed"}
    | {t for t in ADR_034_EVENT_TYPES if t.endswith(".error.occurred")}
)
PENDING_TYPES = frozenset(
    {t for t in ADR_034_EVENT_TYPES if t.endswith(".started")}
    | {"analysis.approval.required", "remediationorchestrator.approval.requested", "notification.escalated"}
)

# Remediation trails in the order the services emit them; a batch is one such trail.
TRAILS: tuple[tuple[str, ...], ...] = (
    # The signal is handled end to end and the workflow works.
    ("gateway.signal.received", "gateway.crd.created", "signalprocessing.enrichment.started",
     "signalprocessing.enrichment.completed", "signalprocessing.categorization.completed",
     "remediationorchestrator.request.created", "analysis.investigation.started", SEARCH_COMPLETED,
     "analysis.investigation.completed", "analysis.recommendation.generated",
     "remediationorchestrator.child.created", "remediationorchestrator.phase.transitioned",
     "effectivenessmonitor.evaluation.started", "effectivenessmonitor.evaluation.completed",
     "notification.sent"),
    # A duplicate and a rejected signal.
    ("gateway.signal.received", "gateway.signal.deduplicated", "gateway.signal.rejected"),
    # Analysis needs a human; the page escalates.
    ("gateway.signal.received", "gateway.storm.detected", "gateway.crd.created",
     "remediationorchestrator.request.created", "analysis.investigation.started", "analysis.approval.required",
     "remediationorchestrator.approval.requested", "notification.failed", "notification.escalated"),
    # Things break along the way; the playbook learns from it.
    ("gateway.error.occurred", "signalprocessing.enrichment.started", "signalprocessing.error.occurred",
     "analysis.error.occurred", "remediationorchestrator.error.occurred",
     "effectivenessmonitor.playbook.updated"),
    # Every type once (each writer also starts with this one).
    ADR_034_EVENT_TYPES,
)  # fmt: skip


def _gateway_data(action: str, incident: Incident, rng: random.Random) -> dict[str, Any]:
    return {
        "fingerprint": f"fp-{rng.getrandbits(48):012x}",
        "alert": {"name": f"Kube{incident.signal_type}", "labels": {"namespace": incident.namespace,
                  "severity": incident.severity}, "source": "prometheus"},
        "signal_type": incident.signal_type,
        "resource": incident.resource,
        "occurrences": rng.randint(1, 40) if action in {"deduplicated", "detected"} else 1,
        **({"reason": "namespace not managed by kubernaut"} if action == "rejected" else {}),
        **({"error": "upstream alertmanager webhook timed out"} if action == "occurred" else {}),
    }  # fmt: skip


def _signalprocessing_data(action: str, incident: Incident, rng: random.Random) -> dict[str, Any]:
    return {
        "resource": incident.resource,
        "owner_chain": [incident.resource, f"replicaset/{incident.namespace}-{rng.randint(100, 999)}"],
        "detected_labels": incident.detected_labels,
        "environment": incident.environment,
        "priority": incident.priority,
        **({"business_category": "revenue-critical"} if action == "completed" else {}),
        **({"error": "owner lookup failed: deployments.apps forbidden"} if action == "occurred" else {}),
    }


def _analysis_data(action: str, incident: Incident, rng: random.Random) -> dict[str, Any]:
    return {
        "investigation_id": f"inv-{rng.getrandbits(32):08x}",
        "signal_type": incident.signal_type,
        "root_cause": incident.descriptions[0],
        "confidence": round(rng.uniform(0.55, 0.98), 2),
        "llm": {"provider": "vertex", "model": "claude-sonnet", "tokens": rng.randint(800, 12000)},
        **({"recommended_workflow": "oomkill-increase-memory"} if action == "generated" else {}),
        **({"approval_reason": "confidence below 0.8 for a P0 production change"} if action == "required" else {}),
        **({"error": "LLM request timed out after 60s"} if action == "occurred" else {}),
    }


def _workflow_data(action: str, incident: Incident, rng: random.Random) -> dict[str, Any]:
    return {
        "mode": "hybrid",
        "query": incident.descriptions[0],
        "filters": incident.filters(with_detected=True),
        "top_k": 5,
        "total_results": rng.randint(1, 3),
        "results": [{"workflow_id": str(uuid.UUID(int=rng.getrandbits(128))), "rank": 1, "final_score": 0.81}],
        "duration_ms": rng.randint(3, 40),
    }


def _orchestrator_data(action: str, incident: Incident, rng: random.Random) -> dict[str, Any]:
    phases = ["Pending", "Processing", "Analyzing", "AwaitingApproval", "Executing", "Completed"]
    step = rng.randint(0, len(phases) - 2)
    return {
        "remediation_request": f"rr-{incident.namespace}-{rng.getrandbits(24):06x}",
        "from_phase": phases[step],
        "to_phase": phases[step + 1],
        **({"child_kind": "WorkflowExecution", "child_name": f"wfe-{rng.getrandbits(24):06x}"}
           if action == "created" else {}),
        **({"error": "child WorkflowExecution failed validation"} if action == "occurred" else {}),
    }  # fmt: skip


def _effectiveness_data(action: str, incident: Incident, rng: random.Random) -> dict[str, Any]:
    return {
        "workflow_name": "oomkill-increase-memory",
        "signal_type": incident.signal_type,
        "evaluation_window_seconds": 600,
        "effectiveness_score": round(rng.uniform(0.3, 1.0), 2) if action == "completed" else None,
        "signal_recurred": rng.random() < 0.2,
        **({"playbook_change": {"confidence_delta": -0.05}} if action == "updated" else {}),
    }


def _notification_data(action: str, incident: Incident, rng: random.Random) -> dict[str, Any]:
    return {
        "channel": rng.choice(["slack", "email", "pagerduty"]),
        "recipient": f"oncall-{incident.namespace}@example.com",
        "subject": f"{incident.signal_type} on {incident.resource}",
        "escalation_level": 1 if action == "escalated" else 0,
        **({"error": "pagerduty API answered 503"} if action == "failed" else {}),
    }


DATA_BY_SERVICE: dict[str, Callable[[str, Incident, random.Random], dict[str, Any]]] = {
    "gateway": _gateway_data,
    "signalprocessing": _signalprocessing_data,
    "analysis": _analysis_data,
    "workflow": _workflow_data,
    "remediationorchestrator": _orchestrator_data,
    "effectivenessmonitor": _effectiveness_data,
    "notification": _notification_data,
}


def audit_event(event_type: str, correlation_id: str, incident: Incident, rng: random.Random) -> dict[str, Any]:
    """A valid ADR-034 ``AuditEventRequest`` of ``event_type`` from the last few seconds."""
    service, action = event_type.split(".", maxsplit=1)[0], event_type.rsplit(".", maxsplit=1)[-1]
    outcome = "failure" if event_type in FAILURE_TYPES else "pending" if event_type in PENDING_TYPES else "success"
    return {
        "version": "1.0",
        "event_type": event_type,
        # A little in the past: the service refuses events more than 5 minutes ahead of its clock.
        "event_timestamp": (utc_now() - timedelta(milliseconds=rng.randint(0, 5000))).isoformat(),
        "event_category": CATEGORY_BY_SERVICE[service],
        "event_action": action,
        "event_outcome": outcome,
        "correlation_id": correlation_id,
        "event_data": DATA_BY_SERVICE[service](action, incident, rng),
        "actor_type": "service",
        "actor_id": ACTOR_BY_SERVICE[service],
        "resource_type": incident.component,
        "resource_id": incident.resource,
        "namespace": incident.namespace,
        "cluster_name": "prod-eu-1" if incident.environment == "production" else "nonprod-eu-1",
        "severity": incident.severity,
        "duration_ms": rng.randint(1, 2500),
    }


# ---------------------------------------------------------------------------------------------
# Workflows an operator publishes: (purpose, description, labels, detected labels).
# ---------------------------------------------------------------------------------------------

PUBLISHED: tuple[tuple[str, str, dict[str, Any], dict[str, Any]], ...] = (
    ("restart-oomkilled-canary", "Restarts one OOMKilled pod as a canary and watches its memory for ten minutes.",
     {"signal_type": "OOMKilled", "severity": ["critical", "high"], "component": "pod", "environment": "production",
      "priority": ["P0", "P1"]}, {"gitOpsManaged": True, "gitOpsTool": "argocd"}),
    ("rollback-helm-release", "Rolls the Helm release back to its last good revision when pods crash in a loop.",
     {"signal_type": "CrashLoopBackOff", "severity": "high", "component": "deployment", "environment": "*",
      "priority": "P1"}, {"helmManaged": True}),
    ("evict-and-prune-node", "Evicts best-effort pods and prunes the image cache on a node under disk pressure.",
     {"signal_type": "DiskPressure", "severity": "*", "component": "node", "environment": "*", "priority": "*"}, {}),
    ("expand-volume-online", "Expands a persistent volume online and resizes the filesystem without a restart.",
     {"signal_type": "PVCNearlyFull", "severity": "high", "component": "persistentvolumeclaim",
      "environment": "production", "priority": "P1"}, {"stateful": True}),
)  # fmt: skip


def workflow_body(name: str, version: str, purpose: tuple[str, str, dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
    kind, description, labels, detected = purpose
    content = (
        "apiVersion: tekton.dev/v1\nkind: Pipeline\n"
        f"metadata:\n  name: {name}\n  labels:\n    kubernaut.ai/version: {version}\n"
        f"spec:\n  tasks:\n    - name: {kind}\n      taskRef:\n        name: {kind}\n"
    )
    body: dict[str, Any] = {
        "workflow_name": name,
        "version": version,
        "name": f"{kind.replace('-', ' ').capitalize()} ({version})",
        "description": description,
        "content": content,
        "content_hash": hashlib.sha256(content.encode()).hexdigest(),
        "labels": labels,
        "execution_engine": "tekton",
        "owner": "platform-team",
        "maintainer": "platform@example.com",
        "container_image": f"ghcr.io/kubernaut/workflows/{kind}:{version}",
        "detected_labels": detected,
        "custom_labels": {"team": ["platform"]},
        "created_by": "load-test",
    }
    if version != "v1.0.0":
        body |= {"previous_version": "v1.0.0", "version_notes": "waits for readiness before the next step"}
    return body
