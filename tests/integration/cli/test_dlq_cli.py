"""``workflow-search dlq status|replay`` as an operator runs them: real processes on a real queue.

Each test has its own data directory, so its own SQLite dead letter queue; records are put
there, and buried, through the queue API as the service would. Replays store into the
session's PostgreSQL, and the tests delete the rows they made. The Redis test uses the
session's redis-server, flushed first.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import msgspec
import pytest
import redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.audit.replay import events_payload
from app.audit.schemas import AuditEventRequest
from app.audit.service import stored_row
from app.dlq.backends import open_dead_letter_queue
from app.lib.settings import Settings, mask_url
from tests.commands import SCRIPT, command_env
from tests.factories import audit_event_body
from tests.servers import free_port

CLI_TIMEOUT_SECONDS = 60
REASON = "all 6 attempts failed; last: ConnectionRefusedError: [Errno 111] Connection refused"
EMPTY_STREAM = {"queued": 0, "capacity_ratio": 0.0, "dead_letters": 0, "dead_letter_samples": []}


def cli_env(database_url: str, data_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in command_env().items() if key != "REDIS_URL"}
    return env | {"DATABASE_URL": database_url, "WORKFLOW_SEARCH_DATA_DIR": str(data_dir)}


def dlq(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SCRIPT, "dlq", *args], env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT_SECONDS, check=False
    )


def dlq_json(env: dict[str, str], *args: str) -> dict[str, Any]:
    result = dlq(env, *args, "--json")
    assert result.returncode == 0, result.stderr
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def event_payload(event_id: UUID) -> bytes:
    event = msgspec.convert(audit_event_body(correlation_id=f"dlq-cli-{event_id}"), AuditEventRequest)
    return events_payload([stored_row(event, event_id)])


async def stored_counts(engine: AsyncEngine, event_ids: Sequence[UUID]) -> dict[UUID, int]:
    query = text("SELECT event_id, count(*) FROM audit_events WHERE event_id = ANY(:ids) GROUP BY event_id")
    async with engine.connect() as connection:
        return dict((await connection.execute(query, {"ids": list(event_ids)})).all())


@dataclass(frozen=True)
class Backlog:
    queued: UUID  # an event waiting for its next attempt
    buried: UUID  # an event in the dead letters after one attempt
    buried_bytes: int


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return cli_env(database_url, tmp_path)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def backlog(database_url: str, tmp_path: Path, engine: AsyncEngine) -> AsyncIterator[Backlog]:
    """Two queued events in the data directory's queue; the first claimed twice, then buried."""
    buried, queued = uuid4(), uuid4()
    to_bury = event_payload(buried)
    queue = await open_dead_letter_queue(Settings(database_url=database_url, data_dir=str(tmp_path)))
    try:
        await queue.enqueue("events", to_bury)
        await queue.enqueue("events", event_payload(queued))
        await queue.claim_due("events", "test", 1, ignore_schedule=True)  # its first attempt
        (record,) = await queue.claim_due("events", "test", 1, ignore_schedule=True)
        assert record.payload == to_bury
        await queue.bury(record, REASON)
    finally:
        await queue.close()
    yield Backlog(queued=queued, buried=buried, buried_bytes=len(record.payload))
    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM audit_events WHERE event_id = ANY(:ids)"), {"ids": [buried, queued]})


def test_status_of_an_empty_queue_shows_zeros_per_stream(env: dict[str, str], tmp_path: Path) -> None:
    assert dlq_json(env, "status") == {
        "backend": "sqlite",
        "location": str(tmp_path / "dead-letters.sqlite3"),
        "max_length": 10_000,
        "streams": {"events": EMPTY_STREAM, "notifications": EMPTY_STREAM},
    }


def test_status_counts_queued_and_dead_records_and_shows_why_they_died(env: dict[str, str], backlog: Backlog) -> None:
    status = dlq_json(env, "status", "--show", "5")

    assert status["streams"] == {
        "events": {
            "queued": 1,
            "capacity_ratio": 0.0001,
            "dead_letters": 1,
            "dead_letter_samples": [{"id": "1", "attempts": 1, "reason": REASON, "bytes": backlog.buried_bytes}],
        },
        "notifications": EMPTY_STREAM,
    }


@pytest.mark.usefixtures("backlog")
def test_status_table_names_the_backend_and_each_stream(env: dict[str, str], tmp_path: Path) -> None:
    result = dlq(env, "status", "--show", "5")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"dead letter queue: sqlite at {tmp_path / 'dead-letters.sqlite3'} (max 10000 per stream)"
    assert [line.split() for line in (lines[1], lines[2], lines[4])] == [
        ["stream", "queued", "full", "dead", "letters"],
        ["events", "1", "0.0%", "1"],
        ["notifications", "0", "0.0%", "0"],
    ]
    assert lines[3] == f"  dead letter 1: 1 attempts; {REASON}"
    assert len(lines) == 5


