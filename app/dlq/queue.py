"""What every dead letter queue backend does, and the retry schedule they share.

A queued record is one accepted write (a single audit event, a whole batch, or a notification
audit) with its full original payload. Its life: queued, then claimed for a replay attempt
once the schedule says it is due; a successful replay removes it, a failed one leaves it to be
claimed again after the next delay, and after the last attempt it moves to the dead letters,
where an operator can see it and send it back. A claim by a replica that then crashed expires
the same way, so another replica picks the record up. Replays are idempotent, which makes a
record replayed twice harmless.

The queue never trims: a full queue refuses new records (the caller then learns that neither
store took its write) instead of silently dropping the oldest accepted ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

Stream = Literal["events", "notifications"]
STREAMS: tuple[Stream, ...] = ("events", "notifications")


class QueueError(Exception):
    """The queue could not take or give a record."""


class QueueFull(QueueError):
    """The queue holds its maximum number of records."""


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    """``delays[n]``: seconds to wait, after the record was queued (n = 0) or after attempt n
    started, before attempt n + 1. After ``len(delays)`` failed attempts the record is dead."""

    delays: tuple[float, ...]

    @property
    def attempts(self) -> int:
        return len(self.delays)

    def wait_before(self, attempts_made: int) -> float:
        """How long a record that has seen ``attempts_made`` attempts waits before the next;
        a record past its last attempt (its replayer crashed) waits the last delay, then dies."""
        return self.delays[min(attempts_made, len(self.delays) - 1)]


@dataclass(frozen=True, slots=True)
class QueuedRecord:
    stream: Stream
    record_id: str
    payload: bytes
    attempts: int  # replay attempts started before this claim
    enqueued_at: float  # Unix seconds


class ReplayRejected(Exception):
    """The record can never be stored as it is; retrying will not help."""


class Replayer(Protocol):
    """Stores one queued record where it belongs, idempotently (a record may be replayed
    twice). The queue knows nothing of payloads: their owner (``app.audit.replay``) replays them."""

    async def replay(self, record: QueuedRecord) -> None:
        """Raises ReplayRejected when no retry can help, any other error to retry later."""
        ...


@dataclass(frozen=True, slots=True)
class DeadRecord:
    stream: Stream
    record_id: str
    payload: bytes
    attempts: int
    reason: str


class DeadLetterQueue(Protocol):
    backend: str
    max_length: int

    async def enqueue(self, stream: Stream, payload: bytes) -> int:
        """Queue a record durably; the stream's depth after it. Raises QueueFull or QueueError."""
        ...

    async def claim_due(
        self, stream: Stream, consumer: str, limit: int, *, ignore_schedule: bool = False
    ) -> Sequence[QueuedRecord]:
        """Records whose next attempt is due (all of them with ``ignore_schedule``), each now
        counting one more attempt and claimed by ``consumer`` until its next delay passes."""
        ...

    async def complete(self, record: QueuedRecord) -> None:
        """The record is stored: remove it."""
        ...

    async def bury(self, record: QueuedRecord, reason: str) -> None:
        """Move the record to the dead letters, with why."""
        ...

    async def depth(self, stream: Stream) -> int: ...

    async def dead_letters(self, stream: Stream, limit: int) -> Sequence[DeadRecord]: ...

    async def dead_depth(self, stream: Stream) -> int: ...

    async def revive(self, stream: Stream) -> int:
        """Move dead letters back to the queue with a fresh schedule (as many as fit); how many moved."""
        ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...
