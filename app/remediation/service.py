"""Finding remediation audits: by their fields, or by similarity to an incident description."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from pgvector.sqlalchemy import VECTOR
from sqlalchemy import Float, Numeric, Select, String, bindparam, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.timewindow import parse_window
from app.lib.errors import ServiceUnavailable, ValidationFailed
from app.lib.schemas import Pagination
from app.lib.validation import text_or_vector_errors, well_typed
from app.remediation.repository import remediation_audit_vectors, remediation_audits
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
vectors = remediation_audit_vectors
Scored = tuple[list[tuple[dict[str, Any], float]], int]  # (audit row, similarity) best first, and the total


def _conditions(filters: RemediationFilters, since: datetime | None = None, until: datetime | None = None) -> list[Any]:
    conditions = [
        table.c[name] == value for name, value in msgspec.structs.asdict(filters).items() if value is not None
    ]
    if since is not None:
        conditions.append(table.c.start_time >= since)
    if until is not None:
        conditions.append(table.c.start_time <= until)
    return conditions


def search_errors(document: Mapping[str, Any], dimension: int, now: datetime) -> dict[str, str]:
    """The rules of a search a schema cannot say, over its JSON form: exactly one of query and
    embedding (a vector as workflow search takes it), and a time window whose bounds both parse."""
    errors = text_or_vector_errors(document, dimension)
    if document.get("query") is None and document.get("embedding") is None:
        errors = dict.fromkeys(("query", "embedding"), "send either query or embedding")
    _, _, window_errors = parse_window(well_typed(document, "since", str), well_typed(document, "until", str), now)
    return {**errors, **window_errors}


def nearest_in_one_statement(
    conditions: list[Any], embedding: str, *, top_k: int, min_similarity: float | None
) -> Select[Any]:
    """The filtered similarity search as one statement, for when both tables live in one
    database: the audits that pass ``conditions`` joined to their vectors, the best ``top_k`` and
    how many passed ``min_similarity``. Its similarity, threshold and order are those of the
    separate store's ``NEAREST_SQL`` (rounded to 6 places, ties by id), so both paths rank alike."""
    query_vector = cast(bindparam("embedding", embedding, type_=String), VECTOR())
    distance = vectors.c.embedding.op("<=>", return_type=Float)(query_vector)
    similarity = func.round(cast(1 - distance, Numeric), 6).label("similarity")
    scored = (
        select(table, similarity)
        .join_from(table, vectors, vectors.c.audit_id == table.c.id)
        .where(*conditions)
        .subquery("scored")
    )
    passed = [] if min_similarity is None else [scored.c.similarity >= min_similarity]
    return (
        select(scored, func.count().over().label("total"))
        .where(*passed)
        .order_by(scored.c.similarity.desc(), scored.c.id)
        .limit(top_k)
    )


def _plain(row: Any) -> dict[str, Any]:
    return {str(key): value for key, value in row.items()}


class RemediationReader:
    def __init__(
        self, session: AsyncSession, vector_store: VectorStore, embedder: QueryEmbedder | None, *, dimension: int
    ) -> None:
        self.session = session
        self.vector_store = vector_store
        self.embedder = embedder
        self.dimension = dimension  # the model's, which a caller's own embedding must match

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

    async def search(self, request: RemediationSearchRequest, now: datetime) -> RemediationSearchResponse:
        """Exact similarity over every audit that passes the filters and the time window and has
        its vector stored: in one statement where both tables share a database, else in two steps."""
        if errors := search_errors(msgspec.structs.asdict(request), self.dimension, now):
            raise ValidationFailed(errors)
        since, until, _ = parse_window(request.since, request.until, now)
        conditions = [*_conditions(request.filters, since, until), table.c.vector_store == "written"]
        embedding = vector_literal(await self._query_vector(request))
        if self.vector_store.same_database:
            scored, total = await self._nearest_here(conditions, embedding, request)
        else:
            scored, total = await self._nearest_in_vector_store(conditions, embedding, request)
        results = [
            msgspec.convert({**row, "similarity": similarity, "rank": rank}, SimilarRemediation)
            for rank, (row, similarity) in enumerate(scored, start=1)
        ]
        return RemediationSearchResponse(results=results, total_results=total, exact=True)

    async def _query_vector(self, request: RemediationSearchRequest) -> list[float]:
        """The caller's vector as it is, or the query text's (the rules ensured one of them)."""
        if request.embedding is not None:
            return request.embedding
        if self.embedder is None:
            raise ServiceUnavailable("similarity search is unavailable: the embedding model is not loaded")
        return [float(x) for x in await self.embedder.embed(request.query or "")]

    async def _nearest_here(self, conditions: list[Any], embedding: str, request: RemediationSearchRequest) -> Scored:
        statement = nearest_in_one_statement(
            conditions, embedding, top_k=request.top_k, min_similarity=request.min_similarity
        )
        rows = [_plain(row) for row in (await self.session.execute(statement)).mappings()]
        total = int(rows[0]["total"]) if rows else 0
        return [(row, float(row["similarity"])) for row in rows], total

    async def _nearest_in_vector_store(
        self, conditions: list[Any], embedding: str, request: RemediationSearchRequest
    ) -> Scored:
        """A separate vector database (VECTOR_DATABASE_URL) cannot join our table: select the ids
        that pass the filters here, let the vector store score them, and read their rows back."""
        candidates = await self.session.scalars(select(table.c.id).where(*conditions))
        nearest, total = await self.vector_store.nearest(
            list(candidates), embedding, top_k=request.top_k, min_similarity=request.min_similarity
        )
        rows = await self._rows([audit_id for audit_id, _ in nearest])
        return [(rows[audit_id], similarity) for audit_id, similarity in nearest if audit_id in rows], total

    async def _rows(self, ids: list[UUID]) -> dict[UUID, dict[str, Any]]:
        if not ids:
            return {}
        result = await self.session.execute(select(table).where(table.c.id.in_(ids)))
        return {row["id"]: _plain(row) for row in result.mappings()}
