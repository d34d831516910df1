"""The hash chain of each correlation, over HTTP on the real PostgreSQL: every write path links,
concurrent appends never fork, and verification names the event changed behind the service's back."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import msgspec
from litestar import Litestar
from sqlalchemy import text

from app.audit.canonical import ChainHasher
from app.audit.chain import ChainAppender
from app.audit.group_commit import GroupCommitter
from app.audit.repository import AuditRepository
from app.audit.schemas import AuditEventRequest
from app.audit.service import stored_row
from app.audit.verification import ChainVerifier
from app.http.runtime import runtime_of
from tests.factories import audit_event_body as event
from tests.problems import assert_problem

EVENTS = "/api/v1/audit/events"
BATCH = "/api/v1/audit/events/batch"
VERIFY = "/api/v1/audit/verify-chain"
# Values whose JSON spelling jsonb does not keep: the canonical form must not depend on it.
AWKWARD_DATA: dict[str, Any] = {
    "big": 1e20, "tiny": 1e-7, "tenth": 0.1, "whole": 3.0, "negative_zero": -0.0, "huge_int": 2**70,
    "text": "naïve \u2028 \"quoted\" \\ tab\t", "nothing": None, "list": [1, 2.5, {"b": 1, "a": [True, False]}],
}  # fmt: skip


async def verify(client: httpx.AsyncClient, correlation_id: str) -> dict[str, Any]:
    response = await client.post(VERIFY, json={"correlation_id": correlation_id})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def chain_rows(app: Litestar, correlation_id: str) -> list[dict[str, Any]]:
    async with runtime_of(app).engine.connect() as connection:
        result = await connection.execute(
            text(
                "SELECT event_id, chain_sequence, previous_event_hash, event_hash, event_data FROM audit_events "
                "WHERE correlation_id = :c ORDER BY chain_sequence"
            ),
            {"c": correlation_id},
        )
        return [dict(row) for row in result.mappings()]


def assert_linear(rows: list[dict[str, Any]]) -> None:
    """One chain, no fork: sequences 1..N, each event linked to the one before it."""
    assert [row["chain_sequence"] for row in rows] == list(range(1, len(rows) + 1))
    previous = [row["previous_event_hash"] for row in rows]
    assert previous == [None] + [row["event_hash"] for row in rows[:-1]]
    assert len(set(previous)) == len(previous)


async def test_a_chain_of_several_events_verifies(client: httpx.AsyncClient, app: Litestar) -> None:
    correlation = f"rr-chain-{uuid.uuid4().hex[:8]}"
    ids = []
    for i in range(5):
        data = {**AWKWARD_DATA, "i": i}
        created = await client.post(EVENTS, json=event(correlation_id=correlation, event_data=data))
        assert created.status_code == 201, created.text
        ids.append(uuid.UUID(created.json()["event_id"]))
    assert (await client.post(EVENTS, json=event(correlation_id="rr-other"))).status_code == 201

    answer = await verify(client, correlation)
    assert answer["is_valid"] is True, answer
    assert (answer["total_events"], answer["verified_events"], answer["tampered_events"]) == (5, 5, [])
    assert answer["correlation_id"] == correlation
    assert answer["message"]
    assert answer["verification_time"]
    rows = await chain_rows(app, correlation)
    assert [row["event_id"] for row in rows] == ids
    assert_linear(rows)
    assert all(len(row["event_hash"]) == 64 for row in rows)
    queried = (await client.get(EVENTS, params={"correlation_id": correlation})).json()["data"]
    assert {e["event_id"]: e["event_hash"] for e in queried} == {str(r["event_id"]): r["event_hash"] for r in rows}
    assert {e["hash_algorithm"] for e in queried} == {"sha256"}


async def test_an_event_changed_behind_the_services_back_is_named(client: httpx.AsyncClient, app: Litestar) -> None:
    correlation = f"rr-tamper-{uuid.uuid4().hex[:8]}"
    ids = [
        (await client.post(EVENTS, json=event(correlation_id=correlation, event_data={"i": i}))).json()["event_id"]
        for i in range(4)
    ]
    async with runtime_of(app).engine.begin() as connection:
        await connection.execute(
            text("UPDATE audit_events SET event_data = '{\"i\": 99}' WHERE event_id = :id"), {"id": ids[2]}
        )
    answer = await verify(client, correlation)
    assert answer["is_valid"] is False
    assert answer["tampered_events"] == [ids[2]]
    assert (answer["total_events"], answer["verified_events"]) == (4, 3)


async def test_an_event_removed_from_the_middle_or_the_end_is_found(client: httpx.AsyncClient, app: Litestar) -> None:
    correlation = f"rr-removed-{uuid.uuid4().hex[:8]}"
    ids = [
        (await client.post(EVENTS, json=event(correlation_id=correlation, event_data={"i": i}))).json()["event_id"]
        for i in range(4)
    ]
    async with runtime_of(app).engine.begin() as connection:
        await connection.execute(text("DELETE FROM audit_events WHERE event_id = :id"), {"id": ids[3]})
    answer = await verify(client, correlation)
    assert (answer["is_valid"], answer["tampered_events"]) == (False, [ids[3]])  # the head names it
    async with runtime_of(app).engine.begin() as connection:
        await connection.execute(text("DELETE FROM audit_events WHERE event_id = :id"), {"id": ids[1]})
    answer = await verify(client, correlation)
    assert answer["is_valid"] is False
    assert set(answer["tampered_events"]) == {ids[2], ids[3]}  # the event after the gap, and the lost head


async def test_32_concurrent_writers_leave_one_linear_chain(client: httpx.AsyncClient, app: Litestar) -> None:
    correlation = f"rr-race-{uuid.uuid4().hex[:8]}"

    async def write(writer: int) -> int:
        if writer % 2:  # a batch: a transaction of its own
            batch = [event(correlation_id=correlation, event_data={"w": writer, "n": n}) for n in range(3)]
            response = await client.post(BATCH, json=batch)
            return response.status_code
        response = await client.post(EVENTS, json=event(correlation_id=correlation, event_data={"w": writer}))
        return response.status_code  # a single event: group commit

    async def verify_meanwhile() -> list[dict[str, Any]]:
        answers = []
        for _ in range(8):  # each in one snapshot: a chain mid-append is a valid, shorter chain
            answers.append(await verify(client, correlation))
            await asyncio.sleep(0.01)
        return answers

    checking = asyncio.create_task(verify_meanwhile())
    assert await asyncio.gather(*(write(writer) for writer in range(32))) == [201] * 32
    meanwhile = await checking
    assert [(a["is_valid"], a["tampered_events"]) for a in meanwhile] == [(True, [])] * 8, meanwhile
    rows = await chain_rows(app, correlation)
    assert len(rows) == 16 + 16 * 3
    assert_linear(rows)
    for writer in range(1, 32, 2):  # each batch's events in its own order (others may come between)
        batch = [row["event_data"]["n"] for row in rows if row["event_data"]["w"] == writer]
        assert batch == [0, 1, 2]
    answer = await verify(client, correlation)
    assert (answer["is_valid"], answer["verified_events"]) == (True, 64), answer


async def test_a_group_committed_burst_chains_in_order(client: httpx.AsyncClient, app: Litestar) -> None:
    correlation = f"rr-burst-{uuid.uuid4().hex[:8]}"
    committer = runtime_of(app).audit_writer.group_commit
    rows = [
        stored_row(
            msgspec.convert(event(correlation_id=correlation, event_data={"n": n}), AuditEventRequest), uuid.uuid4()
        )
        for n in range(40)
    ]
    await asyncio.gather(*(committer.write(row) for row in rows))  # queued in this order, one or two groups
    assert max(committer.group_sizes[-40:]) > 1
    stored = await chain_rows(app, correlation)
    assert [row["event_id"] for row in stored] == [row["event_id"] for row in rows]
    assert_linear(stored)
    assert (await verify(client, correlation))["is_valid"] is True


async def test_an_hmac_chain_verifies_only_with_its_key(client: httpx.AsyncClient, app: Litestar) -> None:
    engine = runtime_of(app).engine
    key = b"k" * 32
    keyed = GroupCommitter(
        engine, runtime_of(app).audit_writer.partitions, commit_timeout=10, chain=ChainAppender(ChainHasher(key))
    )
    correlation = f"rr-hmac-{uuid.uuid4().hex[:8]}"
    try:
        for n in range(3):
            body = event(correlation_id=correlation, event_data={"n": n})
            await keyed.write(stored_row(msgspec.convert(body, AuditEventRequest), uuid.uuid4()))
    finally:
        await keyed.close()
    without_key = await verify(client, correlation)  # the service here has no key
    assert (without_key["is_valid"], without_key["verified_events"], without_key["tampered_events"]) == (False, 0, [])
    assert "no key" in without_key["message"]
    async with runtime_of(app).sessionmaker() as session:
        with_key = await ChainVerifier(AuditRepository(session), ChainHasher(key)).verify(correlation)
        wrong_key = await ChainVerifier(AuditRepository(session), ChainHasher(b"x" * 32)).verify(correlation)
    assert (with_key.is_valid, with_key.verified_events) == (True, 3)
    assert len(wrong_key.tampered_events) == 3


async def test_events_stored_with_the_chain_off_are_counted_unchained(client: httpx.AsyncClient, app: Litestar) -> None:
    engine = runtime_of(app).engine
    off = GroupCommitter(
        engine, runtime_of(app).audit_writer.partitions, commit_timeout=10, chain=ChainAppender(enabled=False)
    )
    correlation = f"rr-off-{uuid.uuid4().hex[:8]}"
    try:
        await off.write(stored_row(msgspec.convert(event(correlation_id=correlation), AuditEventRequest), uuid.uuid4()))
    finally:
        await off.close()
    assert (await client.post(EVENTS, json=event(correlation_id=correlation))).status_code == 201
    answer = await verify(client, correlation)
    assert (answer["is_valid"], answer["total_events"], answer["verified_events"]) == (False, 2, 1)
    assert answer["tampered_events"] == []
    assert "without a chain" in answer["message"]


async def test_a_correlation_with_no_events_is_an_empty_valid_chain(client: httpx.AsyncClient) -> None:
    answer = await verify(client, "rr-nothing-here")
    assert (answer["is_valid"], answer["total_events"], answer["tampered_events"]) == (True, 0, [])


async def test_verification_needs_a_correlation_id(client: httpx.AsyncClient) -> None:
    for body in ({}, {"correlation_id": ""}, {"correlation_id": None}):
        assert_problem(await client.post(VERIFY, json=body), 400, "missing-correlation-id")
