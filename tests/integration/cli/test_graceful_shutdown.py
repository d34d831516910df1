"""SIGTERM under load: the live server leaves like a replica behind a load balancer should.

``workflow-search serve`` runs as a process (the session's PostgreSQL, a SQLite dead letter queue
in its own data directory) while 16 clients write audit events and search, ignoring readiness on
purpose, and a probe polls readiness every 50 ms. On SIGTERM readiness must turn 503 at once while
requests are still served for the propagation delay; then the listener closes (refused
connections). Shutdown must store each audit event answered 201, each search's self-audit event,
and the event waiting in the dead letter queue, which only the shutdown drain replays.

No request the server read may fail. One written in the instant the listener closes, onto a
kept-alive connection not yet read (or one in the accept backlog), is reset unread: TCP leaves no
way to serve it; that is what the propagation delay is for. Such a reset is allowed only after
the delay, and only if the server left no trace of the request (each carries its own correlation
id, which its stored row keeps).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import msgspec
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.audit.replay import events_payload
from app.audit.schemas import AuditEventRequest
from app.audit.service import stored_row
from app.dlq.backends import open_dead_letter_queue
from app.lib.settings import Settings
from tests.commands import SCRIPT, command_env
from tests.factories import audit_event_body
from tests.servers import free_port

EVENTS, SEARCH, READY = "/api/v1/audit/events", "/api/v1/workflows/search", "/health/ready"
FILTERS = {"signal_type": "OOMKilled", "severity": "critical", "component": "pod",
           "environment": "production", "priority": "P0"}  # fmt: skip
PROPAGATION_SECONDS = 1.5
CLIENTS = 16
POLL_SECONDS = 0.05
LOAD_BEFORE_SIGTERM_SECONDS = 1.0
REQUEST_TIMEOUT_SECONDS = 10.0
IN_FLIGHT_AFTER_CLOSE_SECONDS = 0.5  # how long one request's body keeps it in flight after the close
READY_TIMEOUT_SECONDS = 180.0  # the model loads on a CPU that a busy machine may share
TEST_BUDGET_SECONDS = 40.0  # load, shutdown and exit together, once ready
EXIT_TIMEOUT_SECONDS = 15.0


@dataclass(frozen=True)
class Answer:
    kind: str  # "event", "search" or "ready"
    sent_at: float  # time.monotonic(): the same clock as the server's
    done_at: float
    tag: str  # the event's correlation_id or the search's remediation_id; its stored row keeps it
    status: int | None = None  # None: no response; ``error`` says why
    error: str | None = None
    event_id: str | None = None  # of an accepted audit event
    phase: str | None = None  # of a readiness answer

    @property
    def refused(self) -> bool:
        """The connection was refused: nothing was sent, and the listener is closed."""
        return self.error == "ConnectError"

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def server_env(database_url: str, data_dir: Path, port: int) -> dict[str, str]:
    env = {key: value for key, value in command_env().items() if key != "REDIS_URL"}
    return env | {
        "DATABASE_URL": database_url,
        "WORKFLOW_SEARCH_DATA_DIR": str(data_dir),
        "WORKFLOW_SEARCH_PORT": str(port),
        "WORKFLOW_SEARCH_DLQ_BACKEND": "sqlite",
        "WORKFLOW_SEARCH_DLQ_RETRY_DELAYS_SECONDS": "3600",  # the worker never replays; the drain does
        "WORKFLOW_SEARCH_SHUTDOWN_PROPAGATION_SECONDS": str(PROPAGATION_SECONDS),
        "WORKFLOW_SEARCH_SHUTDOWN_GRACE_SECONDS": "10",
        "WORKFLOW_SEARCH_SHUTDOWN_DRAIN_SECONDS": "5",
        "WORKFLOW_SEARCH_EMBEDDING_BACKFILL_ON_START": "false",  # leave the shared catalog alone
        "WORKFLOW_SEARCH_REMEDIATION_RESYNC_INTERVAL_SECONDS": "0",
    }


@dataclass(frozen=True)
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path  # its stdout and stderr


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    """``workflow-search serve`` starting; killed at the end if it is still running."""
    port = free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [*SCRIPT, "serve"], env=server_env(database_url, tmp_path, port), stdout=log, stderr=subprocess.STDOUT
        )
    try:
        yield Server(process, f"http://127.0.0.1:{port}", log_path)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


async def wait_until_ready(http: httpx.AsyncClient, server: Server) -> None:
    deadline = asyncio.get_running_loop().time() + READY_TIMEOUT_SECONDS
    while server.process.poll() is None and asyncio.get_running_loop().time() < deadline:
        try:
            if (await http.get(READY, timeout=1)).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    log = await asyncio.to_thread(server.log_path.read_text)
    raise AssertionError(f"the server exited, or was not ready in {READY_TIMEOUT_SECONDS:.0f} s:\n{log}")


async def queue_one_event(settings: Settings, correlation_id: str) -> UUID:
    """One accepted audit event, waiting in the server's dead letter queue (due in an hour)."""
    body = audit_event_body(correlation_id=correlation_id, event_type="test.shutdown.queued")
    event_id = uuid4()
    queue = await open_dead_letter_queue(settings)
    try:
        await queue.enqueue("events", events_payload([stored_row(msgspec.convert(body, AuditEventRequest), event_id)]))
    finally:
        await queue.close()
    return event_id


