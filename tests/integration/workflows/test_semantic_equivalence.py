"""Semantic search in SQL equals the reference, on random catalogs and vectors.

Vector components are small integers at a few positions, so every dot product and norm is
exact in pgvector's float32 sums and in the reference's doubles: any difference is a bug,
not rounding.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from litestar import Litestar
from sqlalchemy import text

from app.http.runtime import runtime_of
from app.workflows.schemas import WorkflowCreate
from app.workflows.service import workflow_row_values
from embeddings.model import vector_literal
from search.labels import DetectedLabels
from search.query import SearchQuery
from search.reference import CatalogEntry, rank
from tests.factories import insert_workflow_rows, workflow_body

DIMENSION = 384
MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
TIMES = [datetime(2026, 1, day, tzinfo=UTC) for day in (1, 2, 3)]
REQUEST_LABELS = {"signal_type": "OOMKilled", "severity": "critical", "component": "pod",
                  "environment": "production", "priority": "P0"}  # fmt: skip


@st.composite
def sparse_vectors(draw: st.DrawFn) -> list[float]:
    positions = draw(st.lists(st.integers(0, 7), min_size=1, max_size=4, unique=True))
    values = draw(st.lists(st.sampled_from([-2.0, -1.0, 1.0, 2.0]), min_size=len(positions), max_size=len(positions)))
    vector = [0.0] * DIMENSION
    for position, value in zip(positions, values, strict=True):
        vector[position] = value
    return vector


workflow_labels = st.fixed_dictionaries({
    "signal_type": st.just("OOMKilled"),
    "severity": st.sampled_from(["critical", "*", "high"]),
    "component": st.sampled_from(["pod", "*"]),
    "environment": st.sampled_from(["production", "*"]),
    "priority": st.sampled_from(["P0", "*"]),
})  # fmt: skip
detected = st.builds(
    DetectedLabels,
    git_ops_managed=st.none() | st.booleans(),
    git_ops_tool=st.none() | st.sampled_from(["argocd", "flux", "*"]),
)
entries = st.lists(
    st.tuples(workflow_labels, detected, st.none() | sparse_vectors(), st.sampled_from(TIMES)), max_size=10
)


async def _store(app: Litestar, catalog: list[CatalogEntry]) -> None:
    rows = []
    for entry in catalog:
        data = msgspec.convert(workflow_body(labels=dict(entry.labels)), WorkflowCreate)
        row: dict[str, Any] = workflow_row_values(data, None)
        row.update(
            workflow_id=entry.workflow_id,
            created_at=entry.created_at,
            detected_labels=msgspec.to_builtins(entry.detected_labels),
            text_hash="0" * 64,
        )
        embedded = entry.embedding is not None
        row.update(  # every row names the same columns: one executemany
            embedding=vector_literal(entry.embedding) if entry.embedding is not None else None,
            embedding_model=MODEL_ID if embedded else None,
            embedding_text_hash="0" * 64 if embedded else None,
        )
        rows.append(row)
    async with runtime_of(app).sessionmaker() as session, session.begin():
        await session.execute(text("TRUNCATE workflows"))
        await insert_workflow_rows(session, rows)


@pytest.mark.property
@settings(max_examples=150)
@given(
    drawn=entries,
    query_vector=sparse_vectors(),
    request_detected=st.none() | detected,
    min_similarity=st.none() | st.sampled_from([0.0, 0.25, 0.5]),
    min_score=st.sampled_from([0.0, 0.3]),
    top_k=st.integers(1, 12),
)
async def test_semantic_search_matches_the_reference(
    app: Litestar,
    app_client: httpx.AsyncClient,
    drawn: list[tuple[dict[str, str], DetectedLabels, list[float] | None, datetime]],
    query_vector: list[float],
    request_detected: DetectedLabels | None,
    min_similarity: float | None,
    min_score: float,
    top_k: int,
) -> None:
    catalog = [
        CatalogEntry(uuid.uuid4(), created_at, "active", True, labels, found, {}, vector)
        for labels, found, vector, created_at in drawn
    ]
    await _store(app, catalog)
    query = SearchQuery(
        labels=REQUEST_LABELS, detected_labels=request_detected, embedding=query_vector,
        min_similarity=min_similarity, min_score=min_score, top_k=top_k,
    )  # fmt: skip
    filters: dict[str, Any] = dict(REQUEST_LABELS)
    if request_detected is not None:
        filters["detected_labels"] = msgspec.to_builtins(request_detected)
    body: dict[str, Any] = {"filters": filters, "embedding": query_vector, "min_score": min_score, "top_k": top_k}
    if min_similarity is not None:
        body["min_similarity"] = min_similarity

    response = await app_client.post("/api/v1/workflows/search", json=body)

    assert response.status_code == 200, response.text
    answer = response.json()
    expected = rank(catalog, query)
    got = [(w["workflow_id"], w["similarity"], w["final_score"], w["label_specificity"]) for w in answer["workflows"]]
    want = [(str(s.workflow_id), float(s.similarity or 0), float(s.final_score), s.label_specificity)
            for s in expected.results]  # fmt: skip
    assert got == want
    assert answer["total_results"] == expected.total_results
    assert answer["skipped_without_embedding"] == expected.skipped_without_embedding
