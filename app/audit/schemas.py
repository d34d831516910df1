"""Wire types of the audit API (reference ``AuditEventRequest`` & co)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec

from app.lib.schemas import Pagination, Short

EventCategory = Literal[
    "gateway", "notification", "analysis", "signalprocessing", "workflow", "execution", "orchestration",
    # extensions (api.md): the services of the seeds' ADR-034 catalog that the reference enum misses
    "aiagent", "workflowexecution", "webhook", "effectiveness", "datastorage",
    # extension: the trail's own events (audit.legal_hold.placed, .released)
    "audit",
]  # fmt: skip
EventOutcome = Literal["success", "failure", "pending"]


class AuditEventRequest(msgspec.Struct, kw_only=True):
    version: Annotated[str, msgspec.Meta(min_length=1, max_length=20)]
    event_type: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    event_timestamp: datetime
    event_category: EventCategory
    event_action: Annotated[str, msgspec.Meta(min_length=1, max_length=50)]
    event_outcome: EventOutcome
    correlation_id: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
    event_data: dict[str, Any]
    actor_type: Short | None = None
    actor_id: Short | None = None
    resource_type: Short | None = None
    resource_id: Short | None = None
    parent_event_id: UUID | None = None
    namespace: Short | None = None
    cluster_name: Short | None = None
    severity: Annotated[str, msgspec.Meta(max_length=50)] | None = None
    # Any bigint, as the reference stores it (its document sets no minimum; -1 is a common "unknown").
    duration_ms: Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)] | None = None


AuditEventBatch = Annotated[list[AuditEventRequest], msgspec.Meta(min_length=1, max_length=500)]


# The HTTP status in words, for clients that read the body and not the status line.
ResponseStatus = Literal["created", "accepted"]


class AuditEventResponse(msgspec.Struct):
    event_id: UUID
    event_timestamp: datetime
    message: str
    status: ResponseStatus


class BatchAuditEventResponse(msgspec.Struct):
    event_ids: list[UUID]
    message: str
    status: ResponseStatus


class AuditEvent(AuditEventRequest, kw_only=True, omit_defaults=True):
    event_id: UUID
    event_date: date


class StoredAuditEvent(AuditEvent, kw_only=True, omit_defaults=True):
    """An event as queried: with its place in its correlation's hash chain (docs/api.md)."""

    chain_sequence: int | None = None
    previous_event_hash: str | None = None
    event_hash: str | None = None
    hash_algorithm: str | None = None


class AuditEventsPage(msgspec.Struct):
    data: list[StoredAuditEvent]
    pagination: Pagination
