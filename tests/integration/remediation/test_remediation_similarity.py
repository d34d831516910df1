"""Remediation similarity search: its time window, a caller's own embedding, and the two ways
it runs (one joined statement in the shared database, ids then scores in a separate store)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.http.runtime import runtime_of
from app.remediation.vector_store import PgVectorStore
from tests.factories import remediation_body as remediation
from tests.integration.remediation.test_remediation_dual_write import counts, separate_vectors, use_vector_store
from tests.integration.remediation.test_remediation_queries import PAST, REMEDIATIONS, SEARCH, _record_past

__all__ = ["separate_vectors"]  # the fixture, shared with the dual write's own tests

DIMENSION = 384


async def _embedding_of(app: Litestar, query: str) -> list[float]:
    embedder = runtime_of(app).embeddings.embedder
    assert embedder is not None
    return [float(x) for x in await embedder.embed(query)]


async def test_a_relative_window_keeps_the_recent_past(client: httpx.AsyncClient) -> None:
    ids = await _record_past(client)  # started 5, 4, 3, 2 and 1 hours ago
    answer = (await client.post(SEARCH, json={"query": "memory limit exceeded", "since": "150m"})).json()
    assert {r["id"] for r in answer["results"]} == {ids[action] for action, *_ in PAST[-2:]}
    assert (answer["total_results"], answer["exact"]) == (2, True)


async def test_an_absolute_window_in_rfc_3339_and_as_a_date(client: httpx.AsyncClient) -> None:
    ids = await _record_past(client)
    now = datetime.now(UTC)
    window = {"since": (now - timedelta(minutes=270)).isoformat(), "until": (now - timedelta(minutes=90)).isoformat()}
    answer = (await client.post(SEARCH, json={"query": "node not ready", **window, "top_k": 10})).json()
    assert {r["id"] for r in answer["results"]} == {ids[action] for action, *_ in PAST[1:4]}
    assert answer["total_results"] == 3
    long_ago = (await client.post(SEARCH, json={"query": "node not ready", "until": "2000-01-01"})).json()
    assert long_ago == {"results": [], "total_results": 0, "exact": True}
    tomorrow = (now + timedelta(days=1)).date().isoformat()
    assert (await client.post(SEARCH, json={"query": "x", "until": tomorrow})).json()["total_results"] == len(PAST)


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"query": "x", "since": "soon", "until": "2026-11-22T12:00:00"}, {"since", "until"}),  # no time zone
        ({"query": "x", "since": "15 minutes", "top_k": 0}, {"since", "top_k"}),  # beside a schema error
    ],
)
async def test_bad_bounds_are_400_naming_each(
    client: httpx.AsyncClient, app: Litestar, body: dict[str, Any], fields: set[str]
) -> None:
    await _record_past(client)
    response = await client.post(SEARCH, json=body)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert set(response.json()["field_errors"]) == fields, response.json()
    assert await counts(runtime_of(app).engine) == (len(PAST), 0, len(PAST))


async def test_an_embedding_ranks_as_its_text_does_and_needs_no_encoder(
    client: httpx.AsyncClient, app: Litestar
) -> None:
    await _record_past(client)
    query = "pod was killed for exceeding its memory"
    embedding = await _embedding_of(app, query)
    by_text = (await client.post(SEARCH, json={"query": query, "top_k": 5})).json()
    runtime = runtime_of(app).embeddings
    embedder, runtime.embedder = runtime.embedder, None
    try:
        by_vector = await client.post(SEARCH, json={"embedding": embedding, "top_k": 5})
    finally:
        runtime.embedder = embedder
    assert by_vector.status_code == 200, by_vector.text
    assert by_vector.json() == by_text
    assert by_text["exact"] is True


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"embedding": [0.1] * (DIMENSION - 1)}, {"embedding"}),
        ({"embedding": [0.0] * DIMENSION}, {"embedding"}),
        ({"embedding": [0.1] * DIMENSION, "query": "memory"}, {"query", "embedding"}),
        ({}, {"query", "embedding"}),
        ({"top_k": 5, "filters": {"namespace": "shop"}}, {"query", "embedding"}),
        ({"embedding": [0.1] * (DIMENSION + 1), "top_k": 0, "until": "later"}, {"embedding", "top_k", "until"}),
    ],
)
async def test_bad_embedding_inputs_are_400_naming_the_fields(
    client: httpx.AsyncClient, app: Litestar, body: dict[str, Any], fields: set[str]
) -> None:
    await _record_past(client)
    response = await client.post(SEARCH, json=body)
    assert response.status_code == 400
    assert set(response.json()["field_errors"]) == fields, response.json()
    assert await counts(runtime_of(app).engine) == (len(PAST), 0, len(PAST))


class NoNearest(PgVectorStore):
    """The shared store, which the one-statement path must never ask to score a list of ids."""

    async def nearest(
        self, audit_ids: list[UUID], embedding: str, *, top_k: int, min_similarity: float | None
    ) -> tuple[list[tuple[UUID, float]], int]:
        raise AssertionError("a list of ids was sent to the vector store")


class CountedNearest(PgVectorStore):
    """A separate store that counts the searches it scored."""

    scored = 0

    async def nearest(
        self, audit_ids: list[UUID], embedding: str, *, top_k: int, min_similarity: float | None
    ) -> tuple[list[tuple[UUID, float]], int]:
        self.scored += 1
        return await super().nearest(audit_ids, embedding, top_k=top_k, min_similarity=min_similarity)


COPY_SELECT = "SELECT audit_id, embedding::text AS embedding, model FROM remediation_audit_vectors"
COPY_INSERT = """
INSERT INTO remediation_audit_vectors (audit_id, embedding, model)
VALUES (:audit_id, CAST(:embedding AS vector), :model)
"""


async def _copy_vectors(source: AsyncEngine, target: AsyncEngine) -> None:
    """The same vectors in the separate store as in the shared one."""
    async with source.connect() as connection:
        rows = (await connection.execute(text(COPY_SELECT))).all()
    async with target.begin() as connection:
        await connection.execute(text(COPY_INSERT), [row._asdict() for row in rows])


SEARCHES: list[dict[str, Any]] = [
    {"query": "pod was killed for exceeding its memory", "top_k": 100},
    {"query": "identical text", "top_k": 4},  # ties, broken by id
    {"query": "disk full", "filters": {"namespace": "payments"}, "top_k": 3},
    {"query": "certificate", "min_similarity": 0.2, "top_k": 2},
    {"query": "release broke the web app", "since": "150m"},
    {"query": "kubelet", "filters": {"phase": "failed"}, "until": "90m", "min_similarity": 0.0},
]


async def test_the_one_statement_ranks_as_the_separate_store_does(
    client: httpx.AsyncClient, app: Litestar, separate_vectors: AsyncEngine
) -> None:
    await _record_past(client)
    for _ in range(3):
        assert (await client.post(REMEDIATIONS, json=remediation(error_message="identical text"))).status_code == 201
    shared = runtime_of(app).remediation_vectors
    await _copy_vectors(runtime_of(app).engine, separate_vectors)
    answers: dict[str, list[dict[str, Any]]] = {}
    separate = CountedNearest(separate_vectors, same_database=False)
    stores = {"one statement": NoNearest(runtime_of(app).engine, same_database=True), "separate": separate}
    for mode, store in stores.items():
        use_vector_store(app, store)
        try:
            answers[mode] = [(await client.post(SEARCH, json=body)).json() for body in SEARCHES]
        finally:
            use_vector_store(app, shared)
    assert separate.scored == len(SEARCHES)
    assert answers["one statement"] == answers["separate"]
    for body, answer in zip(SEARCHES, answers["one statement"], strict=True):
        assert answer["exact"] is True
        assert answer["results"], body
        keys = [(-r["similarity"], UUID(r["id"])) for r in answer["results"]]
        assert keys == sorted(keys), body
    ties = answers["one statement"][1]["results"]
    assert len({r["similarity"] for r in ties[:3]}) == 1
    assert [r["id"] for r in ties[:3]] == sorted(r["id"] for r in ties[:3])
