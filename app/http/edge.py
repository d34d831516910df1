"""The edge: one ASGI middleware around the whole application, router included.

Per HTTP request, in this order: the request id (``X-Request-ID`` in, or generated; echoed back)
and the log context; the rate limit (429); access (401, 403); the reference's leniency with empty
query values; the deadline (``min(X-Request-Timeout, the setting)``, 504 past it; 400 for a
malformed header). Afterwards, always: the HTTP metrics and one ``request completed`` line.

One layer, not five: each layer cost an ASGI call, a scan of the headers and a wrapped ``send``
(0.13 ms of CPU per request together, before any handler ran; issue #16). Around the router, so
unmatched paths (404, 405) and refused tokens get an id, a count and a log line too.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import structlog
from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send

from app.http.access import OPEN_PREFIXES, AccessToken, authenticate, required_scope
from app.http.deadlines import parse_timeout
from app.http.observability import acceptable_request_id
from app.http.query_leniency import without_empty_values
from app.http.ratelimit import TokenBuckets, client_key
from app.lib import problems
from app.lib.deadlines import bound_deadline
from app.lib.metrics import HTTP_DURATION, HTTP_REQUESTS, series
from app.lib.problems import ProblemType, problem_body, send_problem
from app.lib.request_context import ACCESS_TOKEN_KEY, current_request, log_fields, route_of

requests_logger = structlog.get_logger("app.requests")
deadline_logger = logging.getLogger("app.http.deadlines")

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
CHALLENGE = ((b"www-authenticate", b'Bearer realm="workflow-search"'),)


@dataclass(frozen=True, slots=True, kw_only=True)
class EdgeConfig:
    tokens: tuple[AccessToken, ...]
    buckets: TokenBuckets | None
    request_timeout_seconds: float
    problem_base_url: str


class _Headers:
    """The four request headers the edge reads, found in one pass."""

    __slots__ = ("authorization", "request_id", "timeout")

    def __init__(self, scope: HTTPScope) -> None:
        self.request_id: bytes | None = None
        self.authorization: bytes | None = None
        self.timeout: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                self.request_id = value
            elif name == b"authorization":
                self.authorization = value
            elif name == b"x-request-timeout":
                self.timeout = value


class _Response:
    """What the edge learns of the answer as it is sent: its status, once it has begun."""

    __slots__ = ("status",)

    def __init__(self) -> None:
        self.status: int | None = None


class Edge:
    """The edge middleware; ``Edge(app, config)`` is the ASGI application the server runs."""

    __slots__ = ("app", "config")

    def __init__(self, app: ASGIApp, config: EdgeConfig) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        headers = _Headers(scope)
        request_id = acceptable_request_id(headers.request_id) or os.urandom(16).hex()
        method = scope["method"] if scope["method"] in METHODS else "OTHER"
        response = _Response()

        async def send_with_id(message: Message) -> None:
            # The one wrapper of ``send``: the status for the metrics, whether the answer has begun
            # for the deadline, and the id header.
            if message["type"] == "http.response.start":
                response.status = int(message["status"])  # Starlette apps (the MCP mount) send an HTTPStatus
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", request_id.encode())]
            await send(message)

        started = time.perf_counter()
        context = current_request.set((scope, request_id, method))
        try:
            if await self._admitted(scope, headers, send_with_id):
                if scope["query_string"]:
                    scope["query_string"] = without_empty_values(scope["query_string"])
                await self._under_deadline(scope, receive, send_with_id, headers, response)
        finally:
            _record(scope, method, response.status or 500, time.perf_counter() - started)
            current_request.reset(context)

    async def _refuse(
        self,
        send: Send,
        path: str,
        problem: ProblemType,
        detail: str,
        *,
        headers: Iterable[tuple[bytes, bytes]] = (),
        field_errors: Mapping[str, str] | None = None,
    ) -> None:
        body = problem_body(self.config.problem_base_url, problem, detail, path, field_errors)
        await send_problem(send, body, headers)

    async def _admitted(self, scope: HTTPScope, headers: _Headers, send: Send) -> bool:
        """Rate limit, then access; False when the request was answered here."""
        path = scope["path"]
        if path.startswith(OPEN_PREFIXES):
            return True
        buckets = self.config.buckets
        if buckets is not None:
            wait = buckets.take(client_key(headers.authorization, scope))
            if wait > 0:
                retry_after = max(1, math.ceil(wait))
                detail = f"too many requests from this client; retry after {retry_after} s"
                retry = [(b"retry-after", str(retry_after).encode())]
                await self._refuse(send, path, problems.RATE_LIMIT_EXCEEDED, detail, headers=retry)
                return False
        if not self.config.tokens:
            return True
        needed = required_scope(scope["method"], path)
        decision = authenticate(self.config.tokens, headers.authorization, needed)
        if isinstance(decision, AccessToken):
            scope.setdefault("state", {})[ACCESS_TOKEN_KEY] = decision
            return True
        problem, detail = decision
        challenge = CHALLENGE if problem is problems.UNAUTHORIZED else ()
        await self._refuse(send, path, problem, detail, headers=challenge)
        return False

    async def _under_deadline(
        self, scope: HTTPScope, receive: Receive, send: Send, headers: _Headers, response: _Response
    ) -> None:
        seconds = parse_timeout(headers.timeout, self.config.request_timeout_seconds)
        if seconds is None:
            detail = "must be a non-negative number of seconds"
            errors = {"X-Request-Timeout": detail}
            await self._refuse(send, scope["path"], problems.VALIDATION_ERROR, detail, field_errors=errors)
            return
        path = scope["path"]  # as sent: a mount (/mcp) rewrites the scope's to the rest of it
        try:
            async with asyncio.timeout(seconds) as deadline:
                with bound_deadline(deadline):
                    await self.app(scope, receive, send)
        except TimeoutError:
            deadline_logger.warning("request %s %s passed its %.3f s deadline", scope["method"], path, seconds)
            if response.status is None:  # nothing sent yet: the client can still be told why
                detail = f"the request did not complete within its deadline of {seconds:g} s"
                await self._refuse(send, path, problems.REQUEST_TIMEOUT, detail)


def _record(scope: HTTPScope, method: str, status: int, seconds: float) -> None:
    """The HTTP metrics and the one log line of a finished request (answered here or not)."""
    route = route_of(scope)
    series(HTTP_REQUESTS, method, route, str(status)).inc()
    series(HTTP_DURATION, method, route).observe(seconds)
    requests_logger.info("request completed", status=status, duration_ms=round(seconds * 1000, 2), **log_fields(scope))
