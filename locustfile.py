"""Locust load profile: the traffic a kubernaut deployment sends to workflow-search.

Three kinds of clients, all ``FastHttpUser``:

- ``AgentUser`` (most users): an AI agent investigating an incident. It asks for the
  remediation workflow by labels alone or by its own description of the incident plus the labels
  and detected facts (hybrid search), then checks the ``workflow.catalog.search_completed`` event
  the search left in the audit trail (queried by the search's ``remediation_id``).
- ``AuditWriter``: the kubernaut services writing their ADR-034 audit trail: single events and
  whole remediation trails as batches, covering all 27 ADR-034 event types, plus notification
  delivery audits.
- ``CatalogAdmin`` (rare): an operator publishing a workflow in two versions, listing it, and
  disabling it again. Names are unique per run, so the profile can run repeatedly against the
  same database and leaves no active workflow behind.

The incidents are written for the demo catalog (``workflow-search seed --demo``, which ``make run``
loads), so every search has at least one match. Every response is checked: a non-2xx status or a
body that breaks the API's promises is a failure. Request names (``name=``) group the stats table.

Run it:

    make load                        # starts its own service, 60 s headless, fails on any failure
    make load LOAD_SECONDS=300
    .venv/bin/python -m benchmarks.load_run --with-token      # the service checks tokens
    make soak SOAK_SECONDS=600       # fixed request rate, per-minute RSS and latency record

or against a service you started yourself (``make run``):

    .venv/bin/locust -f locustfile.py --headless -u 12 -r 4 -t 60s --host http://127.0.0.1:8080
    .venv/bin/locust -f locustfile.py            # web UI on http://localhost:8089

With access tokens configured (docs/security.md), set ``WORKFLOW_SEARCH_LOAD_TOKEN`` to a token
with the ``admin`` scope (the profile searches, reads and writes); by default none is sent.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import random
import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import gevent
from locust import FastHttpUser, between, events, task
from locust.contrib.fasthttp import ResponseContextManager
from locust.env import Environment

DEFAULT_HOST = "http://127.0.0.1:8080"
TOKEN_ENV = "WORKFLOW_SEARCH_LOAD_TOKEN"  # noqa: S105 - the variable's name, not a token
STATS_FILE_ENV = "WORKFLOW_SEARCH_LOAD_STATS_FILE"

SEARCH = "/api/v1/workflows/search"
WORKFLOWS = "/api/v1/workflows"
EVENTS = "/api/v1/audit/events"
EVENTS_BATCH = "/api/v1/audit/events/batch"
NOTIFICATIONS = "/api/v1/audit/notifications"
SEARCH_COMPLETED = "workflow.catalog.search_completed"

# Unique per process: CatalogAdmin names and notification ids never collide with earlier runs.
RUN_ID = f"{datetime.now(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(3)}"

# Search self-audits are written in the background (buffered, flushed every 0.2 s), so the agent
# looks for its event after a pause and, under load, polls a little before calling it missing.
SELF_AUDIT_ATTEMPTS = 6
SELF_AUDIT_POLL_SECONDS = 1.0


def auth_headers() -> dict[str, str]:
    token = os.environ.get(TOKEN_ENV, "").strip()
    return {"Authorization": f"Bearer {token}"} if token else {}


def utc_now() -> datetime:
    return datetime.now(UTC)


@events.quitting.add_listener
def save_final_counts(environment: Environment, **_kwargs: Any) -> None:
    """Requests and failures per request group, once every user has stopped, to the file named by
    ``WORKFLOW_SEARCH_LOAD_STATS_FILE`` (for benchmarks/load_run.py: Locust's CSV lags by up to a second)."""
    path = os.environ.get(STATS_FILE_ENV)
    if not path or environment.stats is None:
        return
    counts = [
        {"name": entry.name, "method": entry.method, "requests": entry.num_requests, "failures": entry.num_failures}
        for entry in environment.stats.entries.values()
    ]
    Path(path).write_text(json.dumps(counts, indent=1))


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


# Each incident's five labels match at least one workflow of app/demo.py.
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

ADR_034_EVENT_TYPES: tuple[str, ...] = (
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

# The emitting service (first part of the type) decides the ADR-034 category.
CATEGORY_BY_SERVICE = {
    "gateway": "gateway", "signalprocessing": "signalprocessing", "analysis": "analysis", "workflow": "workflow",
    "remediationorchestrator": "orchestration", "effectivenessmonitor": "effectiveness",
    "notification": "notification",
}  # fmt: skip
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
# Response checks
# ---------------------------------------------------------------------------------------------


class UnexpectedBody(Exception):
    """The status was right but the body breaks the API's promise."""


def checked_json(response: ResponseContextManager, statuses: tuple[int, ...], check: Callable[[Any], None]) -> Any:
    """The response's JSON when its status is one of ``statuses`` and ``check`` accepts it; else
    the response is marked failed (with a reason that says what) and None is returned."""
    if response.status_code not in statuses:
        text = (response.text or "")[:300] if response.status_code else str(response.error)
        response.failure(f"HTTP {response.status_code}, expected {'/'.join(map(str, statuses))}: {text}")
        return None
    try:
        body = response.json()
        check(body)
    except (ValueError, KeyError, TypeError, IndexError, UnexpectedBody) as error:
        response.failure(f"unexpected body ({type(error).__name__}: {error}): {(response.text or '')[:300]}")
        return None
    response.success()
    return body


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise UnexpectedBody(message)


def is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Users
# ---------------------------------------------------------------------------------------------


class ServiceUser(FastHttpUser):
    """What every client shares: the host, the token, and a reproducible random stream per user."""

    abstract = True
    host = DEFAULT_HOST
    network_timeout = 30.0
    connection_timeout = 10.0
    # Steady-pacing rate for `make soak` (tasks per second per user), near this class's
    # natural rate under its think time: the soak's mix then matches the load profile.
    paced_tasks_per_second: ClassVar[float] = 0.5
    _serial: ClassVar[Iterator[int]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._serial = itertools.count(1)

    def __init__(self, environment: Any) -> None:
        self.default_headers = auth_headers() or None
        super().__init__(environment)
        self.serial = next(type(self)._serial)
        # Seeded by class and serial: user n of a class draws the same incidents on every run.
        self.rng = random.Random(f"{type(self).__name__}-{self.serial}")  # noqa: S311 - test data, not secrets


class AgentUser(ServiceUser):
    """An AI agent asking which workflow fits an incident, then checking the search was audited."""

    weight = 8
    wait_time = between(1.0, 3.0)
    paced_tasks_per_second = 0.5

    @task(2)
    def label_search(self) -> None:
        self.investigate(hybrid=False)

    @task(3)
    def hybrid_search(self) -> None:
        self.investigate(hybrid=True)

    def investigate(self, *, hybrid: bool) -> None:
        incident = self.rng.choice(INCIDENTS)
        remediation_id = f"rr-load-{RUN_ID}-{self.serial}-{uuid.UUID(int=self.rng.getrandbits(128)).hex[:12]}"
        body: dict[str, Any] = {
            "remediation_id": remediation_id,
            "filters": incident.filters(with_detected=hybrid or self.rng.random() < 0.5),
            "top_k": 5,
        }
        mode = "label"
        if hybrid:
            body["query"] = self.rng.choice(incident.descriptions)
            mode = "hybrid"

        def check_results(answer: dict[str, Any]) -> None:
            results = answer["workflows"]
            expect(answer["total_results"] >= 1, f"no workflow for {incident.signal_type}; is the demo catalog seeded?")
            expect(1 <= len(results) <= min(5, answer["total_results"]), f"{len(results)} results")
            expect([r["rank"] for r in results] == list(range(1, len(results) + 1)), "ranks are not 1..n")
            scores = [r["final_score"] for r in results]
            expect(scores == sorted(scores, reverse=True), "results not ordered by final_score")
            expect(all(0 <= s <= 1 for s in scores), "a score outside 0..1")
            expect(
                all(r["signal_type"].lower() == incident.signal_type.lower() for r in results),
                "a result of another signal type",
            )
            if hybrid:
                expect(all("similarity" in r for r in results), "hybrid results without similarity")
                # A workflow published a moment ago may still be pending: counted, not an error.
                expect(isinstance(answer.get("skipped_without_embedding"), int), "no skipped_without_embedding count")

        with self.client.post(SEARCH, json=body, name=f"search: {mode}", catch_response=True) as response:
            answer = checked_json(response, (200,), check_results)
        if answer is None:
            return
        returned = [r["workflow_id"] for r in answer["workflows"]]
        gevent.sleep(self.rng.uniform(0.5, 1.5))  # the agent reads the results before checking the trail
        self.check_self_audit(remediation_id, mode, returned)

    def check_self_audit(self, remediation_id: str, mode: str, returned: list[str]) -> None:
        params = {"event_type": SEARCH_COMPLETED, "correlation_id": remediation_id, "since": "15m"}

        def check_event(page: dict[str, Any]) -> None:
            expect(page["pagination"]["total"] == len(page["data"]), "pagination total differs from data")
            if not page["data"]:
                return  # not flushed yet: polled again below
            expect(len(page["data"]) == 1, f"{len(page['data'])} self-audit events for one search")
            event = page["data"][0]
            expect(event["event_category"] == "workflow", f"category {event['event_category']!r}")
            expect(event["event_data"]["mode"] == mode, f"mode {event['event_data']['mode']!r}, expected {mode!r}")
            recorded = [r["workflow_id"] for r in event["event_data"]["results"]]
            expect(recorded == returned, "the audited results differ from the returned ones")

        for attempt in range(SELF_AUDIT_ATTEMPTS):
            name = "audit: search self-audit" if attempt == 0 else "audit: search self-audit (poll)"
            with self.client.get(EVENTS, params=params, name=name, catch_response=True) as response:
                page = checked_json(response, (200,), check_event)
                if page is None or page["data"]:
                    return
                if attempt == SELF_AUDIT_ATTEMPTS - 1:
                    response.failure(f"no {SEARCH_COMPLETED} event for {remediation_id} after {attempt + 1} polls")
                    return
            gevent.sleep(SELF_AUDIT_POLL_SECONDS)


@dataclass
class Remediation:
    """The remediation an AuditWriter is currently reporting on; its events chain by parent id."""

    correlation_id: str
    incident: Incident
    last_event_id: str | None = None
    events: int = 0
    seen: list[str] = field(default_factory=list)


class AuditWriter(ServiceUser):
    """The kubernaut services writing the ADR-034 trail, one event or one trail at a time."""

    weight = 3
    wait_time = between(0.5, 2.0)
    paced_tasks_per_second = 0.8
    EVENTS_PER_REMEDIATION = 9

    def on_start(self) -> None:
        # Each writer starts at a different point of the cycle, so a few writers cover all 27 types fast.
        start = self.serial % len(ADR_034_EVENT_TYPES)
        self.event_types = itertools.cycle(ADR_034_EVENT_TYPES[start:] + ADR_034_EVENT_TYPES[:start])
        self.remediation = self.new_remediation()
        self.notifications = itertools.count(1)
        # One complete trail first: every run, however short, stores all 27 types.
        self.write_trail(ADR_034_EVENT_TYPES)

    def new_remediation(self) -> Remediation:
        correlation_id = f"rr-load-{RUN_ID}-w{self.serial}-{self.rng.getrandbits(32):08x}"
        return Remediation(correlation_id, self.rng.choice(INCIDENTS))

    @task(6)
    def single_event(self) -> None:
        if self.remediation.events >= self.EVENTS_PER_REMEDIATION:
            self.remediation = self.new_remediation()
        remediation = self.remediation
        event_type = next(self.event_types)
        body = audit_event(event_type, remediation.correlation_id, remediation.incident, self.rng)
        if remediation.last_event_id is not None:
            body["parent_event_id"] = remediation.last_event_id

        def check_created(answer: dict[str, Any]) -> None:
            expect(is_uuid(answer["event_id"]), f"event_id {answer['event_id']!r}")
            expect(bool(answer["message"]), "no message")
            datetime.fromisoformat(answer["event_timestamp"])

        with self.client.post(EVENTS, json=body, name="audit: event", catch_response=True) as response:
            answer = checked_json(response, (201, 202), check_created)
        remediation.events += 1
        # Only a stored event can be a parent; a queued one (202) is not in the table yet.
        remediation.last_event_id = answer["event_id"] if answer is not None and response.status_code == 201 else None

    @task(2)
    def remediation_trail(self) -> None:
        self.write_trail(self.rng.choice(TRAILS))

    def write_trail(self, trail: tuple[str, ...]) -> None:
        incident = self.rng.choice(INCIDENTS)
        correlation_id = f"rr-load-{RUN_ID}-b{self.serial}-{self.rng.getrandbits(32):08x}"
        batch = [audit_event(event_type, correlation_id, incident, self.rng) for event_type in trail]

        def check_created(answer: dict[str, Any]) -> None:
            ids = answer["event_ids"]
            expect(len(ids) == len(batch), f"{len(ids)} event ids for {len(batch)} events")
            expect(all(is_uuid(i) for i in ids) and len(set(ids)) == len(ids), "event ids not distinct UUIDs")

        name = "audit: batch (all 27 types)" if len(batch) == len(ADR_034_EVENT_TYPES) else "audit: batch"
        with self.client.post(EVENTS_BATCH, json=batch, name=name, catch_response=True) as response:
            checked_json(response, (201, 202), check_created)

    @task(1)
    def notification(self) -> None:
        incident = self.rng.choice(INCIDENTS)
        notification_id = f"notification-load-{RUN_ID}-{self.serial}-{next(self.notifications)}"
        delivered = self.rng.random() < 0.9
        body = {
            "remediation_id": self.remediation.correlation_id,
            "notification_id": notification_id,
            "recipient": f"oncall-{incident.namespace}@example.com",
            "channel": self.rng.choice(["email", "slack", "pagerduty", "webhook"]),
            "message_summary": f"Incident alert: {incident.resource} {incident.signal_type} in {incident.environment}",
            "status": "sent" if delivered else "failed",
            "sent_at": utc_now().isoformat(),
            "delivery_status": "200 OK" if delivered else "503 Service Unavailable",
            "error_message": None if delivered else "delivery endpoint unavailable",
            "escalation_level": 0 if delivered else 1,
        }

        def check_stored(answer: dict[str, Any]) -> None:
            expect(answer["notification_id"] == notification_id, f"notification_id {answer['notification_id']!r}")

        with self.client.post(NOTIFICATIONS, json=body, name="audit: notification", catch_response=True) as response:
            checked_json(response, (201, 202), check_stored)


# Workflows an operator publishes: (purpose, description, labels, detected labels).
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


class CatalogAdmin(ServiceUser):
    """An operator publishing a workflow in two versions and retiring it again."""

    weight = 1
    wait_time = between(5.0, 15.0)
    paced_tasks_per_second = 0.1

    @task
    def publish_and_retire(self) -> None:
        name = f"load-{RUN_ID}-{self.serial}-{secrets.token_hex(3)}"
        purpose = self.rng.choice(PUBLISHED)
        first = self.create(workflow_body(name, "v1.0.0", purpose), "catalog: create version")
        if first is None:
            return
        latest = self.create(workflow_body(name, "v1.1.0", purpose), "catalog: create next version")
        if latest is None:
            return

        def check_listed(page: dict[str, Any]) -> None:
            expect(page["total"] == 2, f"{page['total']} versions listed for {name}")
            expect({w["workflow_id"] for w in page["workflows"]} == {first, latest}, "other workflows listed")

        with self.client.get(
            WORKFLOWS, params={"workflow_name": name}, name="catalog: list by name", catch_response=True
        ) as response:
            checked_json(response, (200,), check_listed)

        def check_versions(answer: dict[str, Any]) -> None:
            versions = answer["versions"]
            expect([v["version"] for v in versions] == ["v1.1.0", "v1.0.0"], "versions not newest first")
            expect([v["is_latest_version"] for v in versions] == [True, False], "latest version flag wrong")

        with self.client.get(
            f"{WORKFLOWS}/by-name/{name}/versions", name="catalog: versions", catch_response=True
        ) as response:
            checked_json(response, (200,), check_versions)

        def check_page(page: dict[str, Any]) -> None:
            expect(page["limit"] == 20 and len(page["workflows"]) <= 20, "page larger than its limit")
            expect(all(w["status"] == "active" for w in page["workflows"]), "an inactive workflow listed")

        params = {"status": "active", "component": purpose[2]["component"], "limit": 20}
        with self.client.get(WORKFLOWS, params=params, name="catalog: list active", catch_response=True) as response:
            checked_json(response, (200,), check_page)

        reason = "load test: retired after publishing"

        def check_disabled(workflow: dict[str, Any]) -> None:
            expect(workflow["status"] == "disabled", f"status {workflow['status']!r}")
            expect(workflow.get("disabled_reason") == reason, "disabled_reason not recorded")
            expect(workflow.get("disabled_at") is not None, "disabled_at not recorded")

        with self.client.patch(
            f"{WORKFLOWS}/{latest}/disable",
            json={"reason": reason, "updated_by": "ops@example.com"},
            name="catalog: disable",
            catch_response=True,
        ) as response:
            checked_json(response, (200,), check_disabled)

    def create(self, body: dict[str, Any], name: str) -> str | None:
        """The new workflow's id, or None when creating it failed."""

        def check_created(workflow: dict[str, Any]) -> None:
            expect(is_uuid(workflow["workflow_id"]), f"workflow_id {workflow['workflow_id']!r}")
            expect(workflow["workflow_name"] == body["workflow_name"], "another workflow_name")
            expect(workflow["version"] == body["version"] and workflow["is_latest_version"], "not the latest version")
            expect(workflow["status"] == "active", f"status {workflow['status']!r}")
            expect(workflow["embedding_status"] in {"ready", "pending"}, f"embedding {workflow['embedding_status']!r}")

        with self.client.post(WORKFLOWS, json=body, name=name, catch_response=True) as response:
            workflow = checked_json(response, (201,), check_created)
        return None if workflow is None else str(workflow["workflow_id"])
