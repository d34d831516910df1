"""Connection pool exhaustion: requests wait for a free connection up to the pool wait, then get
503 with Retry-After (reads) or are queued to the dead letter queue (audit writes)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import text

from app.factory import create_app
from app.http.runtime import runtime_of
from app.lib.settings import Settings
from embeddings.model import SentenceEncoder
from tests.factories import audit_event_body
from tests.servers import asgi_transport, running

POOL_SIZE = 2


@asynccontextmanager
async def small_pool(
    settings: Settings, encoder: SentenceEncoder, wait_seconds: float, data_dir: Path
) -> AsyncIterator[Litestar]:
    # data_dir: a queue of its own (the embedded SQLite backend lives there), not the session's.
    small = settings.with_overrides(
        db_pool_size=POOL_SIZE, db_pool_timeout_seconds=wait_seconds, data_dir=str(data_dir)
    )
    async with running(create_app(small, encoder=encoder)) as application:
        yield application


@asynccontextmanager
async def every_connection_taken(application: Litestar) -> AsyncIterator[None]:
    """Check out the whole pool of the app's own engine, as busy requests would."""
    async with AsyncExitStack() as stack:
        for _ in range(POOL_SIZE):
            connection = await stack.enter_async_context(runtime_of(application).engine.connect())
            await connection.execute(text("SELECT 1"))
        yield


def http(application: Litestar) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=asgi_transport(application), base_url="http://testserver")


@pytest.mark.usefixtures("client")  # empty tables
async def test_requests_wait_for_a_free_connection_instead_of_failing(
    settings: Settings, sentence_encoder: SentenceEncoder, tmp_path: Path
) -> None:
    async with small_pool(settings, sentence_encoder, 30, tmp_path) as application, http(application) as client:
        async with every_connection_taken(application):
            waiting = [asyncio.create_task(client.get("/api/v1/workflows")) for _ in range(10)]
            await asyncio.sleep(0.5)
            assert not any(task.done() for task in waiting)  # queued behind the taken connections
        responses = await asyncio.gather(*waiting)
    assert [r.status_code for r in responses] == [200] * 10


@pytest.mark.usefixtures("client")
async def test_past_the_pool_wait_reads_get_503_and_audit_writes_are_queued(
    settings: Settings, sentence_encoder: SentenceEncoder, tmp_path: Path
) -> None:
    async with small_pool(settings, sentence_encoder, 0.3, tmp_path) as application, http(application) as client:
        async with every_connection_taken(application):
            read = await client.get("/api/v1/workflows")
            written = await client.post("/api/v1/audit/events", json=audit_event_body())
        assert read.status_code == 503, read.text
        assert read.headers["content-type"].startswith("application/problem+json")
        assert read.json()["type"].endswith("/service-unavailable")
        assert read.headers["retry-after"] == "1"
        assert written.status_code == 202, written.text
        assert (await runtime_of(application).dead_letters.queue.depth("events")) == 1
        assert (await client.get("/api/v1/workflows")).status_code == 200  # free again


async def _backend_pids(application: Litestar) -> list[int]:
    """The PostgreSQL backends behind every pooled connection of the app."""
    async with AsyncExitStack() as stack:
        pids = []
        for _ in range(POOL_SIZE):
            connection = await stack.enter_async_context(runtime_of(application).engine.connect())
            pids.append(int(await connection.scalar(text("SELECT pg_backend_pid()"))))
        return pids


SEARCH_BODY = {"filters": {"signal_type": "OOMKilled", "severity": "critical", "component": "pod",
                           "environment": "production", "priority": "P0"}}  # fmt: skip
# Both read paths: the request session (SQLAlchemy) and the search's own asyncpg statement.
READS = [("GET", "/api/v1/workflows", None), ("POST", "/api/v1/workflows/search", SEARCH_BODY)]


@pytest.mark.usefixtures("client")
@pytest.mark.parametrize(("method", "path", "body"), READS, ids=["session read", "search"])
async def test_a_connection_lost_to_a_restart_costs_one_503_then_the_pool_is_fresh(
    settings: Settings,
    sentence_encoder: SentenceEncoder,
    tmp_path: Path,
    app: Litestar,
    method: str,
    path: str,
    body: dict[str, object] | None,
) -> None:
    """Without pre-ping a dead pooled connection is found by the statement that uses it: that one
    request gets 503 with Retry-After, and the pool drops every connection as old as it."""
    async with small_pool(settings, sentence_encoder, 30, tmp_path) as application, http(application) as client:
        pids = await _backend_pids(application)
        async with runtime_of(app).engine.connect() as other:  # as a restart would, from the pool's view
            await other.execute(text("SELECT pg_terminate_backend(pid) FROM unnest(CAST(:pids AS int[])) AS pid"),
                                {"pids": pids})  # fmt: skip
        await asyncio.sleep(0.2)
        lost = await client.request(method, path, json=body)
        assert lost.status_code == 503, lost.text
        assert lost.headers["retry-after"] == "1"
        assert lost.json()["type"].endswith("/service-unavailable")
        assert lost.json()["detail"] == "the database is unavailable; retry shortly"
        assert [(await client.request(method, path, json=body)).status_code for _ in range(3)] == [200] * 3
        assert set(await _backend_pids(application)).isdisjoint(pids)
