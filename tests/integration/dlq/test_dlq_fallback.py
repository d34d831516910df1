"""Audit writes the database cannot take go to the dead letter queue (202) and are replayed once.

The fault is real: another session holds an exclusive lock on the table, so the write times out
exactly as it would against an overloaded database. Each case runs on both queue backends.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import msgspec
import pytest
from litestar import Litestar
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.audit.notification_schemas import NotificationAudit
from app.audit.partitions import PartitionKeeper
from app.audit.replay import AuditReplayer, events_payload, notification_payload
from app.audit.schemas import AuditEventRequest
from app.audit.service import stored_row
from app.dlq.queue import QueuedRecord, QueueError, ReplayRejected, Stream
from app.dlq.runtime import replay_worker
from app.factory import create_app
from app.http.runtime import runtime_of
from app.lib.settings import Settings
from embeddings.model import SentenceEncoder
from tests.factories import audit_event_body, notification_audit_body
from tests.servers import asgi_transport, running

EVENTS = "/api/v1/audit/events"
BATCH = "/api/v1/audit/events/batch"
NOTIFICATIONS = "/api/v1/audit/notifications"


@pytest.fixture
async def dlq_app(
    dlq_settings: Settings, sentence_encoder: SentenceEncoder, client: httpx.AsyncClient
) -> AsyncIterator[Litestar]:
    """A service on ``dlq_backend`` whose audit writes give up on the database after 0.5 s,
    and whose worker replays a queued record a second after it was queued."""
    settings = dlq_settings.with_overrides(
        audit_write_timeout_seconds=0.5,
        dlq_retry_delays_seconds=(1.0, 1.0, 60.0),
        dlq_max_length=1000,
        dlq_worker=True,
    )
    async with running(create_app(settings, encoder=sentence_encoder)) as application:
        yield application


@pytest.fixture
async def http(dlq_app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=asgi_transport(dlq_app), base_url="http://testserver") as client:
        yield client


@asynccontextmanager
async def table_locked(engine: AsyncEngine, table: str) -> AsyncIterator[None]:
    """Another session holds ACCESS EXCLUSIVE on ``table``: every read and write of it waits."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        await connection.execute(text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
        try:
            yield
        finally:
            await transaction.rollback()


async def rows(engine: AsyncEngine, sql: str, **params: Any) -> list[dict[str, Any]]:
    async with engine.connect() as connection:
        return [dict(row) for row in (await connection.execute(text(sql), params)).mappings()]


