"""The dead letter queue inside the service: opened with it, replayed by its worker, drained at shutdown."""

from __future__ import annotations

import asyncio
import logging
import os
import socket

from app.dlq.alerts import observe_depth
from app.dlq.backends import open_dead_letter_queue, retry_schedule
from app.dlq.fallback import Fallback
from app.dlq.queue import STREAMS, DeadLetterQueue, QueueError, Replayer
from app.dlq.worker import ReplayWorker
from app.lib.settings import Settings

logger = logging.getLogger(__name__)


def consumer_name() -> str:
    """Unique per process, so each replica's claims are its own."""
    return f"{socket.gethostname()}-{os.getpid()}"


def replay_worker(settings: Settings, queue: DeadLetterQueue, replayer: Replayer) -> ReplayWorker:
    return ReplayWorker(
        queue,
        replayer,
        retry_schedule(settings),
        consumer=consumer_name(),
        poll_interval=settings.dlq_poll_interval_seconds,
        attempt_timeout=settings.audit_write_timeout_seconds,
    )


class DeadLetterRuntime:
    def __init__(self, settings: Settings, queue: DeadLetterQueue, worker: ReplayWorker) -> None:
        self.settings = settings
        self.queue = queue
        self.worker = worker
        self.fallback = Fallback(
            queue, write_timeout=settings.audit_write_timeout_seconds, queue_timeout=settings.dlq_write_timeout_seconds
        )
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, settings: Settings, replayer: Replayer) -> DeadLetterRuntime:
        queue = await open_dead_letter_queue(settings)
        try:  # the gauges (and a capacity alert) from the start, not from the first enqueue
            for stream in STREAMS:
                observe_depth(stream, await queue.depth(stream), queue.max_length)
        except QueueError as error:
            logger.warning("dead letter queue depth unknown at start-up: %s", error)
        return cls(settings, queue, replay_worker(settings, queue, replayer))

    def start(self) -> None:
        if self.settings.dlq_worker:
            self._task = asyncio.create_task(self.worker.run(), name="dead-letter-replay")

    async def stop_worker(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def stop_and_drain(self) -> None:
        """Stop the worker, then try once, within the drain bound, to store everything queued."""
        await self.stop_worker()
        seconds = self.settings.shutdown_drain_seconds
        if seconds <= 0:
            return
        try:
            async with asyncio.timeout(seconds):
                report = await self.worker.replay_due(drain=True)
                left = {stream: await self.queue.depth(stream) for stream in STREAMS}
        except Exception as error:  # noqa: BLE001 - shutdown goes on; the records stay queued
            logger.warning("dead letter queue drain at shutdown stopped: %r", error)
            return
        logger.info(
            "dead letter queue drain at shutdown: %d replayed, %d failed, %d buried; still queued: %s",
            report.replayed, report.failed, report.buried, left,
        )  # fmt: skip

    async def close(self) -> None:
        await self.queue.close()
