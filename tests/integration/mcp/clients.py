"""The SDK's own MCP client against the app in process (httpx2, the SDK's HTTP client, over ASGI)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import mcp_types as types
from litestar import Litestar
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

# A loopback host: without tokens the endpoint answers loopback Host headers only.
BASE = "http://127.0.0.1"
ERAS = ["handshake", "modern"]  # 2025-11-25 (initialize, then calls) and 2026-07-28 (per-request envelope)


@asynccontextmanager
async def mcp_session(
    app: Litestar, *, token: str | None = None, era: str = "handshake", headers: dict[str, str] | None = None
) -> AsyncIterator[ClientSession]:
    headers = {**(headers or {}), **({"Authorization": f"Bearer {token}"} if token else {})}
    transport = httpx2.ASGITransport(app=app)  # type: ignore[arg-type]
    async with (
        httpx2.AsyncClient(transport=transport, base_url=BASE, headers=headers) as http,
        streamable_http_client(f"{BASE}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await (session.initialize() if era == "handshake" else session.discover())
        yield session


async def call(session: ClientSession, tool: str, arguments: dict[str, Any]) -> types.CallToolResult:
    result = await session.call_tool(tool, arguments)
    # The text content is the structured content's JSON, for clients that read text only.
    assert [block.type for block in result.content] == ["text"]
    assert json.loads(result.content[0].text) == result.structured_content  # type: ignore[union-attr]
    return result


async def answer(session: ClientSession, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = await call(session, tool, arguments)
    assert not result.is_error, result.structured_content
    document: dict[str, Any] = result.structured_content
    return document


async def problem(session: ClientSession, tool: str, arguments: dict[str, Any], slug: str) -> dict[str, Any]:
    """A tool error carrying the problem body the HTTP API answers with, about /mcp."""
    result = await call(session, tool, arguments)
    assert result.is_error
    body: dict[str, Any] = result.structured_content
    assert body["type"].endswith(f"/{slug}"), body
    assert body["instance"] == "/mcp"
    return body