async def test_replay_stores_the_queued_event_and_leaves_the_dead_letter(
    env: dict[str, str], backlog: Backlog, engine: AsyncEngine
) -> None:
    result = dlq(env, "replay")

    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "revived 0 dead letters; replayed 1, 0 failed, 0 moved to the dead letters; still queued: 0\n"
    )
    assert await stored_counts(engine, [backlog.queued, backlog.buried]) == {backlog.queued: 1}
    events = dlq_json(env, "status")["streams"]["events"]
    assert (events["queued"], events["dead_letters"]) == (0, 1)


async def test_replay_dead_letters_revives_and_stores_the_buried_event(
    env: dict[str, str], backlog: Backlog, engine: AsyncEngine
) -> None:
    assert dlq_json(env, "replay", "--dead-letter") == {
        "revived": 1, "replayed": 2, "failed": 0, "buried": 0, "queued": 0,
    }  # fmt: skip

    assert await stored_counts(engine, [backlog.queued, backlog.buried]) == {backlog.queued: 1, backlog.buried: 1}
    assert dlq_json(env, "status")["streams"] == {"events": EMPTY_STREAM, "notifications": EMPTY_STREAM}
    # Nothing left to replay: a second run stores nothing twice.
    assert dlq_json(env, "replay", "--dead-letter") == {
        "revived": 0, "replayed": 0, "failed": 0, "buried": 0, "queued": 0,
    }  # fmt: skip
    assert await stored_counts(engine, [backlog.queued, backlog.buried]) == {backlog.queued: 1, backlog.buried: 1}


def test_replay_with_the_database_down_fails_and_keeps_the_record_queued(env: dict[str, str], backlog: Backlog) -> None:
    down = {**env, "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere"}  # nothing listens on port 1

    result = dlq(down, "replay", "--json")

    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout) == {"revived": 0, "replayed": 0, "failed": 1, "buried": 0, "queued": 1}
    events = dlq_json(env, "status")["streams"]["events"]
    assert (events["queued"], events["dead_letters"]) == (1, 1)


async def test_status_on_redis_names_the_backend_and_masks_the_password(
    env: dict[str, str], redis_url: str, tmp_path: Path
) -> None:
    redis.Redis.from_url(redis_url).flushall()
    queue = await open_dead_letter_queue(Settings(redis_url=redis_url, data_dir=str(tmp_path)))
    try:
        await queue.enqueue("notifications", b"{}")
    finally:
        await queue.close()
    # This redis-server has no password; it takes AUTH with any, so the URL may carry one.
    with_password = redis_url.replace("redis://", "redis://:s3cret-word@")

    result = dlq({**env, "REDIS_URL": with_password}, "status", "--json")

    assert result.returncode == 0, result.stderr
    assert "s3cret-word" not in result.stdout + result.stderr
    assert json.loads(result.stdout) == {
        "backend": "redis",
        "location": redis_url.replace("redis://", "redis://:***@"),
        "max_length": 10_000,
        "streams": {"events": EMPTY_STREAM, "notifications": {**EMPTY_STREAM, "queued": 1, "capacity_ratio": 0.0001}},
    }
    redis.Redis.from_url(redis_url).flushall()


def test_status_with_redis_unreachable_is_one_clear_line_without_the_password(env: dict[str, str]) -> None:
    result = dlq({**env, "REDIS_URL": f"redis://:s3cret-word@127.0.0.1:{free_port()}/0"}, "status")

    assert result.returncode == 1
    assert "s3cret-word" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "workflow-search: dead letter queue at redis://:***@127.0.0.1:" in result.stderr


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("redis://:secret@cache:6379/0", "redis://:***@cache:6379/0"),
        ("redis://app:secret@cache:6379/0", "redis://app:***@cache:6379/0"),
        ("rediss://app:p%40ss@cache:6380/2?ssl=1", "rediss://app:***@cache:6380/2?ssl=1"),
        ("redis://app:p@ss@cache:6379/0", "redis://app:***@cache:6379/0"),
        ("redis://cache:6379/0", "redis://cache:6379/0"),
        ("redis://app@cache:6379/0", "redis://app@cache:6379/0"),
    ],
)
def test_mask_url_hides_the_password_and_keeps_the_rest(url: str, masked: str) -> None:
    assert mask_url(url) == masked
