"""Health, readiness, liveness and the OpenAPI document (api.md "Health, metrics, docs")."""

from __future__ import annotations

import httpx
from litestar import Litestar


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
    lifecycle = app.state.lifecycle
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
