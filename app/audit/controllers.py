"""HTTP routes of the audit trail (reference ``Audit Write API``)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_202_ACCEPTED
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.repository import AuditQuery, AuditRepository
from app.audit.schemas import (
    AuditEventBatch,
    AuditEventRequest,
    AuditEventResponse,
    AuditEventsPage,
    BatchAuditEventResponse,
    EventOutcome,
)
from app.audit.service import AuditReader, AuditRecorder, event_errors
from app.audit.timewindow import parse_window
from app.audit.writer import AuditWriter
from app.lib.errors import ValidationFailed
from app.lib.validation import MAX_LIMIT, page_window, register_body_rule

DETAIL_KEY = re.compile(r"^[A-Za-z0-9_]{1,100}$")
Text = Annotated[str | None, QueryParameter(max_length=255)]
DEFAULT_LIMIT = 50


# The service's rules, run by the strict body check as well when an event also breaks its schema
# (a batch's items each: AuditEventBatch is a list of AuditEventRequest).
register_body_rule(AuditEventRequest, lambda document, _: event_errors(document, datetime.now(UTC)))

STATUS_CODES = {"stored": HTTP_201_CREATED, "queued": HTTP_202_ACCEPTED}


def provide_audit_reader(db_session: NamedDependency[AsyncSession]) -> AuditReader:
    return AuditReader(AuditRepository(db_session))


def provide_audit_recorder(audit_writer: NamedDependency[AuditWriter]) -> AuditRecorder:
    return AuditRecorder(audit_writer)


def _detail(key: str | None, value: str | None) -> tuple[tuple[str, str] | None, dict[str, str]]:
    """The ``event_data`` key and value filter, and its errors."""
    if key is None and value is None:
        return None, {}
    if key is None or value is None:
        return None, {"detail_key" if key is None else "detail_value": "detail_key and detail_value go together"}
    if not DETAIL_KEY.match(key):
        return None, {"detail_key": "must match [A-Za-z0-9_]+ (at most 100 characters)"}
    return (key, value), {}


class AuditEventController(Controller):
    path = "/api/v1/audit/events"
    tags = ["Audit Write API"]  # noqa: RUF012 - Litestar reads it as a class attribute
    dependencies = {  # noqa: RUF012 - Litestar reads it as a class attribute
        "reader": Provide(provide_audit_reader, sync_to_thread=False),
        "recorder": Provide(provide_audit_recorder, sync_to_thread=False),
    }

    @post(
        operation_id="createAuditEvent",
        summary="Create unified audit event",
        description="201 when stored; 202 when the database failed and the event is safely queued.",
        responses={202: ResponseSpec(AuditEventResponse, description="Database write failed, queued to the DLQ")},
    )
    async def create(
        self, data: JSONBody[AuditEventRequest], recorder: NamedDependency[AuditRecorder]
    ) -> Response[AuditEventResponse]:
        body, status = await recorder.record(data)
        return Response(body, status_code=STATUS_CODES[status])

    @post(
        "/batch",
        operation_id="createAuditEventsBatch",
        summary="Create audit events batch",
        description="201 when stored in one transaction; 202 when the whole batch is queued.",
        responses={202: ResponseSpec(BatchAuditEventResponse, description="Database write failed, queued to the DLQ")},
    )
    async def create_batch(
        self, data: JSONBody[AuditEventBatch], recorder: NamedDependency[AuditRecorder]
    ) -> Response[BatchAuditEventResponse]:
        body, status = await recorder.record_batch(data)
        return Response(body, status_code=STATUS_CODES[status])

    @get(operation_id="queryAuditEvents", summary="Query audit events")
    async def query(
        self,
        reader: NamedDependency[AuditReader],
        event_type: Text = None,
        event_category: Text = None,
        event_outcome: FromQuery[EventOutcome | None] = None,
        severity: Text = None,
        correlation_id: Text = None,
        since: Text = None,
        until: Text = None,
        detail_key: Text = None,
        detail_value: Annotated[str | None, QueryParameter(max_length=1000)] = None,
        limit: Annotated[int, QueryParameter(le=MAX_LIMIT)] = DEFAULT_LIMIT,
        offset: FromQuery[int] = 0,
    ) -> AuditEventsPage:
        start, end, errors = parse_window(since, until, datetime.now(UTC))
        detail, detail_errors = _detail(detail_key, detail_value)
        if errors or detail_errors:
            raise ValidationFailed(errors | detail_errors)
        limit, offset = page_window(limit, offset, DEFAULT_LIMIT)
        return await reader.page(
            AuditQuery(
                equals={
                    "event_type": event_type,
                    "event_category": event_category,
                    "event_outcome": event_outcome,
                    "severity": severity,
                    "correlation_id": correlation_id,
                },
                since=start,
                until=end,
                detail=detail,
                limit=limit,
                offset=offset,
            )
        )
