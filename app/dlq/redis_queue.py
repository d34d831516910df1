"""The dead letter queue in Redis Streams, shared by every replica through one consumer group.

Streams ``audit:dlq:events`` and ``audit:dlq:notifications`` hold queued records; their dead
letters go to ``<stream>:dead``. A record's first attempt is its first delivery, read from the
group once the first delay has passed since it was queued (its id says when). From then on the
pending entries list does the bookkeeping: the delivery count is the attempts made, the idle time
is the time since the last attempt started, so a record is due again when its idle time reaches
the schedule's next delay, whoever holds it, a crashed replica included. ``XCLAIM`` with that
idle time as its minimum makes two replicas' claims of one record exclusive.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from app.dlq.queue import DeadRecord, QueuedRecord, QueueError, QueueFull, RetrySchedule, Stream

GROUP = "workflow-search"
PENDING_SCAN = 1000

# Capacity is checked and the record added in one step, so concurrent writers cannot overfill it.
ENQUEUE = """
local depth = redis.call('XLEN', KEYS[1])
if depth >= tonumber(ARGV[1]) then return -1 end
redis.call('XADD', KEYS[1], '*', 'payload', ARGV[2])
return depth + 1
"""

REVIVE = """
local moved = 0
for _, entry in ipairs(redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', ARGV[2])) do
  if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[1]) then break end
  local fields = entry[2]
  for i = 1, #fields, 2 do
    if fields[i] == 'payload' then redis.call('XADD', KEYS[1], '*', 'payload', fields[i + 1]) end
  end
  redis.call('XDEL', KEYS[2], entry[1])
  moved = moved + 1
