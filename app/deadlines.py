"""Every request runs under a deadline; when it passes, the work in flight is cancelled.

Cancelling the handler's task cancels the database statement it awaits (asyncpg sends
PostgreSQL a cancel request) and the per-request session rolls the transaction back, so a
timed-out request leaves nothing behind. The client gets 504 ``request-timeout``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextvars import ContextVar

import msgspec
from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPResponseStartEvent, Message, Receive, Scope, Send

from app.errors import PROBLEM_JSON, Problem
from app.settings import Settings

logger = logging.getLogger(__name__)

TIMEOUT_HEADER = b"x-request-timeout"

# When the current request must be done (event loop time); None outside a request.
_deadline: ContextVar[float | None] = ContextVar("request_deadline", default=None)


def time_left() -> float | None:
    """Seconds until the current request's deadline (None outside a request), never below 0."""
    deadline = _deadline.get()
    return None if deadline is None else max(deadline - asyncio.get_running_loop().time(), 0.0)


def requested_timeout(scope: Scope, default: float) -> float | None:
    """The client's ``X-Request-Timeout`` in seconds, capped at the default; None if malformed."""
    for name, value in scope.get("headers", ()):
        if name == TIMEOUT_HEADER:
            try:
                seconds = float(value.decode("latin-1"))
            except ValueError:
                return None
            return min(seconds, default) if seconds >= 0 else None
    return default


def deadline_middleware(settings: Settings) -> Callable[[ASGIApp], ASGIApp]:
    base = settings.problem_base_url.rstrip("/")

    async def send_problem(send: Send, scope: Scope, status: int, slug: str, title: str, detail: str) -> None:
        field_errors = {"X-Request-Timeout": detail} if status == 400 else None
        body = msgspec.json.encode(
            Problem(f"{base}/{slug}", title, status, detail, str(scope.get("path", "")), field_errors)
        )
        start: HTTPResponseStartEvent = {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())],
        }
        await send(start)
        await send({"type": "http.response.body", "body": body, "more_body": False})

    def wrap(app: ASGIApp) -> ASGIApp:
        async def with_deadline(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            seconds = requested_timeout(scope, settings.request_timeout_seconds)
            if seconds is None:
                await send_problem(
                    send, scope, 400, "validation-error", "Validation Error", "must be a non-negative number of seconds"
                )
                return
            started = False

            async def tracking_send(message: Message) -> None:
                nonlocal started
                started = started or message["type"] == "http.response.start"
                await send(message)

            token = _deadline.set(asyncio.get_running_loop().time() + seconds)
            try:
                async with asyncio.timeout(seconds):
                    await app(scope, receive, tracking_send)
            except TimeoutError:
                logger.warning("request %s %s passed its %.3f s deadline", scope.get("method"), scope["path"], seconds)
                if not started:
                    await send_problem(
                        send, scope, 504, "request-timeout", "Request Timeout",
                        f"the request did not complete within its deadline of {seconds:g} s",
                    )  # fmt: skip
            finally:
                _deadline.reset(token)

        return with_deadline

    return wrap
