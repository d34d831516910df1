"""The commit point of audit event and notification writes, hit many times over real HTTP.

Before the COMMIT is sent, a passed deadline or a gone client leaves nothing, stored or queued;
once it is sent, the answer tells what was stored. And one locked monthly partition queues only
its own month's events, while every other month is written at normal latency and read.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.audit import service
from app.factory import create_app
from app.http.runtime import runtime_of
from app.lib.settings import Settings
from embeddings.model import SentenceEncoder
from tests.factories import audit_event_body, notification_audit_body
from tests.servers import asgi_transport, running

EVENTS, BATCH, NOTIFICATIONS = "/api/v1/audit/events", "/api/v1/audit/events/batch", "/api/v1/audit/notifications"
RACE_WRITES = 600  # per kind of write: single events, batches of three, notifications
RACE_DISCONNECTS = 150
LATENCY_SAMPLES = 48


async def _count_by(engine: AsyncEngine, sql: str) -> Counter[str]:
    async with engine.connect() as connection:
        return Counter(str(key) for key in (await connection.execute(text(sql))).scalars())


async def _median_latency(send: Callable[[], Awaitable[httpx.Response]], limit: asyncio.Semaphore) -> float:
    loop = asyncio.get_running_loop()

    async def timed() -> float:
        async with limit:
            started = loop.time()
            assert (await send()).status_code == 201
            return loop.time() - started

    samples = sorted(await asyncio.gather(*(timed() for _ in range(LATENCY_SAMPLES))))
    return samples[len(samples) // 2]


@pytest.mark.parametrize("kind", ["event", "batch", "notification"])
async def test_deadlines_and_disconnects_around_the_commit_leave_all_or_nothing(
    client: httpx.AsyncClient, app: Litestar, kind: str
) -> None:
    """Every 201 is stored once; every 504 and every gone client left nothing half-done: a
    record is stored once or not at all, and no batch is split."""
    rng = random.Random(f"commit-point-{kind}")
    limit = asyncio.Semaphore(16)
    keys = iter(range(10**9))

    def body(key: str) -> Any:
        if kind == "event":
            return audit_event_body(correlation_id=key)
        if kind == "batch":
            return [audit_event_body(correlation_id=key) for _ in range(3)]
        return notification_audit_body(notification_id=key)

    async def send(key: str | None = None, deadline: float | None = None) -> httpx.Response:
        headers = {} if deadline is None else {"X-Request-Timeout": f"{deadline:.4f}"}
        path = {"event": EVENTS, "batch": BATCH, "notification": NOTIFICATIONS}[kind]
        return await client.post(path, json=body(key or f"warm-{next(keys)}"), headers=headers)

    answered: dict[str, int] = {}

    async def post(key: str, deadline: float) -> None:
        async with limit:
            answered[key] = (await send(key, deadline)).status_code

    async def disconnect(key: str, after: float) -> None:
        async with limit:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(send(key), after)

    latency = await _median_latency(send, limit)
    await asyncio.gather(*(post(f"race-{i}", rng.uniform(0.1, 3.0) * latency) for i in range(RACE_WRITES)))
    await asyncio.gather(*(disconnect(f"gone-{i}", rng.uniform(0.0005, 2 * latency)) for i in range(RACE_DISCONNECTS)))
    await asyncio.sleep(0.5)  # anything still unwinding has finished

    # A write the database took too long for (past its share of the deadline, before its
    # COMMIT) is queued, 202: replay the queue, then every accepted record is stored once.
    report = await runtime_of(app).dead_letters.worker.replay_due(drain=True)
    engine = runtime_of(app).engine
    if kind == "notification":
        stored = await _count_by(engine, "SELECT notification_id FROM notification_audit")
    else:
        stored = await _count_by(engine, "SELECT correlation_id FROM audit_events")
    per_write = 3 if kind == "batch" else 1
    statuses = Counter(answered.values())
    assert set(statuses) <= {201, 202, 504}, statuses
    # Past half its deadline the database step gives way to the queue (202); a deadline too
    # short for either answers 504.
    assert statuses[201], f"no write was stored in time: {statuses}"
    assert statuses[202], f"no deadline landed before the commit: {statuses}"
    assert report.buried == report.failed == 0, report
    for key, status in answered.items():
        assert stored[key] == (0 if status == 504 else per_write), (key, status, stored[key])
    assert all(stored[f"gone-{i}"] in (0, per_write) for i in range(RACE_DISCONNECTS)), "a split batch"
    assert await runtime_of(app).dead_letters.queue.depth("events") == 0
    assert await runtime_of(app).dead_letters.queue.depth("notifications") == 0


# --- a locked partition, over HTTP ------------------------------------------------------------

LOCKED_MONTH, OPEN_MONTH = datetime(2025, 1, 20, 12, tzinfo=UTC), datetime(2025, 2, 10, 12, tzinfo=UTC)
LOCKED_PARTITION = "audit_events_y2025m01"


@pytest.fixture
async def queueing_app(
    client: httpx.AsyncClient,  # an empty audit trail, emptied again afterwards
    settings: Settings,
    sentence_encoder: SentenceEncoder,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Litestar]:
    """The service with a 1 s audit write timeout and its retry worker on; events from early
    2025 are accepted (the plausibility window widened), so two months can be written."""
    monkeypatch.setattr(service, "MAX_PAST", datetime.now(UTC) - datetime(2024, 12, 1, tzinfo=UTC))
    configured = settings.with_overrides(
        data_dir=str(tmp_path), dlq_backend="sqlite", dlq_worker=True, audit_write_timeout_seconds=1.0
    )
    async with running(create_app(configured, encoder=sentence_encoder)) as application:
        yield application


async def _timed_post(http: httpx.AsyncClient, at: datetime, key: str) -> tuple[int, float]:
    started = time.perf_counter()
    response = await http.post(EVENTS, json=audit_event_body(event_timestamp=at.isoformat(), correlation_id=key))
    return response.status_code, time.perf_counter() - started


async def test_a_locked_partition_over_http_queues_only_its_month_and_other_months_answer(
    queueing_app: Litestar,
) -> None:
    engine = runtime_of(queueing_app).engine
    transport = asgi_transport(queueing_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        warm = [await _timed_post(http, at, f"warm-{i}") for i, at in enumerate([LOCKED_MONTH, OPEN_MONTH] * 5)]
        assert {status for status, _ in warm} == {201}
        normal = sorted(seconds for _, seconds in warm)[len(warm) // 2]

        async with engine.connect() as locker:
            await locker.begin()
            await locker.execute(text(f"LOCK TABLE {LOCKED_PARTITION} IN ACCESS EXCLUSIVE MODE"))
            blocked = [
                asyncio.create_task(_timed_post(http, LOCKED_MONTH + timedelta(minutes=i), f"locked-{i}"))
                for i in range(8)
            ]
            await asyncio.sleep(0.1)  # their writes are in flight, waiting for the lock
            others = [await _timed_post(http, OPEN_MONTH + timedelta(minutes=i), f"open-{i}") for i in range(12)]
            window: dict[str, str | int] = {
                "since": "2025-02-01T00:00:00Z",
                "until": "2025-02-28T00:00:00Z",
                "limit": 5,
            }
            reads = [await http.get(EVENTS, params=window, headers={"X-Request-Timeout": "2"}) for _ in range(12)]
            locked = await asyncio.gather(*blocked)
            await locker.rollback()

        assert [status for status, _ in others] == [201] * 12, "a write for another month was queued"
        assert max(seconds for _, seconds in others) < max(10 * normal, 0.25), (others, normal)
        assert [response.status_code for response in reads] == [200] * 12, [r.text for r in reads]
        assert reads[-1].json()["pagination"]["total"] == 5 + 12
        assert [status for status, _ in locked] == [202] * 8, locked  # queued within their budget

        async def replayed() -> Counter[str]:
            return await _count_by(
                engine, "SELECT correlation_id FROM audit_events WHERE correlation_id LIKE 'locked-%'"
            )

        for _ in range(150):  # the retry worker replays them within seconds
            if sum((found := await replayed()).values()) >= 8:
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(0.5)  # a second replay, were there one, has had its chance
        assert await replayed() == Counter({f"locked-{i}": 1 for i in range(8)}), found  # each stored once
