"""Request deadlines: the client gets 504, and the database work is cancelled, not abandoned."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import text

from app.http.deadlines import parse_timeout
from app.http.runtime import runtime_of
from tests.factories import workflow_body
from tests.faults import trigger_fault

WORKFLOWS = "/api/v1/workflows"
SLOW_SECONDS = 5


@pytest.fixture
async def slow_inserts(app: Litestar) -> AsyncIterator[None]:
    """Every insert into workflows sleeps in PostgreSQL (an injected fault)."""
    body = f"PERFORM pg_sleep({SLOW_SECONDS}); RETURN NEW;"
    async with trigger_fault(runtime_of(app).engine, "slow_insert", table="workflows", event="INSERT", body=body):
        yield


async def _sleeping_statements(app: Litestar) -> int:
    async with runtime_of(app).engine.connect() as connection:
        return int(await connection.scalar(text(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE state = 'active' AND query LIKE 'INSERT INTO workflows%' AND pid <> pg_backend_pid()"
        )) or 0)  # fmt: skip


async def _rows(app: Litestar) -> int:
    async with runtime_of(app).engine.connect() as connection:
        return int(await connection.scalar(text("SELECT count(*) FROM workflows")) or 0)


@pytest.mark.usefixtures("slow_inserts")
async def test_a_slow_query_past_its_deadline_is_a_504_and_is_cancelled_in_postgresql(
    client: httpx.AsyncClient, app: Litestar
) -> None:
    started = time.monotonic()
    response = await client.post(WORKFLOWS, json=workflow_body(), headers={"X-Request-Timeout": "0.1"})
    elapsed = time.monotonic() - started

    assert response.status_code == 504
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/request-timeout")
    assert elapsed < SLOW_SECONDS / 2, "the client waited for the slow query"
    # cancelled in the server, not left running: gone well before its pg_sleep would end
    deadline = time.monotonic() + 2
    while await _sleeping_statements(app) and time.monotonic() < deadline:  # noqa: ASYNC110 - polls PostgreSQL
        await asyncio.sleep(0.05)
    assert await _sleeping_statements(app) == 0
    assert await _rows(app) == 0


async def test_a_zero_deadline_fails_fast_and_writes_nothing(client: httpx.AsyncClient, app: Litestar) -> None:
    response = await client.post(WORKFLOWS, json=workflow_body(), headers={"X-Request-Timeout": "0"})
    assert response.status_code == 504
    assert await _rows(app) == 0


async def test_a_request_within_its_deadline_is_served(client: httpx.AsyncClient) -> None:
    response = await client.post(WORKFLOWS, json=workflow_body(), headers={"X-Request-Timeout": "30"})
    assert response.status_code == 201


@pytest.mark.parametrize("value", ["soon", "-1", "nan-ish"])
async def test_a_malformed_timeout_header_is_400(client: httpx.AsyncClient, value: str) -> None:
    response = await client.get("/health/live", headers={"X-Request-Timeout": value})
    assert response.status_code == 400
    assert "X-Request-Timeout" in response.json()["field_errors"]


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, 10.0), (b"2.5", 2.5), (b"60", 10.0), (b"inf", 10.0), (b"nan", None), (b"-0.5", None)],
)
def test_a_client_may_shorten_the_deadline_but_not_lengthen_it(header: bytes | None, expected: float | None) -> None:
    assert parse_timeout(header, 10.0) == expected
