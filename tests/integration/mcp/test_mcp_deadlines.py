"""The edge's deadline holds for tool calls on both protocol eras: the call fails in time and its
database statement is cancelled, not left waiting."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from litestar import Litestar
from mcp.shared.exceptions import MCPError
from sqlalchemy import text

from app.http.runtime import runtime_of
from tests.integration.dlq.test_dlq_fallback import table_locked
from tests.integration.mcp.clients import ERAS, call, mcp_session


async def _waiting_reads(app: Litestar) -> int:
    async with runtime_of(app).engine.connect() as connection:
        return int(await connection.scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND wait_event_type = 'Lock' "
            "AND query LIKE 'SELECT%FROM workflows%' AND pid <> pg_backend_pid()"
        )) or 0)  # fmt: skip


@pytest.mark.parametrize("era", ERAS)
async def test_a_tool_call_past_its_deadline_is_cancelled(app: Litestar, client: httpx.AsyncClient, era: str) -> None:
    async with (
        mcp_session(app, era=era, headers={"X-Request-Timeout": "0.3"}) as session,
        table_locked(runtime_of(app).engine, "workflows"),
    ):
        started = time.monotonic()
        try:
            result = await call(session, "get_workflow", {"workflow_id": str(uuid.uuid4())})
        except MCPError:  # the edge answered 504 before the tool did (the SDK does not say which status)
            pass
        else:
            assert result.is_error
            assert result.structured_content["type"].endswith("/request-timeout")
        assert time.monotonic() - started < 2
        assert await _waiting_reads(app) == 0
