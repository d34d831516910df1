"""The dead letter queue contract (``app.dlq.queue``), the same cases on Redis Streams and SQLite.

The schedule is (0.1, 0.2, 0.3) s and the maximum length 20 (``dlq_settings``): a record is due
0.1 s after it was queued, then 0.2 s after its first claim, then 0.3 s after its second.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence

import pytest
from redis.asyncio import Redis

from app.dlq.backends import open_dead_letter_queue
from app.dlq.queue import DeadLetterQueue, QueuedRecord, QueueFull, Stream
from app.lib.settings import Settings

MAX_LENGTH = 20
FIRST_DELAY, SECOND_DELAY, THIRD_DELAY = 0.1, 0.2, 0.3
CLOCK_SLACK = 0.01  # Redis counts idle time in whole milliseconds, SQLite in wall-clock seconds


@pytest.fixture
def queue(dead_letter_queue: DeadLetterQueue) -> DeadLetterQueue:
    return dead_letter_queue


async def enqueue_all(queue: DeadLetterQueue, payloads: Iterable[bytes], stream: Stream = "events") -> list[int]:
    return [await queue.enqueue(stream, payload) for payload in payloads]


async def claim_when_due(
    queue: DeadLetterQueue, stream: Stream = "events", consumer: str = "a", limit: int = 100, within: float = 3.0
) -> Sequence[QueuedRecord]:
    """Poll ``claim_due`` until it returns something; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if records := await queue.claim_due(stream, consumer, limit):
            return records
        await asyncio.sleep(0.01)
    pytest.fail(f"nothing in {stream} became due within {within} s")


async def claim_all(queue: DeadLetterQueue, stream: Stream = "events") -> Sequence[QueuedRecord]:
    return await queue.claim_due(stream, "operator", 100, ignore_schedule=True)


def payloads_and_attempts(records: Iterable[QueuedRecord]) -> list[tuple[bytes, int]]:
    return [(record.payload, record.attempts) for record in records]


async def test_enqueue_returns_the_depth_and_payload_bytes_round_trip(queue: DeadLetterQueue) -> None:
    payloads = [b'{"events": [{"n": 1}]}', bytes(range(256)), b"\x00\xff\x00 not utf-8 \xc3\x28", b"x" * 100_000]

    assert await enqueue_all(queue, payloads) == [1, 2, 3, 4]

    assert await queue.depth("events") == 4
    claimed = await claim_all(queue)
    assert [record.payload for record in claimed] == payloads
    assert all(type(record.payload) is bytes and record.stream == "events" for record in claimed)
    assert len({record.record_id for record in claimed}) == 4


async def test_records_are_claimed_in_the_order_they_were_queued(queue: DeadLetterQueue) -> None:
    await enqueue_all(queue, [f"record-{n}".encode() for n in range(5)])
    await queue.claim_due("events", "a", 0)  # Redis: the first look starts the first delay (see below)
    await asyncio.sleep(FIRST_DELAY + 0.02)  # all five due, not just the first few

    first = await claim_when_due(queue, limit=3)
    rest = await claim_when_due(queue, limit=3)

    assert [record.payload for record in first] == [b"record-0", b"record-1", b"record-2"]
    assert [record.payload for record in rest] == [b"record-3", b"record-4"]


async def test_a_record_is_due_only_once_its_first_delay_has_passed(queue: DeadLetterQueue) -> None:
    queued_at = time.monotonic()
    await queue.enqueue("events", b"first")

    assert await queue.claim_due("events", "a", 10) == []
    claimed = await claim_when_due(queue)

    assert time.monotonic() - queued_at >= FIRST_DELAY - CLOCK_SLACK
    assert payloads_and_attempts(claimed) == [(b"first", 0)]


async def test_the_first_delay_counts_from_enqueue_not_from_the_first_look(queue: DeadLetterQueue) -> None:
    await queue.enqueue("events", b"waited")
    await asyncio.sleep(FIRST_DELAY + 0.05)

    assert payloads_and_attempts(await queue.claim_due("events", "a", 10)) == [(b"waited", 0)]


