"""The tools: each takes the arguments struct of its HTTP twin and calls the service that twin
calls, through the same providers, so a tool answers what the HTTP API answers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec

from app.audit.controllers import provide_audit_recorder
from app.audit.schemas import AuditEventRequest
from app.http.access import AccessScope, AccessToken
from app.http.runtime import Runtime, provide_db_session
from app.mcp.explain import explain
from app.remediation.controllers import provide_reader
from app.remediation.schemas import RemediationSearchRequest
from app.workflows.controllers import parse_workflow_id, provide_workflow_service
from app.workflows.schemas import SearchRequest, WorkflowName
from app.workflows.search_events import Actor

db_session = asynccontextmanager(provide_db_session)


class WorkflowById(msgspec.Struct, kw_only=True):
    """``GET /api/v1/workflows/{workflow_id}``: the id as the path gives it (checked the same way)."""

    workflow_id: str


class WorkflowByName(msgspec.Struct, kw_only=True):
    """``GET /api/v1/workflows/by-name/{workflow_name}/versions``."""

    workflow_name: WorkflowName


@dataclass(frozen=True, slots=True)
class Call:
    runtime: Runtime
    # The token the edge granted; None when access control is off (no tokens: loopback only).
    token: AccessToken | None

    @property
    def actor(self) -> Actor:
        return Actor("mcp-client", self.token.name if self.token else "loopback")


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    description: str
    arguments: type[msgspec.Struct]
    run: Callable[[Call, Any], Awaitable[Any]]
    needs: AccessScope = "read"


async def search_workflows(call: Call, request: SearchRequest) -> dict[str, Any]:
    ranked = await call.runtime.workflow_search.ranked(request, call.actor)
    explanations = msgspec.to_builtins(explain(request.filters, ranked))
    return {**msgspec.to_builtins(ranked.response), "explanations": explanations}


async def get_workflow(call: Call, arguments: WorkflowById) -> Any:
    async with db_session(call.runtime) as session:
        return await provide_workflow_service(session, call.runtime.embeddings).get(
            parse_workflow_id(arguments.workflow_id)
        )


async def list_workflow_versions(call: Call, arguments: WorkflowByName) -> Any:
    async with db_session(call.runtime) as session:
        return await provide_workflow_service(session, call.runtime.embeddings).versions(arguments.workflow_name)


async def find_similar_remediations(call: Call, request: RemediationSearchRequest) -> Any:
    runtime = call.runtime
    async with db_session(runtime) as session:
        reader = provide_reader(session, runtime.remediation_vectors, runtime.embeddings)
        return await reader.search(request, datetime.now(UTC))


async def record_remediation_outcome(call: Call, event: AuditEventRequest) -> Any:
    body, _ = await provide_audit_recorder(call.runtime.audit_writer).record(event)
    return body  # its status says "created" (stored) or "accepted" (queued), as the HTTP body does


TOOLS: dict[str, ToolSpec] = {
    tool.name: tool
    for tool in (
        ToolSpec(
            "search_workflows",
            "Rank the catalog's remediation workflows for an incident. filters holds the five mandatory "
            "labels (signal_type, severity, component, environment, priority) and optional detected_labels "
            "and custom_labels; query, a description of the incident, makes the search semantic (hybrid with "
            "detected or custom labels). Returns the ranked workflows as POST /api/v1/workflows/search does, "
            "and for each an explanation of its score: the base or similarity, each label matched exactly or "
            "through '*', and each boost and penalty.",
            SearchRequest,
            search_workflows,
        ),
        ToolSpec(
            "get_workflow",
            "One workflow version by its workflow_id (a UUID), with its content.",
            WorkflowById,
            get_workflow,
        ),
        ToolSpec(
            "list_workflow_versions",
            "Every version of the workflow named workflow_name, newest first.",
            WorkflowByName,
            list_workflow_versions,
        ),
        ToolSpec(
            "find_similar_remediations",
            "Past remediations most similar to an incident: query (its description) or embedding, optional "
            "filters (namespace, action_type, status, severity, environment, cluster_name, ...) and a "
            "since/until window on their start time (RFC 3339 or a relative duration such as 24h).",
            RemediationSearchRequest,
            find_similar_remediations,
        ),
        ToolSpec(
            "record_remediation_outcome",
            "Record how a remediation went, as an ADR-034 audit event (POST /api/v1/audit/events): stored, "
            "or queued when the database is unavailable. Needs a token with the write scope.",
            AuditEventRequest,
            record_remediation_outcome,
            needs="write",
        ),
    )
}
