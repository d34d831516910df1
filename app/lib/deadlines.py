"""Every request runs under a deadline (set by ``app.http.deadlines``); when it passes, the work in
flight is cancelled.

Cancelling the handler's task cancels the database statement it awaits (asyncpg sends
PostgreSQL a cancel request) and the per-request session rolls the transaction back, so a
timed-out request leaves nothing behind. The client gets 504 ``request-timeout``.

Steps inside a request have budgets of their own (``step_budget``), cut from what it has left.

The exception is a write past its commit point (``past_commit_point``): once its COMMIT has been
sent, neither the deadline nor a step's budget cancels it, and the answer says what was stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Iterator
from contextvars import ContextVar
from typing import TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")

# The current request's deadline (its asyncio timeout); None outside a request.
_deadline: ContextVar[asyncio.Timeout | None] = ContextVar("request_deadline", default=None)
# The budgets of the steps now running in this task, outermost first.
_budgets: ContextVar[tuple[asyncio.Timeout, ...]] = ContextVar("step_budgets", default=())


def time_left() -> float | None:
    """Seconds until the current request's deadline (None outside a request or past its commit
    point), never below 0."""
    deadline = _deadline.get()
    when = None if deadline is None else deadline.when()
    return None if when is None else max(when - asyncio.get_running_loop().time(), 0.0)


@contextlib.asynccontextmanager
async def step_budget(seconds: float) -> AsyncIterator[None]:
    """``asyncio.timeout(seconds)`` for one step, lifted like the deadline at a commit point."""
    async with asyncio.timeout(seconds) as budget:
        token = _budgets.set((*_budgets.get(), budget))
        try:
            yield
        finally:
            _budgets.reset(token)


async def past_commit_point(work: Awaitable[T]) -> T:
    """Run ``work``, which starts by sending a COMMIT, to its end whatever happens to the request.

    Before this call a passed deadline or a cancellation rolls everything back (504, nothing
    stored). From here on the outcome is decided by the database, so the request's deadline and
    the budgets of the steps around are lifted (``work`` bounds its own steps) and a cancellation
    waits for ``work`` instead of abandoning it halfway: the answer then tells what was stored,
    even past the deadline.
    """
    for timeout in (_deadline.get(), *_budgets.get()):
        if timeout is not None:
            # An expired timeout cannot be lifted; the cancellation it sent is absorbed below.
            with contextlib.suppress(RuntimeError):
                timeout.reschedule(None)
    task = asyncio.ensure_future(work)
    while True:
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done():
                return task.result()  # re-raises if ``work`` itself was cancelled
            logger.warning("a cancellation arrived past the commit point; finishing the write first")


@contextlib.contextmanager
def bound_deadline(deadline: asyncio.Timeout) -> Iterator[None]:
    """Make ``deadline`` the current request's, for ``time_left`` and ``past_commit_point``."""
    token = _deadline.set(deadline)
    try:
        yield
    finally:
        _deadline.reset(token)
