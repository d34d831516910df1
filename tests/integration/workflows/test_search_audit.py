"""Each search leaves one search_completed audit event, written off the request path, never lost."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar
from sqlalchemy import text

from app.audit.self_audit import SearchAuditBuffer
from app.http.runtime import runtime_of
from app.workflows.schemas import SearchFilters, SearchRequest, SearchResponse
from app.workflows.search_events import search_completed_event
from tests.factories import workflow_body
from tests.faults import remove_trigger_fault, trigger_fault

FILTERS = {"signal_type": "OOMKilled", "severity": "critical", "component": "pod",
           "environment": "production", "priority": "P0"}  # fmt: skip
EVENT_TYPE = "workflow.catalog.search_completed"


async def _search_events(app: Litestar) -> list[dict[str, Any]]:
    async with runtime_of(app).engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT correlation_id, event_data FROM audit_events WHERE event_type = :t"), {"t": EVENT_TYPE}
        )
        return [{"correlation_id": c, "event_data": d} for c, d in rows]


async def _wait_for_events(app: Litestar, count: int, seconds: float = 5.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + seconds
    while len(events := await _search_events(app)) < count and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    return events


@pytest.fixture
async def failing_audit_writes(app: Litestar) -> AsyncIterator[None]:
    """Audit inserts fail (an injected fault) until the test lets them through."""
    body = "RAISE EXCEPTION 'audit store unavailable';"
    async with trigger_fault(runtime_of(app).engine, "refuse_audit", table="audit_events", event="INSERT", body=body):
        yield


async def _let_audit_writes_through(app: Litestar) -> None:
    await remove_trigger_fault(runtime_of(app).engine, "refuse_audit", table="audit_events")


async def test_a_search_writes_one_event_naming_what_it_returned(client: httpx.AsyncClient, app: Litestar) -> None:
    for name in ("a", "b"):
        assert (await client.post("/api/v1/workflows", json=workflow_body(workflow_name=name))).status_code == 201
    response = await client.post("/api/v1/workflows/search", json={"filters": FILTERS, "remediation_id": "rr-7"})
    answer = response.json()

    (event,) = await _wait_for_events(app, 1)

    assert event["correlation_id"] == "rr-7"
    data = event["event_data"]
    assert data["mode"] == "label"
    assert data["total_results"] == answer["total_results"] == 2
    assert [(r["workflow_id"], r["rank"], r["final_score"]) for r in data["results"]] == [
        (w["workflow_id"], w["rank"], w["final_score"]) for w in answer["workflows"]
    ]
    assert data["duration_ms"] >= 0


@pytest.mark.usefixtures("failing_audit_writes")
async def test_events_survive_a_failing_audit_store_and_are_written_once_it_recovers(
    client: httpx.AsyncClient, app: Litestar
) -> None:
    started = time.monotonic()
    responses = [await client.post("/api/v1/workflows/search", json={"filters": FILTERS}) for _ in range(3)]
    assert [r.status_code for r in responses] == [200] * 3
    assert time.monotonic() - started < 2, "a failing audit store must not slow searches"
    await asyncio.sleep(0.5)  # the writer has tried and failed by now
    assert await _search_events(app) == []
    assert runtime_of(app).search_audit.pending == 3

    await _let_audit_writes_through(app)

    assert len(await _wait_for_events(app, 3, seconds=10)) == 3
    await asyncio.sleep(0.3)
    assert len(await _search_events(app)) == 3  # written once each, not again


async def test_closing_the_writer_flushes_what_is_buffered(client: httpx.AsyncClient, app: Litestar) -> None:
    writer = SearchAuditBuffer(runtime_of(app).audit_writer)  # never started
    request = SearchRequest(filters=msgspec.convert(FILTERS, SearchFilters))
    for _ in range(5):
        writer.record(search_completed_event(request, SearchResponse([], 0, request.filters), 1))

    await writer.close()

    assert (writer.pending, writer.written) == (0, 5)
    assert len(await _search_events(app)) == 5
