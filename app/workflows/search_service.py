"""Workflow search: one read-only statement over the catalog, with its metrics and its audit event.

The controller parses and returns; this service embeds the query when it has text (off the event
loop, in the micro-batcher), runs the one statement of its mode (``search.sql``, proven equal to
the reference scorer), and records the search: its duration and result count as metrics, and a
``workflow.catalog.search_completed`` audit event in the buffer that never delays it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import msgspec

from app.audit.self_audit import SearchAuditBuffer
from app.lib.errors import ServiceUnavailable, ValidationFailed
from app.lib.metrics import SEARCH_DURATION, SEARCH_RESULTS, series
from app.workflows.repository import Row, SearchRepository
from app.workflows.schemas import SearchRequest, SearchResponse, SearchResult
from app.workflows.search_events import SERVICE_ACTOR, Actor, search_completed_event
from app.workflows.service import EmbeddingAccess, search_errors
from search.labels import MANDATORY_LABELS, DetectedLabels, LabelValue, label_values
from search.query import SearchQuery
from search.sql import label_search_parameters, semantic_search_parameters


@dataclass(frozen=True, slots=True)
class Ranked:
    """A search's answer, and the mandatory labels each result is stored with, in rank order."""

    response: SearchResponse
    labels: list[Mapping[str, LabelValue]]


class WorkflowSearch:
    def __init__(self, repository: SearchRepository, embeddings: EmbeddingAccess, audit: SearchAuditBuffer) -> None:
        self.repository = repository
        self.embeddings = embeddings
        self.audit = audit

    async def run(self, request: SearchRequest, actor: Actor = SERVICE_ACTOR) -> SearchResponse:
        return (await self.ranked(request, actor)).response

    async def ranked(self, request: SearchRequest, actor: Actor = SERVICE_ACTOR) -> Ranked:
        """The search, with each result's stored labels (for explaining its rank), measured and audited."""
        started = time.perf_counter()
        ranked = await self.search(request)
        response = ranked.response
        seconds = time.perf_counter() - started
        series(SEARCH_DURATION, request.mode).observe(seconds)
        series(SEARCH_RESULTS, request.mode).observe(len(response.workflows))
        self.audit.record(search_completed_event(request, response, round(seconds * 1000), actor))
        return ranked

    async def search(self, request: SearchRequest) -> Ranked:
        filters = request.filters
        embedding = await self._query_embedding(request)
        query = SearchQuery(
            labels={label: getattr(filters, label) for label in MANDATORY_LABELS},
            detected_labels=filters.detected_labels,
            custom_labels=filters.custom_labels or {},
            statuses=filters.status,
            include_disabled=request.include_disabled,
            top_k=request.top_k,
            min_score=request.min_score,
            embedding=embedding,
            min_similarity=request.min_similarity,
        )
        if embedding is None:
            rows = await self.repository.search(label_search_parameters(query))
            skipped = None
        else:
            rows = await self.repository.search_semantic(semantic_search_parameters(query, self.embeddings.model_id))
            skipped = int(rows[0]["skipped_without_embedding"])
            rows = [row for row in rows if row["workflow_id"] is not None]
        results = [_search_result(row, rank, filters.signal_type) for rank, row in enumerate(rows, start=1)]
        total = int(rows[0]["total_results"]) if rows else 0
        response = SearchResponse(
            workflows=results, total_results=total, filters=filters, skipped_without_embedding=skipped
        )
        return Ranked(response, [row["labels"] for row in rows])

    async def _query_embedding(self, request: SearchRequest) -> list[float] | None:
        """The request's vector (its own, or its text's), None in label mode; bad input is a 400."""
        if errors := search_errors(msgspec.structs.asdict(request), self.embeddings.dimension):
            raise ValidationFailed(errors)
        if request.embedding is not None:
            return request.embedding
        if request.query is None:
            return None
        embedder = self.embeddings.embedder
        if embedder is None:
            raise ServiceUnavailable("semantic search is unavailable: the embedding model is not loaded")
        return [float(x) for x in await embedder.embed(request.query)]


def _search_result(row: Row, rank: int, requested_signal: str) -> SearchResult:
    signals = label_values(row["labels"]["signal_type"])
    signal_type = next((s for s in signals if s.lower() == requested_signal.lower()), signals[0])
    score = float(row["final_score"])
    similarity = row.get("similarity")
    return SearchResult(
        workflow_id=row["workflow_id"],
        workflow_name=row["workflow_name"],
        version=row["version"],
        title=row["name"],
        description=row["description"],
        signal_type=signal_type,
        container_image=row["container_image"],
        container_digest=row["container_digest"],
        confidence=score,
        final_score=score,
        label_boost=float(row["detected_boost"]),
        label_penalty=float(row["label_penalty"]),
        custom_label_boost=float(row["custom_boost"]),
        label_specificity=int(row["label_specificity"]),
        rank=rank,
        custom_labels=row["custom_labels"],
        detected_labels=msgspec.convert(row["detected_labels"], DetectedLabels),
        similarity=None if similarity is None else float(similarity),
    )
