"""The audit payloads of the dead letter queue, and their replay: stored once however often replayed.

Queued audit events keep the ``event_id`` they were given when accepted, so a replay of a write
that did commit after all (its answer was lost) finds the row and adds nothing. The queue holds
events without their chain fields: a replayed event is linked when it is stored, after whatever
its correlation stored in between. A notification
audit is matched on its unique ``notification_id``: the same record already stored is success;
a different one under that id is a conflict no retry can fix, so it goes to the dead letters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncEngine

from app.audit.chain import ChainAppender
from app.audit.notification_repository import NotificationAuditRepository
from app.audit.notification_schemas import NotificationAudit
from app.audit.partitions import PartitionKeeper
from app.audit.schemas import AuditEvent
from app.dlq.queue import QueuedRecord, ReplayRejected


class QueuedEvents(msgspec.Struct):
    """The payload of the events stream: one accepted write, a single event or a whole batch."""

    events: list[AuditEvent]


def events_payload(rows: Sequence[dict[str, Any]]) -> bytes:
    return msgspec.json.encode({"events": rows})


def notification_payload(notification: NotificationAudit) -> bytes:
    return msgspec.json.encode(notification)


class AuditReplayer:
    """The dead letter queue's replayer for audit events and notifications (``app.dlq.queue.Replayer``)."""

    def __init__(self, engine: AsyncEngine, partitions: PartitionKeeper, chain: ChainAppender | None = None) -> None:
        self.engine = engine
        self.partitions = partitions
        self.chain = chain or ChainAppender()

    async def replay(self, record: QueuedRecord) -> None:
        if record.stream == "events":
            await self._events(record.payload)
        else:
            await self._notification(record.payload)

    async def _events(self, payload: bytes) -> None:
        try:
            queued = msgspec.json.decode(payload, type=QueuedEvents)
        except msgspec.DecodeError as error:
            raise ReplayRejected(f"unreadable events payload: {error}") from error
        # Replayed as accepted: the age limit applied when it was accepted, not hours later.
        rows = [msgspec.structs.asdict(event) for event in queued.events]
        await self.partitions.ensure(row["event_date"] for row in rows)
        # Chained after whatever its correlation stored meanwhile; what did commit is skipped.
        async with self.engine.begin() as connection:
            await self.chain.append(connection, rows, skip_stored=True)

    async def _notification(self, payload: bytes) -> None:
        try:
            notification = msgspec.json.decode(payload, type=NotificationAudit)
        except msgspec.DecodeError as error:
            raise ReplayRejected(f"unreadable notification payload: {error}") from error
        async with self.engine.begin() as connection:
            repository = NotificationAuditRepository(connection)
            if await repository.insert_once(msgspec.structs.asdict(notification)):
                return
            stored = await repository.by_notification_id(notification.notification_id)
        if stored is None or msgspec.convert(stored, NotificationAudit) != notification:
            raise ReplayRejected(
                f"notification_id {notification.notification_id!r} is already stored with other content"
            )
