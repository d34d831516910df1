"""Health, readiness, liveness and the OpenAPI document (api.md "Health, metrics, docs")."""

from __future__ import annotations

import httpx
from litestar import Litestar

from app.factory import create_app
from app.http.runtime import runtime_of
from app.lib.settings import Settings
from embeddings.model import SentenceEncoder
from tests.factories import audit_event_body
from tests.servers import asgi_transport, free_port, running


async def test_health_reports_the_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "healthy", "database": "connected"}


async def test_ready_while_serving(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/ready")

    assert response.status_code == 200
    assert response.json()["status"] == "ready"
    assert response.json()["database"] == "connected"
    assert not response.json().get("failed")


async def test_live(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live")

    assert response.status_code == 200
    assert response.json() == {"status": "alive"}


async def test_not_ready_while_shutting_down_but_still_live(client: httpx.AsyncClient, app: Litestar) -> None:
    lifecycle = runtime_of(app).lifecycle
    phase = lifecycle.phase
    lifecycle.phase = "shutting_down"
    try:
        ready = await client.get("/health/ready")
        live = await client.get("/health/live")
    finally:
        lifecycle.phase = phase

    assert ready.status_code == 503
    assert ready.json()["status"] == "not_ready"
    assert ready.json()["phase"] == "shutting_down"
    assert ready.json()["failed"] == ["lifecycle"]
    assert live.status_code == 200
    assert (await client.get("/health/ready")).status_code == 200


async def test_openapi_document_and_ui_are_served(client: httpx.AsyncClient) -> None:
    document = await client.get("/schema/openapi.json")
    ui = await client.get("/schema")

    assert document.status_code == 200
    assert document.json()["openapi"].startswith("3.")
    assert "/api/v1/workflows" in document.json()["paths"]
    assert ui.status_code == 200
    assert ui.headers["content-type"].startswith("text/html")


async def test_ready_reports_the_dead_letter_queue(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health/ready")).json()["dead_letter_queue"] == "connected"


async def test_an_unreachable_redis_degrades_but_does_not_stop_writes(
    client: httpx.AsyncClient, settings: Settings, sentence_encoder: SentenceEncoder
) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    degraded = settings.with_overrides(redis_url=nowhere, dlq_write_timeout_seconds=0.5)
    async with running(create_app(degraded, encoder=sentence_encoder)) as application:
        transport = asgi_transport(application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            ready = await http.get("/health/ready")
            written = await http.post("/api/v1/audit/events", json=audit_event_body())
    assert ready.status_code == 200
    assert ready.json()["dead_letter_queue"] == "unreachable"
    assert written.status_code == 201
