"""Audit rules: what an acceptable event is, and how events are stored and found."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from app.audit.repository import AuditQuery, AuditRepository
from app.audit.schemas import (
    AuditEventRequest,
    AuditEventResponse,
    AuditEventsPage,
    BatchAuditEventResponse,
    ResponseStatus,
    StoredAuditEvent,
)
from app.audit.writer import AuditWriter
from app.dlq.fallback import WriteStatus
from app.lib.errors import ValidationFailed
from app.lib.schemas import Pagination
from app.lib.validation import json_depth_exceeds, well_typed

MAX_FUTURE = timedelta(minutes=5)
MAX_PAST = timedelta(days=7)
MAX_EVENT_DATA_BYTES = 256 * 1024
MAX_EVENT_DATA_DEPTH = 10


def event_errors(document: Mapping[str, Any], now: datetime, prefix: str = "") -> dict[str, str]:
    """The rules a schema cannot say, over an event's JSON form or its fields (``asdict``):
    a plausible timestamp, and bounded ``event_data``. A field missing or malformed is left to
    the schema check, which names it."""
    problems = {
        "event_timestamp": _timestamp_problem(well_typed(document, "event_timestamp", datetime), now),
        "event_data": _event_data_problem(document.get("event_data")),
    }
    return {f"{prefix}{field}": message for field, message in problems.items() if message is not None}


def _timestamp_problem(timestamp: datetime | None, now: datetime) -> str | None:
    if timestamp is None:
        return None
    if timestamp.tzinfo is None:
        return "must carry a time zone (Z or an offset)"
    if timestamp > now + MAX_FUTURE:
        return "is more than 5 minutes in the future"
    if timestamp < now - MAX_PAST:
        return "is more than 7 days in the past"
    return None


def _event_data_problem(event_data: Any) -> str | None:
    if not isinstance(event_data, dict):
        return None
    if len(msgspec.json.encode(event_data)) > MAX_EVENT_DATA_BYTES:
        return "is larger than 256 KiB"
    if json_depth_exceeds(event_data, MAX_EVENT_DATA_DEPTH):
        return f"is nested deeper than {MAX_EVENT_DATA_DEPTH} levels"
    return None


def stored_row(event: AuditEventRequest, event_id: uuid.UUID) -> dict[str, Any]:
    """The event as stored: its id, its timestamp in UTC, and the date that picks its partition."""
    row = msgspec.structs.asdict(event)
    timestamp = event.event_timestamp.astimezone(UTC)
    row.update(event_id=event_id, event_timestamp=timestamp, event_date=timestamp.date())
    return row


# A stored write answers 201, a queued one 202 (app.audit.controllers): the body says the same.
_BODY_STATUS: dict[WriteStatus, ResponseStatus] = {"stored": "created", "queued": "accepted"}


class AuditRecorder:
    """Writes audit events through the writer, which owns its transactions (and the fallback to
    the dead letter queue): no request session is opened for a write."""

    def __init__(self, writer: AuditWriter, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.writer = writer
        self.clock = clock

    async def record(self, event: AuditEventRequest) -> tuple[AuditEventResponse, WriteStatus]:
        (event_id,), status = await self._store([event], single=True)
        message = "audit event stored" if status == "stored" else "audit event queued for storage"
        body = AuditEventResponse(
            event_id=event_id, event_timestamp=event.event_timestamp, message=message, status=_BODY_STATUS[status]
        )
        return body, status

    async def record_batch(self, events: Sequence[AuditEventRequest]) -> tuple[BatchAuditEventResponse, WriteStatus]:
        """All or nothing: every item is checked before any is written, in one transaction
        (or, when the database is unavailable, one queued record)."""
        event_ids, status = await self._store(events, single=False)
        verb = "stored" if status == "stored" else "queued for storage"
        message = f"{len(event_ids)} audit events {verb}"
        return BatchAuditEventResponse(event_ids=event_ids, message=message, status=_BODY_STATUS[status]), status

    async def _store(self, events: Sequence[AuditEventRequest], *, single: bool) -> tuple[list[uuid.UUID], WriteStatus]:
        now = self.clock()
        errors: dict[str, str] = {}
        for index, event in enumerate(events):
            errors.update(event_errors(msgspec.structs.asdict(event), now, "" if single else f"[{index}]."))
        parents = {e.parent_event_id for e in events if e.parent_event_id is not None}
        if parents:  # looked up even beside other errors: every bad field is named at once
            stored = await self.writer.stored_ids(sorted(parents))
            # None: the database is down; the events are accepted with their parents unchecked.
            unknown = set() if stored is None else parents - stored
            for index, event in enumerate(events):
                if event.parent_event_id in unknown:
                    errors["parent_event_id" if single else f"[{index}].parent_event_id"] = "names no stored event"
        if errors:
            raise ValidationFailed(errors)
        rows = [stored_row(event, uuid.uuid4()) for event in events]
        status = await self.writer.store_events(rows, single=single)
        return [row["event_id"] for row in rows], status


class AuditReader:
    def __init__(self, repository: AuditRepository) -> None:
        self.repository = repository

    async def page(self, query: AuditQuery) -> AuditEventsPage:
        rows, total = await self.repository.page(query)
        events = [msgspec.convert(row, StoredAuditEvent) for row in rows]
        has_more = query.offset + len(events) < total
        return AuditEventsPage(
            data=events, pagination=Pagination(limit=query.limit, offset=query.offset, total=total, has_more=has_more)
        )