async def held_back(body: dict[str, Any], closed: asyncio.Event) -> AsyncIterator[bytes]:
    """A body's first bytes now, the rest well after the listener closed: a request in flight."""
    data = json.dumps(body).encode()
    yield data[:16]
    await closed.wait()
    await asyncio.sleep(IN_FLIGHT_AFTER_CLOSE_SECONDS)
    yield data[16:]


async def send(http: httpx.AsyncClient, kind: str, tag: str, closed: asyncio.Event) -> Answer:
    sent_at = time.monotonic()
    try:
        if kind == "event":
            response = await http.post(EVENTS, json=audit_event_body(correlation_id=tag))
        elif kind == "upload":
            body = held_back(audit_event_body(correlation_id=tag), closed)
            response = await http.post(EVENTS, content=body, headers={"content-type": "application/json"})
        elif kind == "search":
            response = await http.post(SEARCH, json={"filters": FILTERS, "remediation_id": tag})
        else:
            response = await http.get(READY)
    except httpx.TransportError as error:
        return Answer(kind, sent_at, time.monotonic(), tag, error=type(error).__name__)
    body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
    return Answer(
        kind, sent_at, time.monotonic(), tag, status=response.status_code,
        event_id=body.get("event_id") if kind in {"event", "upload"} else None,
        phase=body.get("phase") if kind == "ready" else None,
    )  # fmt: skip


def mixed_load(run_id: str, client: int) -> Iterator[tuple[str, str]]:
    """Audit writes and searches in turn, each tagged with its own correlation id."""
    return (("event" if n % 2 else "search", f"{run_id}/{client}/{n}") for n in itertools.count(client))


@dataclass
class Load:
    answers: list[Answer]
    closed: asyncio.Event  # set at the first refused connection
    until: float

    async def drive(self, http: httpx.AsyncClient, requests: Iterable[tuple[str, str]], pause: float = 0) -> None:
        """Requests one after another until the connection is refused."""
        for kind, tag in requests:
            answer = await send(http, kind, tag, self.closed)
            self.answers.append(answer)
            if answer.refused:
                self.closed.set()
            if answer.refused or time.monotonic() > self.until:
                return
            await asyncio.sleep(pause)


def timeline(answers: Sequence[Answer], sigterm_at: float) -> str:
    """Answers timed from the SIGTERM, for assertion messages."""
    return "\n".join(
        f"{a.kind} {a.tag} sent +{a.sent_at - sigterm_at:.3f}s done +{a.done_at - sigterm_at:.3f}s:"
        f" {a.status or a.error}"
        for a in answers
    )


async def stored_rows(engine: AsyncEngine, run_id: str) -> Counter[tuple[str, str]]:
    """The run's rows as (correlation_id, event_id): audit events, and searches' self-audit events."""
    query = text("SELECT correlation_id, event_id::text FROM audit_events WHERE starts_with(correlation_id, :run)")
    async with engine.connect() as connection:
        return Counter(tuple(row) for row in await connection.execute(query, {"run": run_id}))


@pytest.fixture
def run_id() -> str:
    return f"graceful-shutdown-{uuid4()}"


@pytest.fixture
async def engine(database_url: str, run_id: str) -> AsyncIterator[AsyncEngine]:
    """The session's database; the run's rows are deleted afterwards."""
    engine = create_async_engine(database_url)
    yield engine
    async with engine.begin() as connection:
        await connection.execute(
            text("DELETE FROM audit_events WHERE starts_with(correlation_id, :run)"), {"run": run_id}
        )
    await engine.dispose()


