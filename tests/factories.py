"""Request bodies for the catalog and audit APIs, valid unless a test overrides a field."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.workflows.repository import workflows

_sequence = itertools.count(1)


def content_hash(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()


def workflow_body(**overrides: Any) -> dict[str, Any]:
    """A valid ``POST /api/v1/workflows`` body with a unique ``workflow_name``.

    ``content_hash`` follows an overridden ``content`` unless it is overridden itself;
    ``labels`` overrides are merged into the default labels.
    """
    n = next(_sequence)
    content = overrides.pop("content", f"apiVersion: argoproj.io/v1alpha1\nkind: Workflow\n# workflow {n}\n")
    labels = {
        "signal_type": "OOMKilled",
        "severity": "critical",
        "component": "pod",
        "environment": "production",
        "priority": "P0",
        **overrides.pop("labels", {}),
    }
    body: dict[str, Any] = {
        "workflow_name": f"workflow-{n}",
        "version": "v1.0.0",
        "name": f"Workflow {n}",
        "description": f"Remediates test case {n}",
        "content": content,
        "content_hash": content_hash(content),
        "labels": labels,
        "execution_engine": "argo-workflows",
        "owner": "platform-team",
        "maintainer": "platform@example.com",
        "container_image": f"ghcr.io/kubernaut/workflows/test-{n}:v1.0.0",
        "container_digest": "sha256:" + content_hash(str(n)),
    }
    body.update(overrides)
    return body


# Every detected label set so that it boosts (the largest detected boost, 0.39).
ALL_TRUE = {
    "gitOpsManaged": True,
    "gitOpsTool": "argocd",
    "pdbProtected": True,
    "hpaEnabled": True,
    "stateful": True,
    "helmManaged": True,
    "networkIsolated": True,
    "serviceMesh": "istio",
}


def audit_event_body(**overrides: Any) -> dict[str, Any]:
    """A valid ADR-034 ``AuditEventRequest`` from a few seconds ago."""
    body: dict[str, Any] = {
        "version": "1.0",
        "event_type": "gateway.signal.received",
        "event_timestamp": (datetime.now(UTC) - timedelta(seconds=5)).isoformat(),
        "event_category": "gateway",
        "event_action": "received",
        "event_outcome": "success",
        "correlation_id": "rr-2026-001",
        "event_data": {"fingerprint": "fp-abc123", "alert": {"name": "KubePodOOMKilled", "labels": {"ns": "prod"}}},
        "actor_type": "service",
        "actor_id": "gateway-service",
        "namespace": "prod",
        "severity": "critical",
        "duration_ms": 12,
    }
    body.update(overrides)
    return body


def notification_audit_body(**overrides: Any) -> dict[str, Any]:
    """A valid reference ``NotificationAudit`` with a unique ``notification_id``."""
    n = next(_sequence)
    body: dict[str, Any] = {
        "remediation_id": f"remediation-{n}",
        "notification_id": f"notification-{n}",
        "recipient": "ops-team@example.com",
        "channel": "email",
        "message_summary": f"Incident alert {n}: High CPU usage on pod xyz",
        "status": "sent",
        "sent_at": "2025-11-03T12:00:00Z",
        "delivery_status": "200 OK",
        "escalation_level": 0,
    }
    body.update(overrides)
    return body


def remediation_body(**overrides: Any) -> dict[str, Any]:
    """A valid remediation audit (POST /api/v1/audit/remediations)."""
    body: dict[str, Any] = {
        "name": "increase-memory", "namespace": "payments", "phase": "completed", "action_type": "scale_memory",
        "status": "success", "remediation_request_id": "rr-42", "target_resource": "deployment/api",
        "severity": "critical", "environment": "production", "error_message": None, "metadata": {"attempt": 1},
    }  # fmt: skip
    body.update(overrides)
    return body


async def insert_workflow_rows(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """Catalog rows straight into the table in one statement, for tests that need a catalog of a
    given shape quickly (the service's own create path is tested on its own)."""
    if rows:
        await session.execute(insert(workflows), list(rows))
