"""The writing tool takes the audit write path whole: an outage queues the event (accepted), and
the worker stores it once the database is back, as for POST /api/v1/audit/events."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from litestar import Litestar

from app.http.runtime import runtime_of
from tests.factories import audit_event_body
from tests.integration.dlq.test_dlq_fallback import dlq_app, queued, table_locked, wait_for
from tests.integration.mcp.clients import answer, mcp_session

__all__ = ["dlq_app"]  # the fixture: a service on each queue backend whose writes give up after 0.5 s


async def test_an_outcome_the_database_cannot_take_is_queued_then_stored(dlq_app: Litestar) -> None:
    engine = runtime_of(dlq_app).engine
    event = audit_event_body(event_timestamp=datetime.now(UTC).isoformat(), correlation_id="rr-mcp-queued")
    async with mcp_session(dlq_app) as session, table_locked(engine, "audit_events"):
        recorded = await answer(session, "record_remediation_outcome", event)
        assert await queued(dlq_app) == 1
    assert (recorded["status"], recorded["message"]) == ("accepted", "audit event queued for storage")
    sql = "SELECT correlation_id FROM audit_events WHERE event_id = :id"
    assert await wait_for(engine, sql, 1, id=UUID(recorded["event_id"])) == [{"correlation_id": "rr-mcp-queued"}]