async def test_a_claim_is_exclusive_until_the_next_delay_then_counts_one_more_attempt(queue: DeadLetterQueue) -> None:
    await queue.enqueue("events", b"retry me")
    (first,) = await claim_when_due(queue, consumer="a")
    claimed_at = time.monotonic()

    assert await queue.claim_due("events", "a", 10) == []
    assert await queue.claim_due("events", "b", 10) == []
    await asyncio.sleep(SECOND_DELAY / 2)
    assert await queue.claim_due("events", "b", 10) == []

    (second,) = await claim_when_due(queue, consumer="a")
    assert time.monotonic() - claimed_at >= SECOND_DELAY - CLOCK_SLACK
    assert (second.record_id, second.payload, second.attempts) == (first.record_id, b"retry me", 1)
    reclaimed_at = time.monotonic()

    (third,) = await claim_when_due(queue, consumer="a")
    assert time.monotonic() - reclaimed_at >= THIRD_DELAY - CLOCK_SLACK
    assert (third.record_id, third.attempts) == (first.record_id, 2)
    assert await queue.depth("events") == 1


async def test_a_crashed_consumers_claim_passes_to_another_consumer_after_the_next_delay(
    queue: DeadLetterQueue,
) -> None:
    await queue.enqueue("events", b"orphan")
    (taken_by_a,) = await claim_when_due(queue, consumer="replica-a")  # replica-a then crashes: never completes
    crashed_at = time.monotonic()

    assert await queue.claim_due("events", "replica-b", 10) == []
    (taken_by_b,) = await claim_when_due(queue, consumer="replica-b")

    assert time.monotonic() - crashed_at >= SECOND_DELAY - CLOCK_SLACK
    assert (taken_by_b.record_id, taken_by_b.payload) == (taken_by_a.record_id, b"orphan")
    assert (taken_by_a.attempts, taken_by_b.attempts) == (0, 1)


async def test_ignore_schedule_claims_everything_at_once_even_records_just_claimed(queue: DeadLetterQueue) -> None:
    await enqueue_all(queue, [b"drain-0", b"drain-1", b"drain-2"])

    now = await claim_all(queue)
    again = await claim_all(queue)

    assert payloads_and_attempts(now) == [(b"drain-0", 0), (b"drain-1", 0), (b"drain-2", 0)]
    assert [record.record_id for record in again] == [record.record_id for record in now]
    assert [record.attempts for record in again] == [1, 1, 1]


async def test_complete_removes_a_record_for_good(queue: DeadLetterQueue) -> None:
    await enqueue_all(queue, [b"done", b"kept"])
    done, _ = await claim_all(queue)

    await queue.complete(done)

    assert await queue.depth("events") == 1
    assert [record.payload for record in await claim_all(queue)] == [b"kept"]  # whatever its schedule
    assert await queue.dead_depth("events") == 0


async def test_bury_moves_a_record_to_the_dead_letters_with_its_reason_and_attempts(queue: DeadLetterQueue) -> None:
    await queue.enqueue("events", b"hopeless")
    await claim_all(queue)
    (record,) = await claim_all(queue)

    await queue.bury(record, "unreadable events payload")

    assert (await queue.depth("events"), await queue.dead_depth("events")) == (0, 1)
    assert await queue.dead_depth("notifications") == 0
    (dead,) = await queue.dead_letters("events", 10)
    assert (dead.stream, dead.payload, dead.attempts) == ("events", b"hopeless", 1)
    assert dead.reason == "unreadable events payload"
    assert await claim_all(queue) == []


async def bury_all(queue: DeadLetterQueue, payloads: Sequence[bytes]) -> None:
    await enqueue_all(queue, payloads)
    await claim_all(queue)  # one attempt each, so that revive visibly resets it
    for record in await claim_all(queue):
        await queue.bury(record, "test")


async def test_revive_returns_dead_letters_with_their_attempts_reset(queue: DeadLetterQueue) -> None:
    await bury_all(queue, [b"dead-0", b"dead-1"])
    assert [dead.attempts for dead in await queue.dead_letters("events", 10)] == [1, 1]

    assert await queue.revive("events") == 2

    assert (await queue.depth("events"), await queue.dead_depth("events")) == (2, 0)
    assert payloads_and_attempts(await claim_when_due(queue)) == [(b"dead-0", 0), (b"dead-1", 0)]


