"""Legal holds over HTTP on the real PostgreSQL: a held event cannot be deleted, even by raw SQL
behind the service's back, until the hold is released; placing and releasing are audited."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
import sqlalchemy.exc
from litestar import Litestar
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.http.runtime import runtime_of
from tests.factories import audit_event_body as event
from tests.problems import assert_problem, field_errors

EVENTS = "/api/v1/audit/events"
HOLDS = "/api/v1/audit/legal-hold"


async def delete_events(engine: AsyncEngine, correlation_id: str, table: str = "audit_events") -> int:
    async with engine.begin() as connection:
        result = await connection.execute(text(f"DELETE FROM {table} WHERE correlation_id = :c"), {"c": correlation_id})
        return int(result.rowcount)


async def partition_of(engine: AsyncEngine, correlation_id: str) -> str:
    async with engine.connect() as connection:
        found = await connection.scalar(
            text("SELECT tableoid::regclass::text FROM audit_events WHERE correlation_id = :c LIMIT 1"),
            {"c": correlation_id},
        )
    return str(found)


@pytest.fixture
async def held(client: httpx.AsyncClient) -> str:
    """A correlation of three stored events."""
    correlation = f"rr-held-{uuid.uuid4().hex[:8]}"
    for i in range(3):
        assert (
            await client.post(EVENTS, json=event(correlation_id=correlation, event_data={"i": i}))
        ).status_code == 201
    return correlation


async def test_a_held_correlation_cannot_be_deleted_until_released(
    client: httpx.AsyncClient, app: Litestar, held: str
) -> None:
    engine = runtime_of(app).engine
    placed = await client.post(HOLDS, json={"correlation_id": held, "reason": "litigation 2026-17"})
    assert placed.status_code == 200, placed.text
    body = placed.json()
    assert {k: body[k] for k in ("correlation_id", "events_affected", "placed_by", "reason")} == {
        "correlation_id": held, "events_affected": 4, "placed_by": "loopback", "reason": "litigation 2026-17",
    }  # fmt: skip
    assert body["placed_at"]

    listed = (await client.get(HOLDS)).json()
    assert listed["total"] == 1
    assert [(h["correlation_id"], h["events_affected"]) for h in listed["legal_holds"]] == [(held, 4)]

    partition = await partition_of(engine, held)
    for table in ("audit_events", partition):  # the parent's trigger is on every partition too
        with pytest.raises(sqlalchemy.exc.IntegrityError, match="under legal hold"):
            await delete_events(engine, held, table)
    with pytest.raises(sqlalchemy.exc.IntegrityError, match="release it instead"):
        async with engine.begin() as connection:
            await connection.execute(text("DELETE FROM audit_legal_holds"))
    other = f"rr-free-{uuid.uuid4().hex[:8]}"
    assert (await client.post(EVENTS, json=event(correlation_id=other))).status_code == 201
    assert await delete_events(engine, other) == 1  # nothing else is held

    released = await client.request("DELETE", f"{HOLDS}/{held}", params={"reason": "case closed"})
    assert released.status_code == 200, released.text
    assert {k: released.json()[k] for k in ("correlation_id", "events_affected", "released_by", "reason")} == {
        "correlation_id": held, "events_affected": 5, "released_by": "loopback", "reason": "case closed",
    }  # fmt: skip
    assert (await client.get(HOLDS)).json() == {"legal_holds": [], "total": 0}
    assert await delete_events(engine, held) == 5


async def test_placing_and_releasing_are_audit_events_in_the_chain(client: httpx.AsyncClient, held: str) -> None:
    assert (await client.post(HOLDS, json={"correlation_id": held, "reason": "audit"})).status_code == 200
    released = await client.request("DELETE", f"{HOLDS}/{held}", json={"reason": "done"})  # the reason in the body
    assert released.status_code == 200, released.text
    trail = (await client.get(EVENTS, params={"correlation_id": held, "event_category": "audit"})).json()["data"]
    by_type: dict[str, Any] = {e["event_type"]: e for e in trail}
    assert set(by_type) == {"audit.legal_hold.placed", "audit.legal_hold.released"}
    assert by_type["audit.legal_hold.placed"]["event_data"]["reason"] == "audit"
    assert by_type["audit.legal_hold.released"]["event_data"]["reason"] == "done"
    assert {e["actor_id"] for e in trail} == {"loopback"}
    verified = (await client.post("/api/v1/audit/verify-chain", json={"correlation_id": held})).json()
    assert (verified["is_valid"], verified["verified_events"]) == (True, 5), verified


async def test_a_hold_can_be_placed_again_once_released(client: httpx.AsyncClient, held: str) -> None:
    assert (await client.post(HOLDS, json={"correlation_id": held, "reason": "first"})).status_code == 200
    assert_problem(await client.post(HOLDS, json={"correlation_id": held, "reason": "again"}), 409, "conflict")
    assert (await client.request("DELETE", f"{HOLDS}/{held}", params={"reason": "over"})).status_code == 200
    assert (await client.post(HOLDS, json={"correlation_id": held, "reason": "second"})).status_code == 200
    assert [h["reason"] for h in (await client.get(HOLDS)).json()["legal_holds"]] == ["second"]


async def test_bad_hold_requests(client: httpx.AsyncClient, held: str) -> None:
    for body in ({"reason": "r"}, {"correlation_id": "", "reason": "r"}):
        assert_problem(await client.post(HOLDS, json=body), 400, "missing-correlation-id")
    for body in ({"correlation_id": held}, {"correlation_id": held, "reason": " "}):
        assert "reason" in field_errors(await client.post(HOLDS, json=body))
    assert_problem(await client.request("DELETE", f"{HOLDS}/no-such-hold", params={"reason": "x"}), 404, "not-found")
    assert (await client.post(HOLDS, json={"correlation_id": held, "reason": "r"})).status_code == 200
    assert "reason" in field_errors(await client.request("DELETE", f"{HOLDS}/{held}"))
    assert (await client.get(HOLDS)).json()["total"] == 1  # still held
