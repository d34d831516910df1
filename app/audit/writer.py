"""Where accepted audit writes go: the database in a transaction of their own, else the queue.

The writer owns its transactions (not the request's session) because the answer depends on
whether the commit happened: 201 when stored, 202 when queued, 500 when neither.

The commit point is the moment the COMMIT is sent (``app.lib.deadlines.past_commit_point``). Before
it, a cancellation or a passed deadline rolls the write back: 504, nothing stored, nothing
queued. From it on, the COMMIT is seen through within the write timeout, and the answer tells
what was stored: 201, or 202 when the COMMIT failed or did not answer and the write was queued
(a replay skips what did commit, by its key, so it is stored once).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.audit.group_commit import GroupCommitter
from app.audit.notification_repository import NotificationAuditRepository
from app.audit.notification_schemas import NotificationAudit
from app.audit.partitions import PartitionKeeper
from app.audit.replay import events_payload, notification_payload
from app.audit.repository import AuditRepository
from app.dlq.fallback import Fallback, WriteStatus
from app.lib.database_errors import is_outage
from app.lib.deadlines import past_commit_point
from app.lib.metrics import AUDIT_LAG, AUDIT_TRACES, WRITE_DURATION, WRITES, series

logger = logging.getLogger(__name__)

T = TypeVar("T")


class AuditWriter:
    def __init__(
        self, engine: AsyncEngine, partitions: PartitionKeeper, group_commit: GroupCommitter, fallback: Fallback
    ) -> None:
        self.engine = engine
        self.partitions = partitions
        self.group_commit = group_commit
        self.chain = group_commit.chain  # one hash chain configuration for every write path
        self.fallback = fallback

    async def stored_ids(self, event_ids: Sequence[uuid.UUID]) -> set[uuid.UUID] | None:
        """Which of ``event_ids`` are stored; None when the database cannot say now."""
        try:
            async with asyncio.timeout(self.fallback.database_budget()), self.engine.connect() as connection:
                return await AuditRepository(connection).existing_ids(event_ids)
        except Exception as error:
            if not is_outage(error):
                raise
            logger.warning("parent events not checked, the database is unavailable: %r", error)
            return None

    async def store_events(self, rows: Sequence[dict[str, Any]], *, single: bool) -> WriteStatus:
        """All rows in one transaction (a single event may share a group commit), or all queued."""

        async def attempt() -> None:
            if single:
                await self.group_commit.write(rows[0])
                return
            await self.partitions.ensure(row["event_date"] for row in rows)
            await self._in_transaction(lambda connection: self.chain.append(connection, rows))

        categories = [row["event_category"] for row in rows]
        started = time.perf_counter()
        try:
            status = await self.fallback.write("events", attempt, lambda: events_payload(rows))
        except Exception:
            _observe("audit_events", categories, "failed", [], started)
            raise
        _observe("audit_events", categories, status, [row["event_timestamp"] for row in rows], started)
        return status

    async def store_notification(self, notification: NotificationAudit) -> dict[str, Any] | None:
        """The stored row; None when it was queued."""
        stored: dict[str, Any] | None = None

        async def attempt() -> None:
            nonlocal stored
            values = msgspec.structs.asdict(notification)
            stored = await self._in_transaction(
                lambda connection: NotificationAuditRepository(connection).insert(values)
            )

        started = time.perf_counter()
        try:
            status = await self.fallback.write("notifications", attempt, lambda: notification_payload(notification))
        except Exception:
            _observe("notification_audit", ["notification"], "failed", [], started)
            raise
        _observe("notification_audit", ["notification"], status, [notification.sent_at], started)
        return stored if status == "stored" else None

    async def _in_transaction(self, write: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """``write`` in a transaction of its own, then its COMMIT, past the commit point."""
        async with self.engine.connect() as connection:
            await connection.begin()
            result = await write(connection)
            await past_commit_point(self._commit(connection))
            return result

    async def _commit(self, connection: AsyncConnection) -> None:
        async with asyncio.timeout(self.fallback.write_timeout):
            await connection.commit()


def _observe(
    table: str, services: list[str], status: WriteStatus | Literal["failed"], stamps: list[datetime], started: float
) -> None:
    """Write metrics for one write of ``len(services)`` records; lag only for what was stored."""
    series(WRITES, table, status).inc(len(services))
    series(WRITE_DURATION, table).observe(time.perf_counter() - started)
    trace = {"stored": "success", "queued": "dlq_fallback", "failed": "failure"}[status]
    for service in services:
        series(AUDIT_TRACES, service, trace).inc()
    if status == "stored":
        now = datetime.now(UTC)
        for service, stamp in zip(services, stamps, strict=True):
            series(AUDIT_LAG, service).observe(max((now - stamp).total_seconds(), 0.0))
