"""One locked monthly partition delays only its own month's events; reads of other months answer."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar
from sqlalchemy import text

from app.audit.group_commit import GroupCommitter
from app.audit.partitions import PartitionKeeper
from app.audit.repository import AuditQuery, AuditRepository
from app.audit.schemas import AuditEventRequest
from app.audit.service import stored_row
from app.http.runtime import runtime_of
from tests.factories import audit_event_body
from tests.faults import trigger_fault

LOCKED, OPEN = datetime(2025, 1, 15, 12, tzinfo=UTC), datetime(2025, 2, 15, 12, tzinfo=UTC)
EVENTS = "/api/v1/audit/events"


def row(at: datetime) -> dict[str, Any]:
    # One correlation per month: appends to one correlation's hash chain wait for each other
    # whatever their months, so isolation between months holds for different correlations.
    body = audit_event_body(event_timestamp=at.isoformat(), correlation_id=f"rr-{at:%Y-%m}")
    event = msgspec.convert(body, AuditEventRequest, strict=False)
    return stored_row(event, uuid.uuid4())


async def _timed_write(committer: GroupCommitter, at: datetime) -> float:
    loop = asyncio.get_running_loop()
    started = loop.time()
    await committer.write(row(at))
    return loop.time() - started


async def test_a_locked_partition_delays_only_its_own_events_and_reads_of_other_months_answer(
    client: httpx.AsyncClient, app: Litestar
) -> None:
    engine = runtime_of(app).engine
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


async def _stored_ids(app: Litestar) -> set[uuid.UUID]:
    async with runtime_of(app).engine.connect() as connection:
        return set((await connection.execute(text("SELECT event_id FROM audit_events"))).scalars())


async def test_a_caller_gone_while_its_group_inserts_is_left_out_of_the_commit(
    client: httpx.AsyncClient, app: Litestar
) -> None:
    """The group's INSERT waits on a lock; one caller gives up meanwhile: its row is deleted
    again before the COMMIT, the other caller's row is stored."""
    engine = runtime_of(app).engine
    partitions = PartitionKeeper(engine)
    await partitions.ensure([OPEN.date()])
    committer = GroupCommitter(engine, partitions, commit_timeout=30.0)
    staying, leaving = row(OPEN), row(OPEN)
    try:
        async with engine.connect() as locker:
            await locker.begin()
            await locker.execute(text("LOCK TABLE audit_events_y2025m02 IN SHARE MODE"))  # blocks INSERT
            leaves = asyncio.create_task(committer.write(leaving))  # first in the group, so first in the chain
            stays = asyncio.create_task(committer.write(staying))
            await asyncio.sleep(0.2)  # both are in one group, its INSERT waiting for the lock
            leaves.cancel()
            await asyncio.sleep(0.05)
            await locker.rollback()
        await stays
        with pytest.raises(asyncio.CancelledError):
            await leaves
    finally:
        await committer.close()
    assert await _stored_ids(app) == {staying["event_id"]}
    async with engine.connect() as connection:  # redone without the row that left: no gap in the chain
        links = (await connection.execute(text("SELECT chain_sequence, previous_event_hash FROM audit_events"))).all()
    assert [tuple(link) for link in links] == [(1, None)]


async def test_a_caller_cancelled_during_its_groups_commit_waits_and_is_told_it_is_stored(
    client: httpx.AsyncClient, app: Litestar
) -> None:
    engine = runtime_of(app).engine
    partitions = PartitionKeeper(engine)
    await partitions.ensure([OPEN.date()])
    committer = GroupCommitter(engine, partitions, commit_timeout=30.0)
    slow_commit = "PERFORM pg_sleep(0.5); RETURN NULL;"  # the COMMIT takes half a second
    event = row(OPEN)
    try:
        async with trigger_fault(
            engine, "slow_commit", table="audit_events_y2025m02", event="INSERT", body=slow_commit, at_commit=True
        ):
            write = asyncio.create_task(committer.write(event))
            await asyncio.sleep(0.25)  # the COMMIT is under way
            write.cancel()
            await write  # no CancelledError: the write is past its commit point, and stored
    finally:
        await committer.close()
    assert await _stored_ids(app) == {event["event_id"]}


async def test_a_read_of_another_month_answers_on_its_tenth_call_on_the_same_connection(
    client: httpx.AsyncClient, app: Litestar
) -> None:
    """A prepared statement's generic plan (from the 6th execution on a connection) would lock
    every partition before pruning; planned afresh, a read of February never waits on January."""
    engine = runtime_of(app).engine
    committer = GroupCommitter(engine, PartitionKeeper(engine), commit_timeout=30.0)
    try:
        await committer.write(row(OPEN))
    finally:
        await committer.close()
    window = AuditQuery(
        equals={}, since=datetime(2025, 2, 1, tzinfo=UTC), until=datetime(2025, 2, 28, tzinfo=UTC),
        detail=None, limit=5, offset=0,
    )  # fmt: skip
    async with engine.connect() as locker, engine.connect() as reader:
        await locker.begin()
        await locker.execute(text("LOCK TABLE audit_events_y2025m01 IN ACCESS EXCLUSIVE MODE"))
        totals = []
        for _ in range(12):
            async with reader.begin():
                await reader.execute(text("SET LOCAL statement_timeout = '2s'"))  # a wait fails the test
                _, total = await AuditRepository(reader).page(window)
                totals.append(total)
        await locker.rollback()
    assert totals == [1] * 12
