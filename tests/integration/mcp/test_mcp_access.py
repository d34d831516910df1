"""Access to /mcp: the edge wants a token with ``read``; the writing tool wants ``write`` too."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import httpx2
import msgspec
import pytest
from litestar import Litestar

from app.factory import create_app
from app.http.access import new_token
from app.http.runtime import runtime_of
from app.lib.settings import Settings
from embeddings.model import SentenceEncoder
from tests.factories import audit_event_body
from tests.integration.mcp.clients import BASE, ERAS, answer, mcp_session, problem
from tests.servers import running

READER, READER_ENTRY = new_token("agent", frozenset({"read"}))
WRITER, WRITER_ENTRY = new_token("audit-writer", frozenset({"write"}))
AGENT, AGENT_ENTRY = new_token("remediator", frozenset({"read", "write"}))
CLIENT = {"name": "test", "version": "1"}
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": CLIENT}}  # fmt: skip
FILTERS = {"signal_type": "OOMKilled", "severity": "critical", "component": "pod",
           "environment": "production", "priority": "P0"}  # fmt: skip
ACCEPT = {"Accept": "application/json, text/event-stream"}


@pytest.fixture
async def guarded(
    settings: Settings, sentence_encoder: SentenceEncoder, client: httpx.AsyncClient
) -> AsyncIterator[Litestar]:
    tokens = msgspec.json.encode([READER_ENTRY, WRITER_ENTRY, AGENT_ENTRY]).decode()
    async with running(create_app(settings.with_overrides(auth_tokens=tokens), encoder=sentence_encoder)) as app:
        yield app


async def post(app: Litestar, headers: dict[str, str]) -> httpx2.Response:
    transport = httpx2.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx2.AsyncClient(transport=transport, base_url=BASE) as http:
        return await http.post("/mcp", json=INITIALIZE, headers={**ACCEPT, **headers})


async def test_without_a_token_the_endpoint_is_unauthorized(guarded: Litestar) -> None:
    response = await post(guarded, {})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["type"].endswith("/unauthorized")


async def test_a_token_without_read_does_not_reach_the_endpoint(guarded: Litestar) -> None:
    response = await post(guarded, {"Authorization": f"Bearer {WRITER}"})
    assert response.status_code == 403
    assert "'read'" in response.json()["detail"]


@pytest.mark.parametrize("era", ERAS)
async def test_a_read_only_token_searches_but_cannot_record(
    guarded: Litestar, client: httpx.AsyncClient, era: str
) -> None:
    event = audit_event_body(correlation_id="rr-mcp-refused")
    async with mcp_session(guarded, token=READER, era=era) as session:
        assert (await answer(session, "search_workflows", {"filters": FILTERS}))["total_results"] == 0
        refused = await problem(session, "record_remediation_outcome", event, "forbidden")
        # Refused before its arguments are read: a bad event is refused the same way.
        await problem(session, "record_remediation_outcome", {}, "forbidden")
    assert refused["detail"] == "this token lacks the 'write' scope"
    assert (await client.get("/api/v1/audit/events", params={"correlation_id": "rr-mcp-refused"})).json()["data"] == []


async def test_a_token_with_read_and_write_records_as_its_own_actor(
    guarded: Litestar, client: httpx.AsyncClient
) -> None:
    async with mcp_session(guarded, token=AGENT) as session:
        recorded = await answer(session, "record_remediation_outcome", audit_event_body(correlation_id="rr-mcp-3"))
        await answer(session, "search_workflows", {"filters": FILTERS, "remediation_id": "rr-mcp-3"})
    assert recorded["status"] == "created"
    await runtime_of(guarded).search_audit.flush()
    events = (await client.get("/api/v1/audit/events", params={"correlation_id": "rr-mcp-3"})).json()["data"]
    search = next(e for e in events if e["event_type"] == "workflow.catalog.search_completed")
    assert (search["actor_type"], search["actor_id"]) == ("mcp-client", "remediator")
    assert len(events) == 2


async def test_without_tokens_only_loopback_host_names_are_served(app: Litestar) -> None:
    """Loopback only, as the rest of the API; and a page whose host name was rebound to 127.0.0.1
    (DNS rebinding) does not reach the tools either."""
    transport = httpx2.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx2.AsyncClient(transport=transport, base_url="http://rebound.example") as http:
        assert (await http.post("/mcp", json=INITIALIZE, headers=ACCEPT)).status_code == 421
        origin = {**ACCEPT, "Origin": "http://rebound.example", "Host": "127.0.0.1:8080"}
        assert (await http.post("/mcp", json=INITIALIZE, headers=origin)).status_code == 403


async def test_a_body_over_the_limit_is_a_413_problem(app: Litestar, settings: Settings) -> None:
    transport = httpx2.ASGITransport(app=app)  # type: ignore[arg-type]
    oversized = {**INITIALIZE, "padding": "x" * settings.max_request_body_bytes}
    async with httpx2.AsyncClient(transport=transport, base_url=BASE) as http:
        response = await http.post("/mcp", json=oversized, headers=ACCEPT)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/request-too-large")
