"""Capacity alerts and the replay worker, on both queue backends, through the real code paths.

Writes go through ``Fallback.write`` with a database attempt that fails like an unreachable
server (an injected ``ConnectionRefusedError``), so every record really lands in the queue and
the alerts see its real depth. The queue holds at most 20 records: 14, 16, 18 and 19 records
are 70%, 80%, 90% and 95% of it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from itertools import pairwise

import pytest
from prometheus_client import REGISTRY

from app.dlq.fallback import Fallback
from app.dlq.queue import DeadLetterQueue, QueuedRecord, RetrySchedule, Stream
from app.dlq.worker import ReplayWorker
from app.lib.errors import StorageUnavailable

MAX_LENGTH = 20
DELAYS = (0.1, 0.2, 0.3)
ALERTS_LOGGER = "app.dlq.alerts"

# depth: (log level of the alert, or None for no alert line; dlq_warning, dlq_critical, dlq_overflow_imminent)
CHECKPOINTS: dict[int, tuple[int | None, float, float, float]] = {
    14: (None, 0.0, 0.0, 0.0),
    16: (logging.WARNING, 1.0, 0.0, 0.0),
    18: (logging.ERROR, 1.0, 1.0, 0.0),
    19: (logging.CRITICAL, 1.0, 1.0, 1.0),
}


async def database_down() -> None:
    raise ConnectionRefusedError(111, "Connection refused")


def gauge(name: str, stream: str = "events") -> float | None:
    return REGISTRY.get_sample_value(name, {"stream": stream})


@pytest.fixture
def queue(dead_letter_queue: DeadLetterQueue) -> DeadLetterQueue:
    return dead_letter_queue


@pytest.fixture
def fallback(queue: DeadLetterQueue) -> Fallback:
    return Fallback(queue, write_timeout=1.0, queue_timeout=1.0)


async def enqueue_all(queue: DeadLetterQueue, payloads: list[bytes]) -> None:
    for payload in payloads:
        await queue.enqueue("events", payload)


async def queue_one(fallback: Fallback, n: int) -> str:
    payload = f'{{"events": [{{"n": {n}}}]}}'
    return await fallback.write("events", database_down, payload.encode)


async def test_capacity_alerts_at_70_80_90_and_95_percent(
    fallback: Fallback, queue: DeadLetterQueue, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=ALERTS_LOGGER)
    for depth in range(1, max(CHECKPOINTS) + 1):
        caplog.clear()

        assert await queue_one(fallback, depth) == "queued"

        assert await queue.depth("events") == depth
        assert gauge("dlq_depth") == depth
        assert gauge("dlq_capacity_ratio") == pytest.approx(depth / MAX_LENGTH)
        if depth not in CHECKPOINTS:
            continue
        level, warning, critical, imminent = CHECKPOINTS[depth]
        alerts = [record for record in caplog.records if record.name == ALERTS_LOGGER]
        assert [record.levelno for record in alerts] == ([] if level is None else [level]), depth
        if alerts:
            assert f"({depth} of {MAX_LENGTH})" in alerts[0].getMessage()
        flags = (gauge("dlq_warning"), gauge("dlq_critical"), gauge("dlq_overflow_imminent"))
        assert flags == (warning, critical, imminent), depth


async def test_alert_lines_name_the_level_and_how_full(fallback: Fallback, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=ALERTS_LOGGER)
    for n in range(1, 20):
        await queue_one(fallback, n)

    messages = [record.getMessage() for record in caplog.records if record.name == ALERTS_LOGGER]
    assert messages == [
        "dead letter queue events is 80% full (16 of 20): warning",
        "dead letter queue events is 85% full (17 of 20): warning",
        "dead letter queue events is 90% full (18 of 20): critical",
        "dead letter queue events is 95% full (19 of 20): overflow imminent",
    ]


async def test_a_write_to_a_full_queue_fails_as_a_database_error_and_leaves_it_full(
    fallback: Fallback, queue: DeadLetterQueue
) -> None:
    for n in range(MAX_LENGTH):
        assert await queue_one(fallback, n) == "queued"
    assert gauge("dlq_overflow_imminent") == 1.0

    with pytest.raises(StorageUnavailable) as refused:
        await queue_one(fallback, MAX_LENGTH)

    assert (refused.value.problem.status, refused.value.problem.slug) == (500, "database-error")
    assert "QueueFull" in refused.value.detail
    assert await queue.depth("events") == MAX_LENGTH
    assert await queue.dead_depth("events") == 0


class FakeReplayer:
    """Stands in for ``app.audit.replay.AuditReplayer``; records each attempt, and fails it on request."""

    def __init__(self, *, fail: bool) -> None:
        self.fail = fail
        self.attempts: list[tuple[bytes, int, float]] = []  # payload, attempts before, when

    async def replay(self, record: QueuedRecord) -> None:
        self.attempts.append((record.payload, record.attempts, time.monotonic()))
        if self.fail:
            raise ConnectionRefusedError(111, "Connection refused")


def worker_for(queue: DeadLetterQueue, replayer: FakeReplayer) -> ReplayWorker:
    schedule = RetrySchedule(DELAYS)
    return ReplayWorker(queue, replayer, schedule, consumer="t", poll_interval=0.05, attempt_timeout=1)


async def fail_until_buried(queue: DeadLetterQueue) -> tuple[FakeReplayer, float]:
    """Queue one record, run replay rounds with a failing replayer until it is buried; when it was queued."""
    replayer = FakeReplayer(fail=True)
    worker = worker_for(queue, replayer)
    queued_at = time.monotonic()
    await queue.enqueue("events", b"never stored")
    while await queue.dead_depth("events") == 0:
        assert time.monotonic() < queued_at + 5.0, f"not buried within 5 s; attempts: {replayer.attempts}"
        await worker.replay_due()
        await asyncio.sleep(0.02)
    return replayer, queued_at


async def test_a_record_that_keeps_failing_is_retried_on_schedule_then_buried(queue: DeadLetterQueue) -> None:
    replayer, queued_at = await fail_until_buried(queue)

    assert [(payload, before) for payload, before, _ in replayer.attempts] == [
        (b"never stored", 0),
        (b"never stored", 1),
        (b"never stored", 2),
    ]
    started = [queued_at] + [when for _, _, when in replayer.attempts]
    gaps = [later - earlier for earlier, later in pairwise(started)]
    assert all(gap >= delay - 0.01 for gap, delay in zip(gaps, DELAYS, strict=True)), gaps
    assert await queue.depth("events") == 0
    (dead,) = await queue.dead_letters("events", 10)
    assert dead.payload == b"never stored"
    assert dead.reason.startswith("all 3 attempts failed; last: ConnectionRefusedError")
    assert gauge("dlq_dead_letters") == 1.0


async def test_a_buried_record_counts_all_its_attempts(queue: DeadLetterQueue) -> None:
    await fail_until_buried(queue)

    (dead,) = await queue.dead_letters("events", 10)
    assert dead.attempts == len(DELAYS)  # what `workflow-search dlq` shows next to "all 3 attempts failed"


async def test_replay_due_completes_records_when_the_database_takes_them(queue: DeadLetterQueue) -> None:
    replayer = FakeReplayer(fail=False)
    worker = worker_for(queue, replayer)
    await enqueue_all(queue, [b"event-0", b"event-1", b"event-2"])
    await queue.enqueue("notifications", b"notification")

    deadline = time.monotonic() + 5.0
    replayed = 0
    while replayed < 4:
        assert time.monotonic() < deadline, f"only {replayed} of 4 replayed within 5 s"
        replayed += (await worker.replay_due()).replayed
        await asyncio.sleep(0.02)

    assert replayed == 4
    assert sorted(payload for payload, _, _ in replayer.attempts) == [
        b"event-0",
        b"event-1",
        b"event-2",
        b"notification",
    ]
    assert (await queue.depth("events"), await queue.depth("notifications")) == (0, 0)
    assert (await queue.dead_depth("events"), gauge("dlq_depth")) == (0, 0.0)


async def test_drain_replays_everything_now_and_stops_at_the_first_failure(queue: DeadLetterQueue) -> None:
    await enqueue_all(queue, [b"a", b"b", b"c"])

    failing = FakeReplayer(fail=True)
    report = await worker_for(queue, failing).replay_due(drain=True)
    assert (report.replayed, report.failed, report.buried, len(failing.attempts)) == (0, 1, 0, 1)
    assert await queue.depth("events") == 3

    succeeding = FakeReplayer(fail=False)
    report = await worker_for(queue, succeeding).replay_due(drain=True)  # not due yet by the schedule
    assert (report.replayed, report.failed, report.buried) == (3, 0, 0)
    assert [payload for payload, _, _ in succeeding.attempts] == [b"a", b"b", b"c"]
    assert await queue.depth("events") == 0


async def test_a_queue_that_does_not_answer_in_time_is_not_said_to_have_stored_nothing(queue: DeadLetterQueue) -> None:
    """Past the commit point the enqueue is seen through only within the queue's timeout; if it
    did not answer, the record may still land, and the 500 says so rather than "nothing"."""

    class SilentQueue:
        backend, max_length = queue.backend, queue.max_length

        async def enqueue(self, stream: Stream, payload: bytes) -> int:
            await asyncio.sleep(10)  # the injected fault: a queue that never answers
            return 0

    fallback = Fallback(SilentQueue(), write_timeout=1.0, queue_timeout=0.1)  # type: ignore[arg-type]
    with pytest.raises(StorageUnavailable, match="the record may yet be queued") as refused:
        await fallback.write("events", database_down, lambda: b'{"events": []}')
    assert "nothing was stored" not in refused.value.detail