async def wait_for(
    engine: AsyncEngine, sql: str, count: int, seconds: float = 10.0, **params: Any
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + seconds
    while len(found := await rows(engine, sql, **params)) < count and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    return found


async def queued(app: Litestar, stream: Stream = "events") -> int:
    depth: int = await runtime_of(app).dead_letters.queue.depth(stream)
    return depth


def as_sent(event: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
    """The stored row's fields that the client sent, in the client's own form."""
    sent = {key: stored[key] for key in event}
    sent["event_timestamp"] = stored["event_timestamp"].isoformat().replace("+00:00", "Z")
    return sent


async def test_a_single_event_is_accepted_with_202_and_stored_once_after_the_outage(
    http: httpx.AsyncClient, dlq_app: Litestar
) -> None:
    engine = runtime_of(dlq_app).engine
    event = audit_event_body(event_timestamp=datetime.now(UTC).isoformat().replace("+00:00", "Z"), duration_ms=42)
    async with table_locked(engine, "audit_events"):
        response = await http.post(EVENTS, json=event)
        assert response.status_code == 202, response.text
        assert await queued(dlq_app) == 1
    body = response.json()
    assert body["message"] == "audit event queued for storage"
    assert body["status"] == "accepted"
    assert body["event_timestamp"] == event["event_timestamp"]

    (stored,) = await wait_for(engine, "SELECT * FROM audit_events WHERE event_id = :id", 1, id=UUID(body["event_id"]))
    assert as_sent(event, stored) == event
    assert await queued(dlq_app) == 0
    await asyncio.sleep(1.2)  # another replay round: still exactly one row
    assert len(await rows(engine, "SELECT 1 FROM audit_events WHERE event_id = :id", id=UUID(body["event_id"]))) == 1


async def test_a_batch_is_queued_whole_and_stored_in_one_piece(http: httpx.AsyncClient, dlq_app: Litestar) -> None:
    engine = runtime_of(dlq_app).engine
    batch = [audit_event_body(correlation_id=f"rr-{i}") for i in range(25)]
    async with table_locked(engine, "audit_events"):
        response = await http.post(BATCH, json=batch)
        assert response.status_code == 202, response.text
        assert await queued(dlq_app) == 1  # one record: all or nothing
    event_ids = [UUID(event_id) for event_id in response.json()["event_ids"]]
    assert response.json()["message"] == "25 audit events queued for storage"
    assert response.json()["status"] == "accepted"

    stored = await wait_for(engine, "SELECT event_id, correlation_id FROM audit_events", 25)
    assert sorted((r["event_id"], r["correlation_id"]) for r in stored) == sorted(
        zip(event_ids, [e["correlation_id"] for e in batch], strict=True)
    )


async def test_a_notification_audit_is_accepted_with_the_reference_202_body(
    http: httpx.AsyncClient, dlq_app: Litestar
) -> None:
    engine = runtime_of(dlq_app).engine
    sent = notification_audit_body(notification_id="n-dlq-1", escalation_level=2)
    async with table_locked(engine, "notification_audit"):
        response = await http.post(NOTIFICATIONS, json=sent)
        assert response.status_code == 202, response.text
    assert response.json() == {
        "status": "accepted", "message": "audit record queued for processing", "notification_id": "n-dlq-1",
    }  # fmt: skip

    (stored,) = await wait_for(engine, "SELECT * FROM notification_audit WHERE notification_id = 'n-dlq-1'", 1)
    assert msgspec.convert(stored, NotificationAudit) == msgspec.convert(sent, NotificationAudit)
    assert await queued(dlq_app, "notifications") == 0


async def test_database_and_queue_both_failing_is_a_database_error_that_stores_nothing(
    http: httpx.AsyncClient, dlq_app: Litestar, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refuse(stream: str, payload: bytes) -> int:
        raise QueueError("injected: queue unavailable")

    monkeypatch.setattr(runtime_of(dlq_app).dead_letters.queue, "enqueue", refuse)
    engine = runtime_of(dlq_app).engine
    async with table_locked(engine, "audit_events"):
        single = await http.post(EVENTS, json=audit_event_body())
        batch = await http.post(BATCH, json=[audit_event_body(), audit_event_body()])
    for response in (single, batch):
        assert response.status_code == 500, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["type"].endswith("/database-error")
        assert "dead letter queue" in problem["detail"]
    await asyncio.sleep(0.5)  # a commit that was only late would show by now
    assert await rows(engine, "SELECT 1 FROM audit_events") == []
    assert await queued(dlq_app) == 0


async def test_a_replayed_event_chains_after_what_its_correlation_stored_meanwhile(
    http: httpx.AsyncClient, dlq_app: Litestar
) -> None:
    engine = runtime_of(dlq_app).engine
    first = await http.post(EVENTS, json=audit_event_body(correlation_id="rr-replayed", event_data={"n": 1}))
    async with table_locked(engine, "audit_events"):
        queued_one = await http.post(EVENTS, json=audit_event_body(correlation_id="rr-replayed", event_data={"n": 2}))
    assert queued_one.status_code == 202, queued_one.text
    meanwhile = await http.post(EVENTS, json=audit_event_body(correlation_id="rr-replayed", event_data={"n": 3}))
    assert (first.status_code, meanwhile.status_code) == (201, 201)
    sql = "SELECT event_id FROM audit_events WHERE correlation_id = 'rr-replayed' ORDER BY chain_sequence"
    stored = await wait_for(engine, sql, 3)
    expected = [UUID(r.json()["event_id"]) for r in (first, meanwhile, queued_one)]
    assert [row["event_id"] for row in stored] == expected  # the replay linked after the later write
    verified = (await http.post("/api/v1/audit/verify-chain", json={"correlation_id": "rr-replayed"})).json()
    assert (verified["is_valid"], verified["verified_events"]) == (True, 3), verified
    replayer = AuditReplayer(engine, runtime_of(dlq_app).audit_writer.partitions)
    rows_again = await rows(engine, "SELECT * FROM audit_events WHERE event_id = :id", id=expected[2])
    payload = events_payload([{key: rows_again[0][key] for key in AuditEventRequest.__struct_fields__} | {
        "event_id": expected[2], "event_date": rows_again[0]["event_date"]}])  # fmt: skip
    await replayer.replay(QueuedRecord("events", "1", payload, 0, 0.0))  # a second replay adds nothing
    again = (await http.post("/api/v1/audit/verify-chain", json={"correlation_id": "rr-replayed"})).json()
    assert (again["is_valid"], again["total_events"]) == (True, 3), again


async def test_a_record_replayed_twice_is_stored_once(dlq_app: Litestar) -> None:
    engine = runtime_of(dlq_app).engine
    row = stored_row(msgspec.convert(audit_event_body(), AuditEventRequest), uuid4())
    notification = msgspec.convert(notification_audit_body(notification_id="n-twice"), NotificationAudit)
    replayer = AuditReplayer(engine, runtime_of(dlq_app).audit_writer.partitions)
    for _ in range(2):
        await replayer.replay(QueuedRecord("events", "1", events_payload([row]), 0, 0.0))
        await replayer.replay(QueuedRecord("notifications", "2", notification_payload(notification), 0, 0.0))
    assert len(await rows(engine, "SELECT 1 FROM audit_events WHERE event_id = :id", id=row["event_id"])) == 1
    assert len(await rows(engine, "SELECT 1 FROM notification_audit WHERE notification_id = 'n-twice'")) == 1


async def test_a_queued_notification_that_conflicts_with_a_stored_one_goes_to_the_dead_letters(
    http: httpx.AsyncClient, dlq_app: Litestar
) -> None:
    engine = runtime_of(dlq_app).engine
    async with table_locked(engine, "notification_audit"):
        queued_one = await http.post(NOTIFICATIONS, json=notification_audit_body(notification_id="n-x", recipient="a"))
    assert queued_one.status_code == 202
    # Before the replay, a different record under the same id is stored directly.
    stored = await http.post(NOTIFICATIONS, json=notification_audit_body(notification_id="n-x", recipient="b"))
    assert stored.status_code == 201

    queue = runtime_of(dlq_app).dead_letters.queue
    deadline = time.monotonic() + 10
    while await queue.dead_depth("notifications") == 0 and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    (dead,) = await queue.dead_letters("notifications", 10)
    assert "already stored with other content" in dead.reason
    assert msgspec.json.decode(dead.payload)["recipient"] == "a"  # the whole payload is kept
    assert [r["recipient"] for r in await rows(engine, "SELECT recipient FROM notification_audit")] == ["b"]


async def test_an_event_older_than_the_age_limit_is_still_replayed(dlq_app: Litestar) -> None:
    """The 7-day limit applied when the event was accepted; a day in the queue must not void it."""
    event = audit_event_body(event_timestamp=(datetime.now(UTC) - timedelta(days=8)).isoformat())
    row = stored_row(msgspec.convert(event, AuditEventRequest), uuid4())
    await AuditReplayer(runtime_of(dlq_app).engine, runtime_of(dlq_app).audit_writer.partitions).replay(
        QueuedRecord("events", "1", events_payload([row]), 0, 0.0)
    )
    found = await rows(
        runtime_of(dlq_app).engine, "SELECT 1 FROM audit_events WHERE event_id = :id", id=row["event_id"]
    )
    assert len(found) == 1


async def test_an_unreadable_payload_is_rejected_for_the_dead_letters(dlq_app: Litestar) -> None:
    replayer = AuditReplayer(runtime_of(dlq_app).engine, runtime_of(dlq_app).audit_writer.partitions)
    with pytest.raises(ReplayRejected, match="unreadable"):
        await replayer.replay(QueuedRecord("events", "1", b'{"events": [{"nope": 1}]}', 0, 0.0))


async def test_search_audit_events_go_to_the_queue_when_the_database_cannot_take_them(
    http: httpx.AsyncClient, dlq_app: Litestar
) -> None:
    filters = {"signal_type": "OOMKilled", "severity": "critical", "component": "pod",
               "environment": "production", "priority": "P0"}  # fmt: skip
    engine = runtime_of(dlq_app).engine
    async with table_locked(engine, "audit_events"):
        for _ in range(3):
            assert (await http.post("/api/v1/workflows/search", json={"filters": filters})).status_code == 200
        await runtime_of(dlq_app).search_audit.flush()
        assert runtime_of(dlq_app).search_audit.pending == 0
        assert await queued(dlq_app) == 1
    found = await wait_for(
        engine, "SELECT 1 FROM audit_events WHERE event_type = 'workflow.catalog.search_completed'", 3
    )
    assert len(found) == 3


async def test_a_short_request_deadline_still_leaves_the_queue_its_own_time(
    http: httpx.AsyncClient, dlq_app: Litestar
) -> None:
    """0.4 s for the whole request: the database gets half, the queue write the rest: 202, not 504."""
    async with table_locked(runtime_of(dlq_app).engine, "audit_events"):
        response = await http.post(EVENTS, json=audit_event_body(), headers={"X-Request-Timeout": "0.4"})
    assert response.status_code == 202, response.text


async def test_two_workers_replaying_one_queue_store_each_record_once(dlq_app: Litestar) -> None:
    """Two replicas' workers at once: every claim is exclusive, every record stored exactly once."""
    queue, engine = runtime_of(dlq_app).dead_letters.queue, runtime_of(dlq_app).engine
    await runtime_of(dlq_app).dead_letters.stop_worker()  # only the two workers below replay
    rows_by_record = [stored_row(msgspec.convert(audit_event_body(), AuditEventRequest), uuid4()) for _ in range(60)]
    for row in rows_by_record:
        await queue.enqueue("events", events_payload([row]))
    workers = [
        replay_worker(runtime_of(dlq_app).settings, queue, AuditReplayer(engine, PartitionKeeper(engine)))
        for _ in range(2)
    ]
    for index, worker in enumerate(workers):
        worker.consumer = f"replica-{index}"
    await asyncio.sleep(1.1)  # the first delay passes: all records are due

    reports = await asyncio.gather(*(worker.replay_due() for worker in workers))

    assert sum(report.replayed for report in reports) == 60
    assert await queue.depth("events") == 0
    stored = await rows(engine, "SELECT event_id FROM audit_events")
    assert sorted(r["event_id"] for r in stored) == sorted(row["event_id"] for row in rows_by_record)
