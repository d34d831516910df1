"""Listing past remediations, and finding the ones most like an incident."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import text

from app.http.runtime import runtime_of
from tests.factories import remediation_body as remediation

REMEDIATIONS = "/api/v1/audit/remediations"
SEARCH = f"{REMEDIATIONS}/search"
PAST = [
    ("scale_memory", "deployment/api", "container OOMKilled: memory limit 512Mi exceeded", "payments"),
    ("rollback", "deployment/web", "CrashLoopBackOff after release v2.3: nil pointer on start", "shop"),
    ("renew_certificate", "certificate/ingress-tls", "TLS certificate expired for shop.example.com", "shop"),
    ("drain_node", "node/worker-7", "node NotReady: kubelet stopped posting status", "infra"),
    ("expand_volume", "pvc/postgres-data", "volume 95% full: no space left on device", "payments"),
]


async def _record_past(client: httpx.AsyncClient) -> dict[str, str]:
    ids = {}
    for index, (action, target, error, namespace) in enumerate(PAST):
        start = (datetime.now(UTC) - timedelta(hours=len(PAST) - index)).isoformat()
        body = remediation(action_type=action, target_resource=target, error_message=error, namespace=namespace,
                           phase="completed" if index % 2 == 0 else "failed", start_time=start)  # fmt: skip
        response = await client.post(REMEDIATIONS, json=body)
        assert response.json()["vector_store"] == "written"
        ids[action] = response.json()["id"]
    return ids


async def test_list_filters_orders_newest_first_and_pages(client: httpx.AsyncClient) -> None:
    ids = await _record_past(client)
    everything = (await client.get(REMEDIATIONS)).json()
    assert [a["id"] for a in everything["data"]] == [ids[action] for action, *_ in reversed(PAST)]
    assert everything["pagination"] == {"limit": 50, "offset": 0, "total": 5, "has_more": False}

    shop = (await client.get(REMEDIATIONS, params={"namespace": "shop"})).json()
    assert {a["action_type"] for a in shop["data"]} == {"rollback", "renew_certificate"}
    failed = (await client.get(REMEDIATIONS, params={"phase": "failed"})).json()
    assert failed["pagination"]["total"] == 2
    recent = (await client.get(REMEDIATIONS, params={"since": "150m"})).json()
    assert recent["pagination"]["total"] == 2
    page = (await client.get(REMEDIATIONS, params={"limit": 2, "offset": 2})).json()
    assert page["pagination"]["has_more"] is True
    assert [a["id"] for a in page["data"]] == [a["id"] for a in everything["data"][2:4]]


@pytest.mark.parametrize(("params", "field"), [({"phase": "done"}, "phase"), ({"since": "soon"}, "since")])
async def test_bad_list_parameters_are_400(client: httpx.AsyncClient, params: dict[str, Any], field: str) -> None:
    response = await client.get(REMEDIATIONS, params=params)
    assert response.status_code == 400
    assert field in response.json()["field_errors"]


async def test_similar_past_remediations_rank_first(client: httpx.AsyncClient) -> None:
    ids = await _record_past(client)
    queries = {
        "pod was killed for exceeding its memory": "scale_memory",
        "https cert no longer valid on the storefront": "renew_certificate",
        "disk on the database volume ran out of space": "expand_volume",
    }
    for query, expected in queries.items():
        answer = (await client.post(SEARCH, json={"query": query, "top_k": 5})).json()
        assert answer["results"][0]["id"] == ids[expected], (query, answer["results"][0]["action_type"])
        similarities = [r["similarity"] for r in answer["results"]]
        assert similarities == sorted(similarities, reverse=True)
        assert [r["rank"] for r in answer["results"]] == [1, 2, 3, 4, 5]
        assert answer["total_results"] == 5


async def test_search_honours_filters_threshold_and_top_k(client: httpx.AsyncClient) -> None:
    await _record_past(client)
    query = {"query": "memory limit exceeded"}
    only_shop = (await client.post(SEARCH, json={**query, "filters": {"namespace": "shop"}})).json()
    assert {r["namespace"] for r in only_shop["results"]} == {"shop"}
    assert only_shop["total_results"] == 2
    top = (await client.post(SEARCH, json={**query, "top_k": 1})).json()
    assert (len(top["results"]), top["total_results"]) == (1, 5)
    strict = (await client.post(SEARCH, json={**query, "min_similarity": 1.0})).json()
    assert strict == {"results": [], "total_results": 0, "exact": True}


async def test_equal_similarities_are_ordered_by_id_and_pending_audits_are_not_searched(
    client: httpx.AsyncClient, app: Litestar
) -> None:
    same = remediation(error_message="identical text")
    ids = [(await client.post(REMEDIATIONS, json=same)).json()["id"] for _ in range(3)]
    async with runtime_of(app).engine.begin() as connection:
        await connection.execute(text("UPDATE remediation_audits SET vector_store = 'pending' WHERE id = :id"),
                                 {"id": ids[0]})  # fmt: skip
    answer = (await client.post(SEARCH, json={"query": "identical text"})).json()
    assert [r["id"] for r in answer["results"]] == sorted(ids[1:])


async def test_bad_search_requests_are_400(client: httpx.AsyncClient) -> None:
    for body, field in (({"query": ""}, "query"), ({"query": "x", "top_k": 0}, "top_k"),
                        ({"query": "x", "filters": {"phase": "done"}}, "filters.phase"), ({}, "query")):  # fmt: skip
        response = await client.post(SEARCH, json=body)
        assert response.status_code == 400
        assert field in response.json()["field_errors"], response.json()


async def test_without_the_model_similarity_search_is_503_and_listing_still_works(
    client: httpx.AsyncClient, app: Litestar
) -> None:
    await _record_past(client)
    runtime = runtime_of(app).embeddings
    embedder, runtime.embedder = runtime.embedder, None
    try:
        search = await client.post(SEARCH, json={"query": "memory"})
        listing = await client.get(REMEDIATIONS)
    finally:
        runtime.embedder = embedder
    assert search.status_code == 503
    assert search.json()["type"].endswith("/service-unavailable")
    assert listing.json()["pagination"]["total"] == len(PAST)