async def test_sigterm_under_load_fails_no_request_and_stores_everything(
    server: Server, engine: AsyncEngine, run_id: str, database_url: str, tmp_path: Path
) -> None:
    settings = Settings(database_url=database_url, data_dir=str(tmp_path), dlq_retry_delays_seconds=(3600.0,))
    async with httpx.AsyncClient(base_url=server.base_url) as first_probe:
        await wait_until_ready(first_probe, server)
    async with asyncio.timeout(TEST_BUDGET_SECONDS), AsyncExitStack() as stack:
        # Made up front: each client builds an SSL context, which would stall the load.
        clients = [
            httpx.AsyncClient(base_url=server.base_url, timeout=REQUEST_TIMEOUT_SECONDS) for _ in range(CLIENTS + 2)
        ]
        probe, slow, *http = [await stack.enter_async_context(client) for client in clients]
        queued_id = await queue_one_event(settings, run_id)
        traffic = Load([], asyncio.Event(), until=time.monotonic() + TEST_BUDGET_SECONDS / 2)
        async with asyncio.TaskGroup() as loops:  # waits for every loop to see the listener closed
            for n in range(CLIENTS):
                loops.create_task(traffic.drive(http[n], mixed_load(run_id, n)))
            loops.create_task(traffic.drive(probe, itertools.repeat(("ready", "")), POLL_SECONDS))
            await asyncio.sleep(LOAD_BEFORE_SIGTERM_SECONDS)
            loops.create_task(traffic.drive(slow, [("upload", f"{run_id}/upload")]))
            stored_early = (run_id, str(queued_id)) in await stored_rows(engine, run_id)
            sigterm_at = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
        exit_code = await asyncio.to_thread(server.process.wait, EXIT_TIMEOUT_SECONDS)
    log_text = await asyncio.to_thread(server.log_path.read_text)
    assert exit_code in (0, -signal.SIGTERM), log_text
    assert not stored_early, "only the shutdown drain may store the queued event"
    rows = await stored_rows(engine, run_id)
    stored = Counter(tag for tag, _ in rows.elements())

    answers = traffic.answers
    load = [answer for answer in answers if answer.kind != "ready"]
    probes = [answer for answer in answers if answer.kind == "ready"]
    assert sum(a.succeeded for a in load if a.done_at < sigterm_at) >= CLIENTS, "the load had not started"
    assert {a.status for a in probes if a.done_at < sigterm_at} == {200}
    refused = [answer for answer in answers if answer.refused]
    assert len(refused) == CLIENTS + 1, "every loop goes on until the listener is closed"
    first_refused = min(answer.done_at for answer in refused)
    assert first_refused - sigterm_at >= PROPAGATION_SECONDS, "the listener closed before the delay passed"
    reset = [a for a in answers if a.error is not None and not a.refused]
    unexplained = [a for a in reset if a.done_at < sigterm_at + PROPAGATION_SECONDS or a.tag in stored]
    assert unexplained == [], "requests failed in flight:\n" + timeline(unexplained, sigterm_at)
    assert [a for a in load if a.status is not None and not a.succeeded] == []
    assert {a.status for a in probes if a.status is not None} == {200, 503}

    unready = [answer for answer in probes if answer.status == 503]
    assert {answer.phase for answer in unready} == {"shutting_down"}
    first_unready = min(answer.done_at for answer in unready)
    assert first_unready < sigterm_at + PROPAGATION_SECONDS / 2, "readiness did not turn 503 at once"
    assert first_unready < first_refused
    assert {a.status for a in probes if a.sent_at > first_unready and a.status} == {503}, "ready again"
    served_late = [a for a in load if a.sent_at > first_unready and a.succeeded]
    assert len(served_late) >= CLIENTS, "requests were not served through the propagation delay"

    (upload,) = [answer for answer in answers if answer.kind == "upload"]
    assert (upload.status, upload.done_at > first_refused) == (201, True), "an in-flight request did not finish"
    assert "timeout graceful shutdown exceeded" not in log_text
    accepted = [a for a in load if a.kind in {"event", "upload"} and a.succeeded]
    queued_by_server = sum(a.status == 202 for a in accepted)
    assert "Application shutdown complete" in log_text
    assert f"dead letter queue drain at shutdown: {1 + queued_by_server} replayed, 0 failed, 0 buried" in log_text
    # Each event, the queued one and the searches' self-audit events (flushed at shutdown): once.
    assert stored == Counter([run_id, *(a.tag for a in load if a.succeeded)])
    assert rows.keys() >= {(run_id, str(queued_id)), *((a.tag, a.event_id) for a in accepted)}
    queue = await open_dead_letter_queue(settings)
    try:
        assert (await queue.depth("events"), await queue.dead_depth("events")) == (0, 0)
    finally:
        await queue.close()
