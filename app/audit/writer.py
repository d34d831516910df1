"""Where accepted audit writes go: the database in a transaction of their own, else the queue.

The writer owns its transactions (not the request's session) because the answer depends on
whether the commit happened: 201 when stored, 202 when queued, 500 when neither.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncEngine

from app.audit.group_commit import GroupCommitter
from app.audit.notifications import NotificationAudit, NotificationAuditRepository
from app.audit.partitions import PartitionKeeper
from app.audit.repository import AuditRepository
from app.dlq.fallback import Fallback, WriteStatus, is_outage
from app.dlq.replay import events_payload, notification_payload

logger = logging.getLogger(__name__)


class AuditWriter:
    def __init__(
        self, engine: AsyncEngine, partitions: PartitionKeeper, group_commit: GroupCommitter | None, fallback: Fallback
    ) -> None:
        self.engine = engine
        self.partitions = partitions
        self.group_commit = group_commit
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
            if single and self.group_commit is not None:
                await self.group_commit.write(rows[0])
                return
            await self.partitions.ensure(row["event_date"] for row in rows)
            async with self.engine.begin() as connection:
                await AuditRepository(connection).insert_many(rows)

        return await self.fallback.write("events", attempt, lambda: events_payload(rows))

    async def store_notification(self, notification: NotificationAudit) -> dict[str, Any] | None:
        """The stored row; None when it was queued."""
        stored: dict[str, Any] | None = None

        async def attempt() -> None:
            nonlocal stored
            async with self.engine.begin() as connection:
                stored = await NotificationAuditRepository(connection).insert(msgspec.structs.asdict(notification))

        status = await self.fallback.write("notifications", attempt, lambda: notification_payload(notification))
        return stored if status == "stored" else None
