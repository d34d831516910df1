"""The deadline middleware: every request runs under ``min(X-Request-Timeout, the setting)``;
past it the client gets 504 ``request-timeout`` (``app.lib.deadlines`` says what is cancelled
and what is seen through)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from app.lib import problems
from app.lib.deadlines import bound_deadline
from app.lib.problems import problem_body, send_problem
from app.lib.settings import Settings

logger = logging.getLogger(__name__)

TIMEOUT_HEADER = b"x-request-timeout"


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
    base = settings.problem_base_url

    def wrap(app: ASGIApp) -> ASGIApp:
        async def with_deadline(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            seconds = requested_timeout(scope, settings.request_timeout_seconds)
            path = str(scope.get("path", ""))
            if seconds is None:
                detail = "must be a non-negative number of seconds"
                field_errors = {"X-Request-Timeout": detail}
                await send_problem(send, problem_body(base, problems.VALIDATION_ERROR, detail, path, field_errors))
                return
            started = False

            async def tracking_send(message: Message) -> None:
                nonlocal started
                started = started or message["type"] == "http.response.start"
                await send(message)

            try:
                async with asyncio.timeout(seconds) as deadline:
                    with bound_deadline(deadline):
                        await app(scope, receive, tracking_send)
            except TimeoutError:
                logger.warning("request %s %s passed its %.3f s deadline", scope.get("method"), scope["path"], seconds)
                if not started:
                    detail = f"the request did not complete within its deadline of {seconds:g} s"
                    await send_problem(send, problem_body(base, problems.REQUEST_TIMEOUT, detail, path))

        return with_deadline

    return wrap
