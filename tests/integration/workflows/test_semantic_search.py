"""Semantic and hybrid search through HTTP, with the real packaged model (search.md section 5)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import numpy as np
import pytest
from litestar import Litestar
from sqlalchemy import text

from app.http.runtime import runtime_of
from embeddings.model import SentenceEncoder
from tests.data.semantic_catalog import CATALOG, LABELS, QUERIES
from tests.factories import workflow_body

SEARCH = "/api/v1/workflows/search"
WORKFLOWS = "/api/v1/workflows"
# A request matching every workflow of the corpus (they carry "*" for all but signal_type).
FILTERS = {"signal_type": "PrometheusAlert", "severity": "critical", "component": "pod",
           "environment": "production", "priority": "P1"}  # fmt: skip


async def _create(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await client.post(WORKFLOWS, json=workflow_body(**overrides))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _search(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post(SEARCH, json={"filters": FILTERS, **body})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _create_corpus(client: httpx.AsyncClient) -> None:
    for workflow in CATALOG:
        await _create(
            client, workflow_name=workflow.workflow_name, name=workflow.title,
            description=workflow.description, labels=LABELS,
        )  # fmt: skip


async def test_paraphrased_incidents_find_the_right_workflow(client: httpx.AsyncClient) -> None:
    assert len(CATALOG) >= 60
    assert len(QUERIES) >= 20
    await _create_corpus(client)

    # all at once: the micro-batcher groups them; each caller must still get its own answer
    answers = await asyncio.gather(*(_search(client, query=query, top_k=3) for query, _ in QUERIES))

    top = [answer["workflows"][0]["workflow_name"] for answer in answers]
    hits = [found == expected for found, (_, expected) in zip(top, QUERIES, strict=True)]
    misses = [(q, e, f) for (q, e), f, hit in zip(QUERIES, top, hits, strict=True) if not hit]
    assert sum(hits) / len(hits) >= 0.9, misses
    for answer in answers:
        assert answer["total_results"] == len(CATALOG)
        assert answer["skipped_without_embedding"] == 0
        similarities = [w["similarity"] for w in answer["workflows"]]
        assert similarities == sorted(similarities, reverse=True)
        assert all(w["final_score"] == w["similarity"] for w in answer["workflows"])  # no boosts asked


async def test_a_text_query_equals_sending_its_embedding(
    client: httpx.AsyncClient, sentence_encoder: SentenceEncoder
) -> None:
    await _create_corpus(client)
    query = "container killed for using too much memory"
    by_text = await _search(client, query=query, top_k=5)

    vector = sentence_encoder.encode([query])[0]
    by_vector = await _search(client, embedding=[float(x) for x in vector], top_k=5)

    assert [w["workflow_id"] for w in by_vector["workflows"]] == [w["workflow_id"] for w in by_text["workflows"]]
    # a text encoded inside a batch may differ from a solo encode in the 7th decimal (padding)
    for mine, theirs in zip(by_vector["workflows"], by_text["workflows"], strict=True):
        assert mine["similarity"] == pytest.approx(theirs["similarity"], abs=1e-5)


async def test_hybrid_search_never_returns_a_workflow_that_fails_the_label_filter(client: httpx.AsyncClient) -> None:
    description = "Raises the memory limit of containers the kernel killed for running out of memory."
    matching = await _create(client, workflow_name="matching", description=description, labels=LABELS)
    # the same text, a perfect semantic match, but a label that excludes it
    await _create(client, workflow_name="wrong-env", description=description,
                  labels={**LABELS, "environment": "staging"})  # fmt: skip
    await _create(client, workflow_name="wrong-signal", description=description,
                  labels={**LABELS, "signal_type": "OOMKilled"})  # fmt: skip
    await _create(client, workflow_name="not-latest", description=description, labels=LABELS)
    await _create(client, workflow_name="not-latest", version="v2", description="Unrelated: rotates TLS keys.",
                  labels={**LABELS, "component": "node"})  # fmt: skip

    answer = await _search(client, query="containers killed for running out of memory", top_k=100)

    assert [w["workflow_name"] for w in answer["workflows"]] == ["matching"]
    assert answer["workflows"][0]["workflow_id"] == matching["workflow_id"]
    assert answer["total_results"] == 1


async def test_boosts_and_penalties_add_to_similarity_and_decide_the_order(client: httpx.AsyncClient) -> None:
    same = {"name": "Restart pod", "description": "Restarts the crashed pod.", "labels": LABELS}
    plain = await _create(client, workflow_name="plain", **same)
    gitops = await _create(client, workflow_name="gitops", **same,
                           detected_labels={"gitOpsManaged": True, "gitOpsTool": "argocd"})  # fmt: skip

    answer = await _search(client, query="pod crashed", filters={**FILTERS, "detected_labels": {
        "gitOpsManaged": True, "gitOpsTool": "argocd"}})  # fmt: skip

    first, second = answer["workflows"]
    assert first["workflow_id"] == gitops["workflow_id"]
    assert second["workflow_id"] == plain["workflow_id"]
    assert first["similarity"] == second["similarity"]
    assert first["final_score"] == pytest.approx(min(1.0, first["similarity"] + 0.2), abs=1e-6)
    assert second["final_score"] == pytest.approx(max(0.0, second["similarity"] - 0.2), abs=1e-6)
    assert (first["label_boost"], second["label_penalty"]) == (0.2, 0.2)


async def test_equal_scores_are_ordered_by_specificity_then_newest_then_id(client: httpx.AsyncClient) -> None:
    same = {"name": "Drain node", "description": "Cordons and drains the node.", "labels": LABELS}
    wildcard = await _create(client, workflow_name="wildcard", **same)
    exact = await _create(client, workflow_name="exact", **{**same, "labels": {**LABELS, "component": "pod"}})
    older = await _create(client, workflow_name="older", **same)
    newer = await _create(client, workflow_name="newer", **same)

    answer = await _search(client, query="drain the node")

    # "exact" embeds a different label line, so compare the three identical texts among themselves
    similarities = {w["workflow_name"]: w["similarity"] for w in answer["workflows"]}
    assert similarities["wildcard"] == similarities["older"] == similarities["newer"]
    ids = [w["workflow_id"] for w in answer["workflows"]]
    equal_text = [i for i in ids if i != exact["workflow_id"]]
    assert equal_text == [newer["workflow_id"], older["workflow_id"], wildcard["workflow_id"]]


async def test_min_similarity_min_score_and_top_k(client: httpx.AsyncClient) -> None:
    await _create_corpus(client)
    query = "certificate about to expire"
    everything = await _search(client, query=query, top_k=100)
    similarities = [w["similarity"] for w in everything["workflows"]]
    threshold = similarities[4]

    above = await _search(client, query=query, top_k=100, min_similarity=threshold)
    assert [w["similarity"] for w in above["workflows"]] == [s for s in similarities if s >= threshold]
    assert above["total_results"] == len(above["workflows"])

    by_score = await _search(client, query=query, top_k=100, min_score=threshold)
    assert all(w["final_score"] >= threshold for w in by_score["workflows"])

    top_two = await _search(client, query=query, top_k=2)
    assert top_two["workflows"] == everything["workflows"][:2]
    assert top_two["total_results"] == everything["total_results"]


async def test_workflows_without_an_embedding_are_skipped_and_counted(client: httpx.AsyncClient, app: Litestar) -> None:
    ready = await _create(client, workflow_name="ready", labels=LABELS)
    for name in ("pending-1", "pending-2"):
        await _create(client, workflow_name=name, labels=LABELS)
    await _create(client, workflow_name="pending-other-labels", labels={**LABELS, "environment": "staging"})
    async with runtime_of(app).engine.begin() as connection:
        await connection.execute(text("UPDATE workflows SET embedding = NULL WHERE workflow_name LIKE 'pending-%'"))

    answer = await _search(client, query="anything at all")
    assert [w["workflow_id"] for w in answer["workflows"]] == [ready["workflow_id"]]
    assert answer["skipped_without_embedding"] == 2  # the one outside the label filter is no candidate

    none_left = await _search(client, query="anything at all", min_similarity=1.0)
    assert (none_left["workflows"], none_left["total_results"], none_left["skipped_without_embedding"]) == ([], 0, 2)

    label_mode = await _search(client)
    assert label_mode["total_results"] == 3
    assert "skipped_without_embedding" not in label_mode


async def test_a_workflow_whose_embedding_fails_is_stored_pending(client: httpx.AsyncClient, app: Litestar) -> None:
    embedder = runtime_of(app).embeddings.embedder
    assert embedder is not None  # the app has a model
    batcher = embedder.batcher
    healthy = batcher.encoder

    class BrokenEncoder:  # an injected fault: the model raises
        model_id, dimension = healthy.model_id, healthy.dimension

        def encode(self, texts: list[str]) -> np.ndarray:
            raise RuntimeError("model crashed")

    batcher.encoder = BrokenEncoder()
    try:
        created = await _create(client, workflow_name="encoded-later")
    finally:
        batcher.encoder = healthy
    assert created["embedding_status"] == "pending"
    assert "embedding_model" not in created
    stored = (await client.get(f"{WORKFLOWS}/{created['workflow_id']}")).json()
    assert stored["embedding_status"] == "pending"


async def test_without_the_model_semantic_search_is_503_and_label_search_still_works(
    client: httpx.AsyncClient, app: Litestar
) -> None:
    await _create(client, workflow_name="any", labels=LABELS)
    runtime = runtime_of(app).embeddings
    embedder, runtime.embedder = runtime.embedder, None
    try:
        semantic = await client.post(SEARCH, json={"filters": FILTERS, "query": "anything"})
        label = await client.post(SEARCH, json={"filters": FILTERS})
        ready = await client.get("/health/ready")
    finally:
        runtime.embedder = embedder
    assert semantic.status_code == 503
    assert semantic.headers["content-type"].startswith("application/problem+json")
    assert semantic.json()["type"].endswith("/service-unavailable")
    assert label.status_code == 200
    assert label.json()["total_results"] == 1
    assert ready.status_code == 503
    assert "model" in ready.json()["failed"]


async def test_readiness_names_the_model_and_dimension(client: httpx.AsyncClient) -> None:
    body = (await client.get("/health/ready")).json()
    assert (body["model"], body["dimension"], body["model_loaded"]) == (
        "sentence-transformers/all-MiniLM-L6-v2", 384, True,
    )  # fmt: skip


BAD_REQUESTS = [
    pytest.param({"query": "x", "embedding": [0.1] * 384}, {"query", "embedding"}, id="query-and-embedding"),
    pytest.param({"embedding": [0.1] * 383}, {"embedding"}, id="wrong-dimension"),
    pytest.param({"embedding": [0.0] * 384}, {"embedding"}, id="zero-vector"),
    pytest.param({"query": ""}, {"query"}, id="empty-query"),
    pytest.param({"query": "x" * 1001}, {"query"}, id="query-too-long"),
    pytest.param({"min_similarity": 0.5}, {"min_similarity"}, id="min-similarity-without-query"),
    pytest.param({"query": "x", "min_similarity": 1.5}, {"min_similarity"}, id="min-similarity-out-of-range"),
    pytest.param({"embedding": ["a"] * 384}, {"embedding[0]"}, id="non-numeric-embedding"),
]


@pytest.mark.parametrize(("extra", "fields"), BAD_REQUESTS)
async def test_bad_semantic_requests_are_400_naming_the_fields(
    client: httpx.AsyncClient, extra: dict[str, Any], fields: set[str]
) -> None:
    response = await client.post(SEARCH, json={"filters": FILTERS, **extra})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert fields <= set(response.json()["field_errors"]), response.json()
