"""The retry worker: replays due records with backoff, in every replica at once.

Each round claims what is due in each stream, replays it, and removes it, leaves it for its
next delay, or, after its last attempt, buries it in the dead letters. ``drain`` (shutdown
and ``workflow-search dlq replay``) replays everything queued now, whatever its schedule, and
stops at the first failure: the database is still not taking writes, and the records wait.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from typing import Literal

from app.dlq.alerts import observe_depth
from app.dlq.queue import (
    STREAMS,
    DeadLetterQueue,
    QueuedRecord,
    QueueError,
    Replayer,
    ReplayRejected,
    RetrySchedule,
    Stream,
)
from app.lib.metrics import DLQ_DEAD_LETTERS

logger = logging.getLogger(__name__)

CLAIM_BATCH = 100
Outcome = Literal["replayed", "failed", "buried"]


@dataclass
class ReplayReport:
    replayed: int = 0
    failed: int = 0
    buried: int = 0

    def count(self, outcome: Outcome) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)


def raise_if_cancelled() -> None:
    """Honour a cancellation that a client library turned into its own error, or swallowed
    (redis-py's asyncio client does, when cancelled mid-command), so a stop or a deadline holds."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class ReplayWorker:
    def __init__(
        self,
        queue: DeadLetterQueue,
        replayer: Replayer,
        schedule: RetrySchedule,
        *,
        consumer: str,
        poll_interval: float,
        attempt_timeout: float,
    ) -> None:
        self.queue = queue
        self.replayer = replayer
        self.schedule = schedule
        self.consumer = consumer
        self.poll_interval = poll_interval
        self.attempt_timeout = attempt_timeout

    async def run(self) -> None:
        """Replay rounds until cancelled; a failing round is logged and the next one tries again."""
        while True:
            try:
                report = await self.replay_due()
                if report.replayed or report.buried:
                    logger.info("dead letter queue: %s", report)
            except QueueError as error:  # expected while the queue is down: one line, no traceback
                raise_if_cancelled()
                logger.warning("dead letter queue replay round skipped: %s", error)
            except Exception:
                raise_if_cancelled()
                logger.exception("dead letter queue replay round failed")
            raise_if_cancelled()
            await asyncio.sleep(self.poll_interval)

    async def replay_due(self, *, drain: bool = False) -> ReplayReport:
        report = ReplayReport()
        for stream in STREAMS:
            raise_if_cancelled()
            await self._replay_stream(stream, report, drain=drain)
            observe_depth(stream, await self.queue.depth(stream), self.queue.max_length)
            DLQ_DEAD_LETTERS.labels(stream).set(await self.queue.dead_depth(stream))
        return report

    async def _replay_stream(self, stream: Stream, report: ReplayReport, *, drain: bool) -> None:
        while True:
            records = await self.queue.claim_due(stream, self.consumer, CLAIM_BATCH, ignore_schedule=drain)
            for record in records:
                raise_if_cancelled()
                outcome = await self._replay_one(record)
                report.count(outcome)
                if drain and outcome == "failed":
                    return
            if len(records) < CLAIM_BATCH:
                return

    async def _replay_one(self, record: QueuedRecord) -> Outcome:
        if record.attempts >= self.schedule.attempts:  # its last attempt's replayer died mid-way
            await self.queue.bury(record, f"all {self.schedule.attempts} attempts used")
            return "buried"
        try:
            async with asyncio.timeout(self.attempt_timeout):
                await self.replayer.replay(record)
        except ReplayRejected as error:
            logger.error("dead letter %s %s cannot be stored: %s", record.stream, record.record_id, error)  # noqa: TRY400
            await self.queue.bury(record, str(error))
            return "buried"
        except Exception as error:  # noqa: BLE001 - any failure is retried on schedule
            attempt = record.attempts + 1
            if attempt >= self.schedule.attempts:
                logger.error(  # noqa: TRY400 - an expected failure, named; no traceback needed
                    "dead letter %s %s failed its last attempt: %r", record.stream, record.record_id, error
                )
                reason = f"all {attempt} attempts failed; last: {type(error).__name__}: {error}"
                await self.queue.bury(replace(record, attempts=attempt), reason)
                return "buried"
            logger.warning(
                "replay of %s %s failed (attempt %d of %d): %r",
                record.stream, record.record_id, attempt, self.schedule.attempts, error,
            )  # fmt: skip
            return "failed"
        await self.queue.complete(record)
        return "replayed"
