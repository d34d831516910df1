"""The audit event every workflow search leaves: ``workflow.catalog.search_completed``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec

from app.audit.schemas import AuditEventRequest
from app.workflows.schemas import SearchRequest, SearchResponse


@dataclass(frozen=True, slots=True)
class Actor:
    """Who searched, as the event's ``actor_type`` and ``actor_id``."""

    type: str
    id: str


# A search over the HTTP API: the service itself (its callers are not identified there).
SERVICE_ACTOR = Actor("service", "workflow-search")


def search_completed_event(
    request: SearchRequest, response: SearchResponse, duration_ms: int, actor: Actor = SERVICE_ACTOR
) -> AuditEventRequest:
    return AuditEventRequest(
        version="1.0",
        event_type="workflow.catalog.search_completed",
        event_timestamp=datetime.now(UTC),
        event_category="workflow",
        event_action="search_completed",
        event_outcome="success",
        correlation_id=request.remediation_id or str(uuid.uuid4()),
        actor_type=actor.type,
        actor_id=actor.id,
        resource_type="WorkflowCatalog",
        duration_ms=duration_ms,
        event_data={
            "mode": request.mode,
            "query": request.query,
            "filters": msgspec.to_builtins(response.filters),
            "top_k": request.top_k,
            "min_score": request.min_score,
            "total_results": response.total_results,
            "results": [
                {"workflow_id": str(r.workflow_id), "rank": r.rank, "final_score": r.final_score}
                for r in response.workflows
            ],
            "duration_ms": duration_ms,
        },
    )