async def test_revive_moves_only_as_many_as_fit_under_the_maximum_length(queue: DeadLetterQueue) -> None:
    await bury_all(queue, [f"dead-{n}".encode() for n in range(5)])
    await enqueue_all(queue, [f"live-{n}".encode() for n in range(MAX_LENGTH - 3)])

    assert await queue.revive("events") == 3
    assert (await queue.depth("events"), await queue.dead_depth("events")) == (MAX_LENGTH, 2)
    assert await queue.revive("events") == 0
    assert [dead.payload for dead in await queue.dead_letters("events", 10)] == [b"dead-3", b"dead-4"]


async def test_a_full_queue_refuses_and_never_trims(queue: DeadLetterQueue) -> None:
    payloads = [f"r{n}".encode() for n in range(MAX_LENGTH)]
    assert await enqueue_all(queue, payloads) == list(range(1, MAX_LENGTH + 1))

    with pytest.raises(QueueFull):
        await queue.enqueue("events", b"one too many")

    assert await queue.depth("events") == MAX_LENGTH
    assert [record.payload for record in await claim_all(queue)] == payloads


async def test_fifty_concurrent_enqueues_fill_the_queue_exactly(queue: DeadLetterQueue) -> None:
    writes = (queue.enqueue("events", f"c{n}".encode()) for n in range(50))
    results = await asyncio.gather(*writes, return_exceptions=True)

    accepted = sorted(result for result in results if isinstance(result, int))
    refused = [result for result in results if not isinstance(result, int)]
    assert accepted == list(range(1, MAX_LENGTH + 1))
    assert len(refused) == 50 - MAX_LENGTH
    assert all(isinstance(error, QueueFull) for error in refused)
    assert await queue.depth("events") == MAX_LENGTH


async def test_streams_are_independent(queue: DeadLetterQueue) -> None:
    await enqueue_all(queue, [f"e{n}".encode() for n in range(MAX_LENGTH)])

    assert await queue.enqueue("notifications", b"n0") == 1  # a full events stream does not matter
    assert (await queue.depth("events"), await queue.depth("notifications")) == (MAX_LENGTH, 1)
    (notification,) = await claim_all(queue, "notifications")
    assert (notification.stream, notification.payload) == ("notifications", b"n0")
    await queue.bury(notification, "test")
    assert (await queue.dead_depth("notifications"), await queue.dead_depth("events")) == (1, 0)
    assert (await queue.depth("notifications"), await queue.depth("events")) == (0, MAX_LENGTH)


async def leave_records(queue: DeadLetterQueue) -> None:
    """One dead letter, one record claimed once, one untouched."""
    await queue.enqueue("events", b"buried")
    await queue.bury((await claim_all(queue))[0], "test")
    await queue.enqueue("events", b"claimed")
    await claim_all(queue)
    await queue.enqueue("events", b"untouched")


async def test_records_survive_closing_the_queue_and_opening_a_new_one(
    queue: DeadLetterQueue, dlq_settings: Settings
) -> None:
    """SQLite: the same file opened again; Redis: a new client to the same server."""
    await leave_records(queue)
    await queue.close()

    reopened = await open_dead_letter_queue(dlq_settings)
    try:
        assert (await reopened.depth("events"), await reopened.dead_depth("events")) == (2, 1)
        assert payloads_and_attempts(await claim_all(reopened)) == [(b"claimed", 1), (b"untouched", 0)]
        dead_letters = await reopened.dead_letters("events", 10)
        assert [(dead.payload, dead.reason) for dead in dead_letters] == [(b"buried", "test")]
    finally:
        await reopened.close()


@pytest.mark.parametrize("dlq_backend", ["redis"])
async def test_redis_claims_recreate_the_group_after_flushall(queue: DeadLetterQueue, redis_url: str) -> None:
    await queue.enqueue("events", b"lost with the flush")
    await claim_all(queue)
    async with Redis.from_url(redis_url) as server:
        await server.flushall()

    assert await queue.depth("events") == 0
    assert await queue.enqueue("events", b"after the flush") == 1  # a stream without its group
    assert payloads_and_attempts(await claim_when_due(queue)) == [(b"after the flush", 0)]

    async with Redis.from_url(redis_url) as server:
        await server.flushall()
    assert await queue.claim_due("notifications", "a", 10) == []  # neither stream nor group
    await queue.enqueue("notifications", b"notification")
    assert [record.payload for record in await claim_all(queue, "notifications")] == [b"notification"]
