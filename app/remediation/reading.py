"""Finding remediation audits: by their fields, or by similarity to an incident description."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.lib.errors import ServiceUnavailable
from app.lib.schemas import Pagination
from app.remediation.repository import remediation_audits
from app.remediation.schemas import (
    RemediationAudit,
    RemediationAuditPage,
    RemediationFilters,
    RemediationSearchRequest,
    RemediationSearchResponse,
    SimilarRemediation,
)
from app.remediation.vector_store import VectorStore
from embeddings.model import vector_literal
from embeddings.query import QueryEmbedder

table = remediation_audits


def _conditions(filters: RemediationFilters, since: datetime | None = None, until: datetime | None = None) -> list[Any]:
    conditions = [
        table.c[name] == value for name, value in msgspec.structs.asdict(filters).items() if value is not None
    ]
    if since is not None:
        conditions.append(table.c.start_time >= since)
    if until is not None:
        conditions.append(table.c.start_time <= until)
    return conditions


def _plain(row: Any) -> dict[str, Any]:
    return {str(key): value for key, value in row.items()}


class RemediationReader:
    def __init__(self, session: AsyncSession, vector_store: VectorStore, embedder: QueryEmbedder | None) -> None:
        self.session = session
        self.vector_store = vector_store
        self.embedder = embedder

    async def page(
        self, filters: RemediationFilters, since: datetime | None, until: datetime | None, limit: int, offset: int
    ) -> RemediationAuditPage:
        conditions = _conditions(filters, since, until)
        total = int(await self.session.scalar(select(func.count()).select_from(table).where(*conditions)) or 0)
        result = await self.session.execute(
            select(table)
            .where(*conditions)
            .order_by(table.c.start_time.desc(), table.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        audits = [msgspec.convert(_plain(row), RemediationAudit) for row in result.mappings()]
        has_more = offset + len(audits) < total
        return RemediationAuditPage(audits, Pagination(limit=limit, offset=offset, total=total, has_more=has_more))

    async def search(self, request: RemediationSearchRequest) -> RemediationSearchResponse:
        """Exact similarity over every audit that passes the filters and has its vector stored."""
        if self.embedder is None:
            raise ServiceUnavailable("similarity search is unavailable: the embedding model is not loaded")
        embedding = vector_literal(await self.embedder.embed(request.query))
        candidates = await self.session.scalars(
            select(table.c.id).where(*_conditions(request.filters), table.c.vector_store == "written")
        )
        nearest, total = await self.vector_store.nearest(
            list(candidates), embedding, top_k=request.top_k, min_similarity=request.min_similarity
        )
        rows = await self._rows([audit_id for audit_id, _ in nearest])
        results = [
            msgspec.convert({**rows[audit_id], "similarity": similarity, "rank": rank}, SimilarRemediation)
            for rank, (audit_id, similarity) in enumerate(nearest, start=1)
            if audit_id in rows
        ]
        return RemediationSearchResponse(results=results, total_results=total)

    async def _rows(self, ids: list[UUID]) -> dict[UUID, dict[str, Any]]:
        if not ids:
            return {}
        result = await self.session.execute(select(table).where(table.c.id.in_(ids)))
        return {row["id"]: _plain(row) for row in result.mappings()}
