"""Which dead letter queue the settings ask for, opened."""

from __future__ import annotations

import logging

from app.dlq.queue import DeadLetterQueue, QueueError, RetrySchedule
from app.dlq.redis_queue import RedisDeadLetterQueue
from app.dlq.sqlite_queue import SqliteDeadLetterQueue
from app.lib.settings import Settings

logger = logging.getLogger(__name__)


def retry_schedule(settings: Settings) -> RetrySchedule:
    return RetrySchedule(tuple(settings.dlq_retry_delays_seconds))


def chosen_backend(settings: Settings) -> str:
    if settings.dlq_backend == "auto":
        return "redis" if settings.redis_url else "sqlite"
    return settings.dlq_backend


async def open_dead_letter_queue(settings: Settings) -> DeadLetterQueue:
    """Redis Streams at ``REDIS_URL``, or the SQLite file in the data directory.

    An unreachable Redis does not stop start-up: database writes need no queue, and the queue
    is retried on every use (readiness reports it).
    """
    schedule = retry_schedule(settings)
    timeout = settings.dlq_write_timeout_seconds
    if chosen_backend(settings) == "redis":
        if not settings.redis_url:
            raise ValueError("WORKFLOW_SEARCH_DLQ_BACKEND=redis needs REDIS_URL")
        queue = RedisDeadLetterQueue.open(
            settings.redis_url, settings.dlq_max_length, schedule, timeout_seconds=timeout
        )
        try:
            await queue.prepare()
        except QueueError as error:
            logger.warning("dead letter queue: Redis not reachable at start-up (%s); will retry on use", error)
        return queue
    return await SqliteDeadLetterQueue.open(
        settings.dlq_sqlite_path, settings.dlq_max_length, schedule, timeout_seconds=timeout
    )
