"""A buffer for audit events that must never delay the request that causes them.

Every workflow search leaves a ``workflow.catalog.search_completed`` audit event
(``app.workflows.search_events``). Recording never delays the search: events go to an
in-process buffer, and a background writer stores them in batches through the same path as any
audit event, the dead letter queue included. A batch neither store took stays buffered and is
retried with backoff; shutdown flushes what is left within a bounded time.
Nothing is dropped silently: if the buffer ever overflows, the loss is logged with its count.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from typing import Any

from app.audit.schemas import AuditEventRequest
from app.audit.service import stored_row
from app.audit.writer import AuditWriter

logger = logging.getLogger(__name__)

MAX_BATCH = 200
FLUSH_INTERVAL_SECONDS = 0.2
CLOSE_GRACE_SECONDS = 10.0
MAX_BACKOFF_SECONDS = 30.0
MAX_BUFFERED = 100_000


class SearchAuditBuffer:
    def __init__(self, writer: AuditWriter) -> None:
        self.writer = writer
        # Rows, not requests: an event keeps its id through retries, so a retry cannot duplicate it.
        self._buffer: deque[dict[str, Any]] = deque()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._flushing = asyncio.Lock()  # one flush at a time: a caller's flush waits for one in flight
        self._in_flight = 0
        self.written = 0
        self.overflowed = 0

    def record(self, event: AuditEventRequest) -> None:
        """Queue an event; never waits."""
        if len(self._buffer) >= MAX_BUFFERED:
            self.overflowed += 1
            logger.error("search audit buffer full: %d events lost so far", self.overflowed)
            return
        self._buffer.append(stored_row(event, uuid.uuid4()))
        if len(self._buffer) >= MAX_BATCH:
            self._wakeup.set()

    @property
    def pending(self) -> int:
        """Events not yet stored or queued: buffered, or in a write that has not finished."""
        return len(self._buffer) + self._in_flight

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="search-audit-writer")

    async def _run(self) -> None:
        backoff = FLUSH_INTERVAL_SECONDS
        while True:
            try:
                async with asyncio.timeout(FLUSH_INTERVAL_SECONDS):
                    await self._wakeup.wait()
            except TimeoutError:
                pass
            self._wakeup.clear()
            try:
                await self.flush()
                backoff = FLUSH_INTERVAL_SECONDS
            except Exception:  # kept in the buffer; retried after a growing pause
                logger.exception("writing %d search audit events failed; retrying in %.1f s", self.pending, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    async def flush(self) -> None:
        """Store (or, with the database down, queue) everything buffered now, batch by batch;
        a batch that neither store took goes back to the front."""
        async with self._flushing:
            while self._buffer:
                batch = [self._buffer.popleft() for _ in range(min(MAX_BATCH, len(self._buffer)))]
                self._in_flight = len(batch)
                try:
                    await self.writer.store_events(batch, single=False)
                except BaseException:
                    self._buffer.extendleft(reversed(batch))
                    raise
                finally:
                    self._in_flight = 0
                self.written += len(batch)

    async def close(self, grace_seconds: float = CLOSE_GRACE_SECONDS) -> None:
        """Stop the writer and flush what is left, within ``grace_seconds``."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        try:
            async with asyncio.timeout(grace_seconds):
                await self.flush()
        except Exception:  # neither the database nor the queue took them: say how many
            logger.exception("shutdown left %d search audit events unwritten", self.pending)
