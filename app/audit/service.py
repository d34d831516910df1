"""Audit rules: what an acceptable event is, and how events are stored and found."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from app.audit.group_commit import GroupCommitter
from app.audit.partitions import PartitionKeeper
from app.audit.repository import AuditQuery, AuditRepository
from app.audit.schemas import (
    AuditEvent,
    AuditEventRequest,
    AuditEventResponse,
    AuditEventsPage,
    BatchAuditEventResponse,
    Pagination,
)
from app.errors import ValidationFailed

MAX_FUTURE = timedelta(minutes=5)
MAX_PAST = timedelta(days=7)
MAX_EVENT_DATA_BYTES = 256 * 1024
MAX_EVENT_DATA_DEPTH = 10


def json_depth(value: Any) -> int:
    """Nesting depth: a scalar is 0, ``{}`` or ``[]`` is 1, ``{"a": {}}`` is 2."""
    if isinstance(value, dict):
        return 1 + max((json_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((json_depth(v) for v in value), default=0)
    return 0


def event_errors(event: AuditEventRequest, now: datetime, prefix: str = "") -> dict[str, str]:
    """The rules a schema cannot say: a plausible timestamp, and bounded ``event_data``."""
    errors: dict[str, str] = {}
    if event.event_timestamp.tzinfo is None:
        errors[f"{prefix}event_timestamp"] = "must carry a time zone (Z or an offset)"
    elif event.event_timestamp > now + MAX_FUTURE:
        errors[f"{prefix}event_timestamp"] = "is more than 5 minutes in the future"
    elif event.event_timestamp < now - MAX_PAST:
        errors[f"{prefix}event_timestamp"] = "is more than 7 days in the past"
    if len(msgspec.json.encode(event.event_data)) > MAX_EVENT_DATA_BYTES:
        errors[f"{prefix}event_data"] = "is larger than 256 KiB"
    elif json_depth(event.event_data) > MAX_EVENT_DATA_DEPTH:
        errors[f"{prefix}event_data"] = f"is nested deeper than {MAX_EVENT_DATA_DEPTH} levels"
    return errors


def _row(event: AuditEventRequest, event_id: uuid.UUID) -> dict[str, Any]:
    row = msgspec.structs.asdict(event)
    timestamp = event.event_timestamp.astimezone(UTC)
    row.update(event_id=event_id, event_timestamp=timestamp, event_date=timestamp.date())
    return row


class AuditService:
    def __init__(
        self,
        repository: AuditRepository,
        partitions: PartitionKeeper,
        group_commit: GroupCommitter | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.repository = repository
        self.partitions = partitions
        self.group_commit = group_commit
        self.clock = clock

    async def record(self, event: AuditEventRequest) -> AuditEventResponse:
        (event_id,) = await self._store([event], single=True)
        return AuditEventResponse(
            event_id=event_id, event_timestamp=event.event_timestamp, message="audit event stored"
        )

    async def record_batch(self, events: Sequence[AuditEventRequest]) -> BatchAuditEventResponse:
        """All or nothing: every item is checked before any is written, in one transaction."""
        event_ids = await self._store(events, single=False)
        return BatchAuditEventResponse(event_ids=event_ids, message=f"{len(event_ids)} audit events stored")

    async def _store(self, events: Sequence[AuditEventRequest], *, single: bool) -> list[uuid.UUID]:
        now = self.clock()
        errors: dict[str, str] = {}
        for index, event in enumerate(events):
            errors.update(event_errors(event, now, "" if single else f"[{index}]."))
        parents = {e.parent_event_id for e in events if e.parent_event_id is not None}
        if parents:
            unknown = parents - await self.repository.existing_ids(sorted(parents))
            for index, event in enumerate(events):
                if event.parent_event_id in unknown:
                    errors["parent_event_id" if single else f"[{index}].parent_event_id"] = "names no stored event"
        if errors:
            raise ValidationFailed(errors)
        rows = [_row(event, uuid.uuid4()) for event in events]
        if single and self.group_commit is not None:
            # shares a transaction with concurrent single writes; returns once that has committed
            await self.group_commit.write(rows[0])
        else:
            await self.partitions.ensure(row["event_date"] for row in rows)
            await self.repository.insert_many(rows)
        return [row["event_id"] for row in rows]

    async def page(self, query: AuditQuery) -> AuditEventsPage:
        rows, total = await self.repository.page(query)
        events = [msgspec.convert(row, AuditEvent) for row in rows]
        has_more = query.offset + len(events) < total
        return AuditEventsPage(
            data=events, pagination=Pagination(limit=query.limit, offset=query.offset, total=total, has_more=has_more)
        )
