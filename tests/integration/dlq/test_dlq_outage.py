"""The database stops in the middle of 1,000 concurrent audit writes and starts again.

Every write answered 201 or 202 must end up stored exactly once with every field as sent, and
none may fail, whichever queue backend holds the records in between. The PostgreSQL here is a
server of this module's own (pgserver), really stopped and started, not the session's.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import text

from app.cli import migrate
from app.factory import create_app
from app.http.runtime import runtime_of
from app.lib.database import asyncpg_url, start_embedded
from app.lib.settings import Settings
from embeddings.model import SentenceEncoder
from tests.factories import audit_event_body
from tests.servers import asgi_transport, running

EVENTS = "/api/v1/audit/events"
WRITES = 1000
CONCURRENCY = 50
STOP_AFTER = 150


class StoppableDatabase:
    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata
        self.server = start_embedded(pgdata)
        self.url = asyncpg_url(self.server.get_uri())

    def stop(self) -> None:
        self.server.cleanup()

    def start(self) -> None:
        self.server = start_embedded(self.pgdata)


@pytest.fixture(scope="module")
def database() -> Iterator[StoppableDatabase]:
    workdir = Path(tempfile.mkdtemp(prefix="workflow-search-outage-"))
    database = StoppableDatabase(workdir / "pgdata")
    migrate.upgrade(database.url)
    yield database
    database.stop()
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
async def outage_app(
    database: StoppableDatabase, dlq_settings: Settings, sentence_encoder: SentenceEncoder
) -> AsyncIterator[Litestar]:
    settings = dlq_settings.with_overrides(
        database_url=database.url,
        audit_write_timeout_seconds=2.0,
        dlq_max_length=WRITES,
        dlq_retry_delays_seconds=(0.5, 0.5, 1.0, 2.0, 5.0, 10.0),
        dlq_poll_interval_seconds=0.2,
        dlq_worker=True,
    )
    async with running(create_app(settings, encoder=sentence_encoder)) as application:
        async with runtime_of(application).engine.begin() as connection:
            await connection.execute(text("TRUNCATE audit_events"))
        yield application


async def write_all(
    http: httpx.AsyncClient, bodies: list[dict[str, Any]], answered: list[Any], stopped: asyncio.Event
) -> None:
    pending = iter(enumerate(bodies))

    async def writer() -> None:
        for index, body in pending:
            if len(answered) >= STOP_AFTER:  # the writes in flight meet the stop; the rest wait for it
                await stopped.wait()
            response = await http.post(EVENTS, json=body)
            answered.append((index, response.status_code, response.json()))
            await asyncio.sleep(0.005)  # spread the load across the outage

    await asyncio.gather(*(writer() for _ in range(CONCURRENCY)))


async def stop_and_restart(database: StoppableDatabase, answered: list[Any], stopped: asyncio.Event) -> dict[str, int]:
    """Stop the database after 150 answers, start it again 300 answers later. A slow stop (a
    loaded machine) must not let every write finish before the database is down."""
    marks: dict[str, int] = {}
    while len(answered) < STOP_AFTER:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    marks["stopping"] = len(answered)
    await asyncio.to_thread(database.stop)
    marks["stopped"] = len(answered)
    stopped.set()
    while len(answered) < marks["stopped"] + 300 and len(answered) < WRITES:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    await asyncio.to_thread(database.start)
    marks["started"] = len(answered)
    return marks


async def test_no_accepted_write_is_lost_or_doubled_through_a_database_restart(
    outage_app: Litestar, database: StoppableDatabase
) -> None:
    bodies = [
        audit_event_body(correlation_id=f"rr-outage-{i}", duration_ms=i, event_data={"n": i, "nested": {"i": [i]}})
        for i in range(WRITES)
    ]
    answered: list[Any] = []
    transport = asgi_transport(outage_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=30) as http:
        stopped = asyncio.Event()
        marks, _ = await asyncio.gather(
            stop_and_restart(database, answered, stopped), write_all(http, bodies, answered, stopped)
        )

    statuses = Counter(status for _, status, _ in answered)
    assert set(statuses) <= {201, 202}, f"{statuses} (outage marks {marks})"
    assert statuses[202] > 0, f"the outage queued nothing: {statuses} {marks}"
    assert statuses[201] > 0

    queue = runtime_of(outage_app).dead_letters.queue
    deadline = time.monotonic() + 60
    while await queue.depth("events") and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    assert await queue.depth("events") == 0
    assert await queue.dead_depth("events") == 0

    async with runtime_of(outage_app).engine.connect() as connection:
        result = await connection.execute(text("SELECT * FROM audit_events"))
        stored = [dict(row) for row in result.mappings()]
    copies = Counter(row["event_id"] for row in stored)
    assert len(stored) == WRITES
    assert set(copies.values()) == {1}
    by_id = {row["event_id"]: row for row in stored}
    for index, _, body in answered:
        row, sent = by_id[UUID(body["event_id"])], bodies[index]
        assert {key: row[key] for key in sent if key != "event_timestamp"} == {
            key: value for key, value in sent.items() if key != "event_timestamp"
        }
        assert row["event_timestamp"].isoformat() == sent["event_timestamp"]
