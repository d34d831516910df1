"""One locked monthly partition delays only its own month's events; reads of other months answer."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec
from litestar import Litestar
from sqlalchemy import text

from app.audit.group_commit import GroupCommitter
from app.audit.partitions import PartitionKeeper
from app.audit.schemas import AuditEventRequest
from app.audit.service import stored_row
from tests.factories import audit_event_body

LOCKED, OPEN = datetime(2025, 1, 15, 12, tzinfo=UTC), datetime(2025, 2, 15, 12, tzinfo=UTC)
EVENTS = "/api/v1/audit/events"


def row(at: datetime) -> dict[str, Any]:
    event = msgspec.convert(audit_event_body(event_timestamp=at.isoformat()), AuditEventRequest, strict=False)
    return stored_row(event, uuid.uuid4())


async def _timed_write(committer: GroupCommitter, at: datetime) -> float:
    loop = asyncio.get_running_loop()
    started = loop.time()
    await committer.write(row(at))
    return loop.time() - started


async def test_a_locked_partition_delays_only_its_own_events_and_reads_of_other_months_answer(
    client: httpx.AsyncClient, app: Litestar
) -> None:
    engine = app.state.engine
    partitions = PartitionKeeper(engine)
    await partitions.ensure([LOCKED.date(), OPEN.date()])
    committer = GroupCommitter(engine, partitions, commit_timeout=30.0)
    normal = max([await _timed_write(committer, OPEN) for _ in range(10)])
    try:
        async with engine.connect() as locker:
            await locker.begin()
            await locker.execute(text("LOCK TABLE audit_events_y2025m01 IN ACCESS EXCLUSIVE MODE"))
            blocked = [asyncio.create_task(committer.write(row(LOCKED))) for _ in range(4)]
            await asyncio.sleep(0.2)  # their group is committing, waiting for the lock

            others = [await _timed_write(committer, OPEN) for _ in range(12)]
            # the same connection plans again and again: past the 5th a generic plan would lock January
            reads = [
                await client.get(
                    EVENTS,
                    params={"since": "2025-02-01T00:00:00Z", "until": "2025-02-28T00:00:00Z", "limit": 5},
                    headers={"X-Request-Timeout": "2"},
                )
                for _ in range(30)
            ]
            assert not any(task.done() for task in blocked), "the locked month's events should still wait"
            await locker.rollback()
        await asyncio.gather(*blocked)
    finally:
        await committer.close()

    assert max(others) < max(10 * normal, 0.5), (others, normal)
    assert [response.status_code for response in reads] == [200] * 30
    assert reads[-1].json()["pagination"]["total"] == 22
    async with engine.connect() as connection:
        stored = await connection.scalar(text("SELECT count(*) FROM audit_events_y2025m01"))
    assert stored == 4  # every delayed event is stored, once
