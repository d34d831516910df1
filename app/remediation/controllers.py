"""HTTP routes of remediation audits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from litestar import Controller, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromQuery, JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.audit.timewindow import parse_window
from app.lib.errors import ValidationFailed
from app.lib.settings import Settings
from app.lib.validation import MAX_LIMIT, page_window, register_body_rule
from app.remediation.dual_write import DualWriteCoordinator
from app.remediation.schemas import (
    Phase,
    RemediationAuditPage,
    RemediationAuditRequest,
    RemediationAuditWritten,
    RemediationFilters,
    RemediationSearchRequest,
    RemediationSearchResponse,
    Status,
)
from app.remediation.service import RemediationReader, search_errors
from app.remediation.vector_store import VectorStore
from embeddings.runtime import EmbeddingRuntime

Text = Annotated[str | None, QueryParameter(max_length=500)]
DEFAULT_LIMIT = 50


def provide_coordinator(
    settings: NamedDependency[Settings],
    engine: NamedDependency[AsyncEngine],
    remediation_vectors: NamedDependency[VectorStore],
    embeddings: NamedDependency[EmbeddingRuntime],
) -> DualWriteCoordinator:
    return DualWriteCoordinator(
        engine,
        remediation_vectors,
        embeddings.embedder,
        vector_timeout=settings.vector_write_timeout_seconds,
        write_timeout=settings.audit_write_timeout_seconds,
    )


def provide_reader(
    db_session: NamedDependency[AsyncSession],
    remediation_vectors: NamedDependency[VectorStore],
    embeddings: NamedDependency[EmbeddingRuntime],
) -> RemediationReader:
    return RemediationReader(db_session, remediation_vectors, embeddings.embedder, dimension=embeddings.dimension)


# The search's rules, run by the strict body check as well when a body also breaks its schema.
register_body_rule(
    RemediationSearchRequest,
    lambda document, settings: search_errors(document, settings.embedding_dimension, datetime.now(UTC)),
)


class RemediationAuditController(Controller):
    path = "/api/v1/audit/remediations"
    tags = ["Remediation Audit API"]  # noqa: RUF012 - Litestar reads it as a class attribute
    dependencies = {  # noqa: RUF012
        "coordinator": Provide(provide_coordinator, sync_to_thread=False),
        "reader": Provide(provide_reader, sync_to_thread=False),
    }

    @post(operation_id="createRemediationAudit", summary="Record a remediation (PostgreSQL + vector store)")
    async def create(
        self, data: JSONBody[RemediationAuditRequest], coordinator: NamedDependency[DualWriteCoordinator]
    ) -> RemediationAuditWritten:
        return await coordinator.record(data)

    @get(operation_id="listRemediationAudits", summary="List remediation audits, newest start first")
    async def list_audits(
        self,
        reader: NamedDependency[RemediationReader],
        name: Text = None,
        namespace: Text = None,
        phase: FromQuery[Phase | None] = None,
        action_type: Text = None,
        status: FromQuery[Status | None] = None,
        remediation_request_id: Text = None,
        alert_fingerprint: Text = None,
        severity: Text = None,
        environment: Text = None,
        cluster_name: Text = None,
        target_resource: Text = None,
        since: Text = None,
        until: Text = None,
        limit: Annotated[int, QueryParameter(le=MAX_LIMIT)] = DEFAULT_LIMIT,
        offset: FromQuery[int] = 0,
    ) -> RemediationAuditPage:
        filters = RemediationFilters(
            name=name, namespace=namespace, phase=phase, action_type=action_type, status=status,
            remediation_request_id=remediation_request_id, alert_fingerprint=alert_fingerprint, severity=severity,
            environment=environment, cluster_name=cluster_name, target_resource=target_resource,
        )  # fmt: skip
        start, end, errors = parse_window(since, until, datetime.now(UTC))
        if errors:
            raise ValidationFailed(errors)
        limit, offset = page_window(limit, offset, DEFAULT_LIMIT)
        return await reader.page(filters, start, end, limit, offset)

    @post("/search", status_code=200, operation_id="searchRemediationAudits", summary="Past remediations like this")
    async def search(
        self, data: JSONBody[RemediationSearchRequest], reader: NamedDependency[RemediationReader]
    ) -> RemediationSearchResponse:
        return await reader.search(data, datetime.now(UTC))
