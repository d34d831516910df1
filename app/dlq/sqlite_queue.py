"""The embedded default dead letter queue: a durable SQLite file in the data directory.

WAL with ``synchronous=FULL``: a record is on disk before ``enqueue`` returns. The same life as
the Redis backend (``queue.py``): a claim counts an attempt and moves the record's due time to
when its next attempt may start, so a record whose replayer crashed is simply due again then.
Several processes on one machine may share the file; SQLite's locks order their claims.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from app.dlq.queue import DeadRecord, QueuedRecord, QueueError, QueueFull, RetrySchedule, Stream

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS queued (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    stream TEXT NOT NULL,
    payload BLOB NOT NULL,
    enqueued_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    due_at REAL NOT NULL,
    claimed_by TEXT
);
CREATE INDEX IF NOT EXISTS queued_by_due ON queued (stream, due_at);
CREATE TABLE IF NOT EXISTS dead (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    stream TEXT NOT NULL,
    payload BLOB NOT NULL,
    attempts INTEGER NOT NULL,
    reason TEXT NOT NULL,
    queued_as TEXT NOT NULL,
    buried_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_by_stream ON dead (stream, id);
"""


class SqliteDeadLetterQueue:
    backend = "sqlite"

    def __init__(self, path: Path, max_length: int, schedule: RetrySchedule, *, timeout_seconds: float) -> None:
        self.path = path
        self.max_length = max_length
        self.schedule = schedule
        self.timeout_seconds = timeout_seconds
        # One thread owns the connection: sqlite3 objects must stay on the thread that made them.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dlq-sqlite")
        self._connection: sqlite3.Connection | None = None

    @classmethod
    async def open(
        cls, path: Path, max_length: int, schedule: RetrySchedule, *, timeout_seconds: float
    ) -> SqliteDeadLetterQueue:
        queue = cls(path, max_length, schedule, timeout_seconds=timeout_seconds)
        await queue.ping()  # creates the file and its tables
        return queue

    def _connect(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=self.timeout_seconds, isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.executescript(SCHEMA)
        self._connection = connection

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            if self._connection is None:
                self._connect()
            assert self._connection is not None
            return work(self._connection)

        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, call)
        except sqlite3.Error as error:
            raise QueueError(f"sqlite: {error}") from error

    async def enqueue(self, stream: Stream, payload: bytes) -> int:
        def add(db: sqlite3.Connection) -> int:
            now = time.time()
            with _immediate(db):
                (depth,) = db.execute("SELECT count(*) FROM queued WHERE stream = ?", (stream,)).fetchone()
                if depth >= self.max_length:
                    return -1
                db.execute(
                    "INSERT INTO queued (stream, payload, enqueued_at, due_at) VALUES (?, ?, ?, ?)",
                    (stream, payload, now, now + self.schedule.wait_before(0)),
                )
            return int(depth) + 1

        depth = await self._run(add)
        if depth < 0:
            raise QueueFull(f"dead letter queue {stream} holds its maximum of {self.max_length} records")
        return depth

    async def claim_due(
        self, stream: Stream, consumer: str, limit: int, *, ignore_schedule: bool = False
    ) -> Sequence[QueuedRecord]:
        def claim(db: sqlite3.Connection) -> list[QueuedRecord]:
            now = time.time()
            with _immediate(db):
                rows = db.execute(
                    "SELECT id, payload, attempts, enqueued_at FROM queued"
                    " WHERE stream = ? AND (? OR due_at <= ?) ORDER BY id LIMIT ?",
                    (stream, ignore_schedule, now, limit),
                ).fetchall()
                for record_id, _, attempts, _ in rows:
                    db.execute(
                        "UPDATE queued SET attempts = ?, due_at = ?, claimed_by = ? WHERE id = ?",
                        (attempts + 1, now + self.schedule.wait_before(attempts + 1), consumer, record_id),
                    )
            return [QueuedRecord(stream, str(row[0]), row[1], row[2], row[3]) for row in rows]

        return await self._run(claim)

    async def complete(self, record: QueuedRecord) -> None:
        await self._run(lambda db: db.execute("DELETE FROM queued WHERE id = ?", (int(record.record_id),)))

    async def bury(self, record: QueuedRecord, reason: str) -> None:
        def move(db: sqlite3.Connection) -> None:
            with _immediate(db):
                db.execute(
                    "INSERT INTO dead (stream, payload, attempts, reason, queued_as, buried_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (record.stream, record.payload, record.attempts, reason, record.record_id, time.time()),
                )
                db.execute("DELETE FROM queued WHERE id = ?", (int(record.record_id),))

        await self._run(move)

    async def depth(self, stream: Stream) -> int:
        return await self._count("queued", stream)

    async def dead_depth(self, stream: Stream) -> int:
        return await self._count("dead", stream)

    async def _count(self, table: str, stream: Stream) -> int:
        query = f"SELECT count(*) FROM {table} WHERE stream = ?"  # noqa: S608 - table is one of two literals
        row = await self._run(lambda db: db.execute(query, (stream,)).fetchone())
        return int(row[0])

    async def dead_letters(self, stream: Stream, limit: int) -> Sequence[DeadRecord]:
        rows = await self._run(
            lambda db: db.execute(
                "SELECT id, payload, attempts, reason FROM dead WHERE stream = ? ORDER BY id LIMIT ?", (stream, limit)
            ).fetchall()
        )
        return [DeadRecord(stream, str(row[0]), row[1], row[2], row[3]) for row in rows]

    async def revive(self, stream: Stream) -> int:
        def move(db: sqlite3.Connection) -> int:
            now = time.time()
            with _immediate(db):
                (depth,) = db.execute("SELECT count(*) FROM queued WHERE stream = ?", (stream,)).fetchone()
                room = max(self.max_length - int(depth), 0)
                rows = db.execute(
                    "SELECT id, payload FROM dead WHERE stream = ? ORDER BY id LIMIT ?", (stream, room)
                ).fetchall()
                for dead_id, payload in rows:
                    db.execute(
                        "INSERT INTO queued (stream, payload, enqueued_at, due_at) VALUES (?, ?, ?, ?)",
                        (stream, payload, now, now + self.schedule.wait_before(0)),
                    )
                    db.execute("DELETE FROM dead WHERE id = ?", (dead_id,))
            return len(rows)

        return await self._run(move)

    async def ping(self) -> None:
        await self._run(lambda db: db.execute("SELECT 1").fetchone())

    async def close(self) -> None:
        def disconnect(_: sqlite3.Connection) -> None:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

        if self._connection is not None:
            await self._run(disconnect)
        self._executor.shutdown(wait=True)


class _immediate:  # noqa: N801 - reads as a statement: ``with _immediate(db):``
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error): the write lock from the start,
    so a count and the insert that depends on it see the same queue."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, kind: object, error: object, traceback: object) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")
