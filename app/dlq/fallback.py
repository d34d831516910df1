"""Write to the database, or, when it cannot take the write, to the dead letter queue.

Only an outage falls back: the database unreachable, too slow, or out of connections. A
write the database refuses on its merits (a conflict, bad data) fails as it would anyway, and
a cancelled request is never queued behind its client's back. The database attempt gets half
of what the request has left, so the queue keeps its share; the queue write, once sent, is seen
through within the queue's own timeout (``app.lib.deadlines.past_commit_point``), so the answer is
202 for a record that was queued, never 504.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Literal

from app.dlq.alerts import observe_depth
from app.dlq.queue import DeadLetterQueue, QueueError, Stream
from app.lib.database_errors import is_outage
from app.lib.deadlines import past_commit_point, step_budget, time_left
from app.lib.errors import StorageUnavailable

logger = logging.getLogger(__name__)

WriteStatus = Literal["stored", "queued"]


class Fallback:
    def __init__(self, queue: DeadLetterQueue, *, write_timeout: float, queue_timeout: float) -> None:
        self.queue = queue
        self.write_timeout = write_timeout
        self.queue_timeout = queue_timeout

    def database_budget(self) -> float:
        """Seconds a database step may take: half of what the request has left, so the queue
        keeps its share, and never more than the write timeout."""
        remaining = time_left()
        return self.write_timeout if remaining is None else min(self.write_timeout, remaining / 2)

    async def write(
        self, stream: Stream, attempt: Callable[[], Awaitable[object]], payload: Callable[[], bytes]
    ) -> WriteStatus:
        """``attempt`` the database write; on an outage queue ``payload()`` instead.

        Raises StorageUnavailable when both failed: nothing was accepted.
        """
        try:
            # Lifted once the attempt passes its commit point: a COMMIT sent is seen through.
            async with step_budget(self.database_budget()):
                await attempt()
        except Exception as error:
            if not is_outage(error):
                raise
            database_error: Exception = error
        else:
            return "stored"

        async def enqueue() -> int:
            async with asyncio.timeout(self.queue_timeout):
                return await self.queue.enqueue(stream, payload())

        try:
            # The enqueue is this path's commit point: once sent, the record may be queued, so
            # the answer waits for its outcome (within the queue's own timeout, whatever the
            # request has left) rather than claim 504 or 500 for a record that will be stored.
            depth = await past_commit_point(enqueue())
        except (QueueError, TimeoutError) as queue_error:
            logger.error(  # noqa: TRY400 - both errors are named; a traceback would add nothing
                "database write failed (%s) and the dead letter queue refused it (%s)",
                _describe(database_error), _describe(queue_error),
            )  # fmt: skip
            # A queue that refused said so; one that did not answer in time may still take the
            # record (a thread or a sent command finishing late): the answer must not claim nothing.
            outcome = "the record may yet be queued" if isinstance(queue_error, TimeoutError) else "nothing was stored"
            raise StorageUnavailable(
                f"the database and the dead letter queue both failed; {outcome}: {_describe(queue_error)}"
            ) from queue_error
        logger.warning(
            "database write failed (%s); queued to the %s dead letter queue", _describe(database_error), stream
        )
        observe_depth(stream, depth, self.queue.max_length)
        return "queued"


def _describe(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text[:200]}" if text else type(error).__name__