end
return moved
"""


def stream_key(stream: Stream) -> str:
    return f"audit:dlq:{stream}"


def dead_key(stream: Stream) -> str:
    return f"audit:dlq:{stream}:dead"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _enqueued_at(record_id: str) -> float:
    return int(record_id.split("-", 1)[0]) / 1000


class RedisDeadLetterQueue:
    backend = "redis"

    def __init__(self, client: Redis, max_length: int, schedule: RetrySchedule) -> None:
        self.client = client
        self.max_length = max_length
        self.schedule = schedule
        self._enqueue = client.register_script(ENQUEUE)
        self._revive = client.register_script(REVIVE)

    @classmethod
    def open(
        cls, url: str, max_length: int, schedule: RetrySchedule, *, timeout_seconds: float
    ) -> RedisDeadLetterQueue:
        """A client for ``url``; it connects on first use."""
        client = Redis.from_url(url, socket_timeout=timeout_seconds, socket_connect_timeout=timeout_seconds)
        return cls(client, max_length, schedule)

    async def prepare(self) -> None:
        """Create the streams and their consumer group (idempotent)."""
        for stream in ("events", "notifications"):
            await self._create_group(stream)

    async def _create_group(self, stream: Stream) -> None:
        try:
            await self.client.xgroup_create(stream_key(stream), GROUP, id="0", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise QueueError(f"redis: {error}") from error
        except RedisError as error:
            raise QueueError(f"redis: {error}") from error

    async def enqueue(self, stream: Stream, payload: bytes) -> int:
        try:
            depth = int(await self._enqueue(keys=[stream_key(stream)], args=[self.max_length, payload]))
        except RedisError as error:
            raise QueueError(f"redis: {error}") from error
        if depth < 0:
            raise QueueFull(f"dead letter queue {stream_key(stream)} holds its maximum of {self.max_length} records")
        return depth

    async def claim_due(
        self, stream: Stream, consumer: str, limit: int, *, ignore_schedule: bool = False
    ) -> Sequence[QueuedRecord]:
        try:
            try:
                retries = await self._claim_retries(stream, consumer, limit, ignore_schedule=ignore_schedule)
                firsts = await self._read_new(stream, consumer, limit - len(retries), ignore_schedule=ignore_schedule)
            except ResponseError as error:
                if "NOGROUP" not in str(error):
                    raise
                await self._create_group(stream)  # the stream was removed (FLUSHALL, or by hand)
                return []
        except RedisError as error:
            raise QueueError(f"redis: {error}") from error
        return [*retries, *firsts]

    async def _claim_retries(
        self, stream: Stream, consumer: str, limit: int, *, ignore_schedule: bool
    ) -> list[QueuedRecord]:
        """Pending records (each delivery was an attempt) whose next delay has passed since their
        last attempt started; ``XCLAIM``'s minimum idle time makes the claim exclusive."""
        key = stream_key(stream)
        pending: list[Any] = await self.client.xpending_range(
            key, GROUP, min="-", max="+", count=PENDING_SCAN,
            idle=None if ignore_schedule else int(min(self.schedule.delays) * 1000),
        )  # fmt: skip
        claimed: list[QueuedRecord] = []
        for entry in pending:
            if len(claimed) >= limit:
                break
            attempts = int(entry["times_delivered"])
            wait_ms = 0 if ignore_schedule else int(self.schedule.wait_before(attempts) * 1000)
            if int(entry["time_since_delivered"]) < wait_ms:
                continue
            taken: list[Any] = await self.client.xclaim(key, GROUP, consumer, wait_ms, [_text(entry["message_id"])])
            claimed += [self._record(stream, _text(record_id), fields, attempts) for record_id, fields in taken]
        return claimed

    async def _read_new(
        self, stream: Stream, consumer: str, limit: int, *, ignore_schedule: bool
    ) -> list[QueuedRecord]:
        """First attempts: records never delivered, queued at least the first delay ago.
        ``XREADGROUP`` hands each new record to exactly one consumer."""
        if limit <= 0:
            return []
        key = stream_key(stream)
        count = limit
        if not ignore_schedule:
            groups: list[Any] = await self.client.xinfo_groups(key)
            last = next((_text(g["last-delivered-id"]) for g in groups if _text(g["name"]) == GROUP), "0-0")
            seconds, micros = await self.client.time()  # the clock that stamped the record ids
            cutoff_ms = seconds * 1000 + micros // 1000 - int(self.schedule.wait_before(0) * 1000)
            if cutoff_ms <= 0:
                return []
            due: Any = await self.client.xrange(key, min=f"({last}", max=str(cutoff_ms), count=limit)
            count = len(due)
        if count == 0:
            return []
        read: Any = await self.client.xreadgroup(GROUP, consumer, {key: ">"}, count=count)
        return [
            self._record(stream, _text(record_id), fields, 0) for _, entries in read for record_id, fields in entries
        ]

    @staticmethod
    def _record(stream: Stream, record_id: str, fields: dict[Any, Any], attempts: int) -> QueuedRecord:
        payload = fields.get(b"payload", fields.get("payload", b""))
        return QueuedRecord(stream, record_id, payload, attempts, _enqueued_at(record_id))

    async def complete(self, record: QueuedRecord) -> None:
        key = stream_key(record.stream)
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.xack(key, GROUP, record.record_id)
                pipe.xdel(key, record.record_id)
                await pipe.execute()
        except RedisError as error:
            raise QueueError(f"redis: {error}") from error

    async def bury(self, record: QueuedRecord, reason: str) -> None:
        key = stream_key(record.stream)
        fields: dict[Any, Any] = {
            "payload": record.payload, "reason": reason, "attempts": record.attempts, "queued_as": record.record_id,
        }  # fmt: skip
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.xadd(dead_key(record.stream), fields)
                pipe.xack(key, GROUP, record.record_id)
                pipe.xdel(key, record.record_id)
                await pipe.execute()
        except RedisError as error:
            raise QueueError(f"redis: {error}") from error

    async def depth(self, stream: Stream) -> int:
        return await self._xlen(stream_key(stream))

    async def dead_depth(self, stream: Stream) -> int:
        return await self._xlen(dead_key(stream))

    async def _xlen(self, key: str) -> int:
        try:
            return int(await self.client.xlen(key))
        except RedisError as error:
            raise QueueError(f"redis: {error}") from error

    async def dead_letters(self, stream: Stream, limit: int) -> Sequence[DeadRecord]:
        try:
            entries: list[Any] = await self.client.xrange(dead_key(stream), count=limit) or []
        except RedisError as error:
            raise QueueError(f"redis: {error}") from error
        return [
            DeadRecord(
                stream,
                _text(entry_id),
                fields[b"payload"],
                int(fields.get(b"attempts", 0)),
                _text(fields.get(b"reason", b"")),
            )
            for entry_id, fields in entries
        ]

    async def revive(self, stream: Stream) -> int:
        moved = 0
        try:
            while True:
                batch = int(
                    await self._revive(keys=[stream_key(stream), dead_key(stream)], args=[self.max_length, 500])
                )
                moved += batch
                if batch < 500:
                    return moved
        except RedisError as error:
            raise QueueError(f"redis: {error}") from error

    async def ping(self) -> None:
        try:
            await self.client.ping()
        except RedisError as error:
            raise QueueError(f"redis: {error}") from error

    async def close(self) -> None:
        await self.client.aclose()
