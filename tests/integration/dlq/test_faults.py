"""The fault suite of issue 8: each fault the service must live through, with real processes.

Real PostgreSQL, real redis-server processes, real HTTP, loopback only, every wait bounded.
Faults are real (a killed Redis, a model file with the wrong digest) or injected into the real
PostgreSQL through ``tests.faults`` (a trigger that refuses writes with SQLSTATE 57P03, "cannot
connect now", which every connection sees exactly as it would see an outage).

- The database stopped and started again under load: ``test_dlq_outage.py`` (1,000 concurrent
  audit writes through a real PostgreSQL restart, on both queue backends: every write answered
  201 or 202 is stored exactly once, with every field as sent). Not repeated here.
- Redis stopped while the database is up: ``test_redis_down_degrades_the_queue_but_not_the_writes``.
- The embedding model failing: ``test_a_model_that_fails_to_load_leaves_label_search_and_writes_working``.
- Two replicas and two backfill workers against one database and one Redis:
  ``test_two_replicas_and_two_backfills_share_one_database_and_one_redis``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID, uuid4

import httpx
import msgspec
import pytest
import redis.asyncio
from litestar import Litestar
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.audit.notification_schemas import NotificationAudit
from app.cli import migrate
from app.dlq.redis_queue import GROUP, dead_key, stream_key
from app.factory import create_app
from app.http.runtime import runtime_of
from app.lib.settings import Settings
from embeddings.model import DEFAULT_MODEL_ID, ModelSpec, SentenceEncoder
from tests.commands import SCRIPT, command_env
from tests.factories import audit_event_body, notification_audit_body, workflow_body
from tests.faults import remove_trigger_fault, trigger_fault
from tests.integration.dlq.test_dlq_fallback import rows
from tests.problems import assert_problem
from tests.servers import RedisProcess, asgi_transport, free_port, redis_server, running, stoppable_redis_server

T = TypeVar("T")

EVENTS, BATCH = "/api/v1/audit/events", "/api/v1/audit/events/batch"
NOTIFICATIONS, WORKFLOWS = "/api/v1/audit/notifications", "/api/v1/workflows"
SEARCH, READY = "/api/v1/workflows/search", "/health/ready"
FILTERS = {"signal_type": "OOMKilled", "severity": "critical", "component": "pod",
           "environment": "production", "priority": "P0"}  # fmt: skip
# What an unreachable or restarting PostgreSQL answers: an outage, so audit writes are queued.
OUTAGE = "RAISE EXCEPTION 'injected fault: database unavailable' USING ERRCODE = '57P03';"
# Long enough that records survive the fault windows below, short enough to replay within seconds.
RETRY_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
CLI_TIMEOUT_SECONDS = 60


async def wait_until(probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], what: str, seconds: float) -> T:
    """Poll ``probe`` until ``done`` holds; fail naming ``what`` and the last value seen."""
    deadline = time.monotonic() + seconds
    while True:
        value = await probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {seconds} s; last seen: {value!r}")
        await asyncio.sleep(0.1)


def assert_stored_as_sent(stored: dict[str, Any], sent: dict[str, Any]) -> None:
    """Every field the client sent is stored as sent (the timestamp compared as an instant)."""
    assert {key: stored[key] for key in sent if key != "event_timestamp"} == {
        key: value for key, value in sent.items() if key != "event_timestamp"
    }
    assert stored["event_timestamp"].isoformat() == sent["event_timestamp"]


async def assert_notification_stored_as_sent(engine: AsyncEngine, notification_id: str, sent: dict[str, Any]) -> None:
    (stored,) = await rows(engine, "SELECT * FROM notification_audit WHERE notification_id = :id", id=notification_id)
    assert msgspec.convert(stored, NotificationAudit) == msgspec.convert(sent, NotificationAudit)


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SCRIPT, *args], env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT_SECONDS, check=False
    )


# ---------------------------------------------------------------------------------------------
# Redis stopped while the database is up
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def stoppable_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    workdir = tmp_path / "redis"
    workdir.mkdir()
    with stoppable_redis_server(workdir) as server:
        yield server


@pytest.fixture
async def redis_backed_app(
    client: httpx.AsyncClient,  # an empty catalog and audit trail, emptied again afterwards
    settings: Settings,
    sentence_encoder: SentenceEncoder,
    stoppable_redis: RedisProcess,
    tmp_path: Path,
) -> AsyncIterator[Litestar]:
    """The service with its dead letter queue in ``stoppable_redis`` and its retry worker on."""
    configured = settings.with_overrides(
        data_dir=str(tmp_path),
        dlq_backend="redis",
        redis_url=stoppable_redis.url,
        dlq_worker=True,
        dlq_retry_delays_seconds=RETRY_DELAYS,
        dlq_poll_interval_seconds=0.1,
        dlq_write_timeout_seconds=0.5,
        audit_write_timeout_seconds=1.0,
    )
    async with running(create_app(configured, encoder=sentence_encoder)) as application:
        yield application


async def test_redis_down_degrades_the_queue_but_not_the_writes(
    redis_backed_app: Litestar, stoppable_redis: RedisProcess, database_url: str, tmp_path: Path
) -> None:
    app, engine = redis_backed_app, runtime_of(redis_backed_app).engine
    queue = runtime_of(app).dead_letters.queue
    transport = asgi_transport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        assert (await http.get(READY)).json()["dead_letter_queue"] == "connected"
        await asyncio.to_thread(stoppable_redis.kill)

        # The database alone takes every write: nothing needs the queue while it does.
        workflow = await http.post(WORKFLOWS, json=workflow_body(workflow_name="written-without-redis"))
        single = await http.post(EVENTS, json=(single_sent := audit_event_body(correlation_id="no-redis-single")))
        batch_sent = [audit_event_body(correlation_id=f"no-redis-batch-{i}") for i in range(3)]
        batch = await http.post(BATCH, json=batch_sent)
        notification_sent = notification_audit_body(notification_id="no-redis-notification")
        notification = await http.post(NOTIFICATIONS, json=notification_sent)
        search = await http.post(SEARCH, json={"filters": FILTERS})
        by_text = await http.post(SEARCH, json={"filters": FILTERS, "query": "pod killed for using too much memory"})
        assert [r.status_code for r in (workflow, single, batch, notification, search, by_text)] == [
            201, 201, 201, 201, 200, 200,
        ], [r.text for r in (workflow, single, batch, notification, search, by_text)]  # fmt: skip
        assert [w["workflow_name"] for w in search.json()["workflows"]] == ["written-without-redis"]
        assert [w["workflow_name"] for w in by_text.json()["workflows"]] == ["written-without-redis"]
        stored = {
            row["event_id"]: row
            for row in await rows(engine, "SELECT * FROM audit_events WHERE starts_with(correlation_id, 'no-redis-')")
        }
        accepted = [single.json()["event_id"], *batch.json()["event_ids"]]
        assert sorted(stored) == sorted(UUID(event_id) for event_id in accepted)
        for event_id, sent in zip(accepted, [single_sent, *batch_sent], strict=True):
            assert_stored_as_sent(stored[UUID(event_id)], sent)
        await assert_notification_stored_as_sent(engine, "no-redis-notification", notification_sent)

        # Degraded, not unready: the queue is only the fallback.
        ready = await http.get(READY)
        assert ready.status_code == 200, ready.text
        assert (ready.json()["dead_letter_queue"], ready.json().get("failed", [])) == ("unreachable", [])
        assert (await http.get("/health")).status_code == 200

        # The operator's view says so too, plainly.
        env = {key: value for key, value in command_env().items() if key != "REDIS_URL"} | {
            "DATABASE_URL": database_url, "REDIS_URL": stoppable_redis.url,
            "WORKFLOW_SEARCH_DATA_DIR": str(tmp_path), "WORKFLOW_SEARCH_DLQ_WRITE_TIMEOUT_SECONDS": "1",
        }  # fmt: skip
        status = await asyncio.to_thread(cli, env, "dlq", "status", "--json")
        assert status.returncode == 1, (status.stdout, status.stderr)
        assert f"dead letter queue at {stoppable_redis.url} unavailable" in status.stderr, status.stderr
        assert status.stdout == ""

        # The database fails too: nothing can be accepted, and the client is told so.
        await runtime_of(app).search_audit.flush()  # the searches' own audit events are stored by now
        async with (
            trigger_fault(engine, "events_down", table="audit_events", event="INSERT", body=OUTAGE),
            trigger_fault(engine, "notifications_down", table="notification_audit", event="INSERT", body=OUTAGE),
        ):
            refused = [
                await http.post(EVENTS, json=audit_event_body(correlation_id="both-down-single")),
                await http.post(BATCH, json=[audit_event_body(correlation_id="both-down-batch") for _ in range(2)]),
                await http.post(NOTIFICATIONS, json=notification_audit_body(notification_id="both-down")),
            ]
            for response in refused:
                problem = assert_problem(response, 500, "database-error")
                assert "the database and the dead letter queue both failed" in problem["detail"], problem
            assert await rows(engine, "SELECT 1 FROM audit_events WHERE starts_with(correlation_id, 'both-down')") == []

            # Redis comes back on its address: the very next writes are queued again (no reconnect
            # step, no wait), and readiness reports the queue connected.
            await asyncio.to_thread(stoppable_redis.start)
            queued_single_sent = audit_event_body(correlation_id="requeued-single")
            queued_batch_sent = [audit_event_body(correlation_id=f"requeued-batch-{i}") for i in range(2)]
            queued_notification_sent = notification_audit_body(notification_id="requeued-notification")
            queued = [
                await http.post(EVENTS, json=queued_single_sent),
                await http.post(BATCH, json=queued_batch_sent),
                await http.post(NOTIFICATIONS, json=queued_notification_sent),
            ]
            assert [r.status_code for r in queued] == [202, 202, 202], [r.text for r in queued]
            assert (await queue.depth("events"), await queue.depth("notifications")) == (2, 1)
            ready = await http.get(READY)
            assert (ready.status_code, ready.json()["dead_letter_queue"]) == (200, "connected"), ready.text

        # The fault is over: the retry worker stores each queued record, once.
        queued_ids = [queued[0].json()["event_id"], *queued[1].json()["event_ids"]]

        async def replayed() -> list[dict[str, Any]]:
            return await rows(engine, "SELECT * FROM audit_events WHERE starts_with(correlation_id, 'requeued-')")

        found = await wait_until(replayed, lambda found: len(found) >= 3, "queued events replayed", 30)
        await wait_until(
            lambda: rows(engine, "SELECT 1 FROM notification_audit WHERE notification_id = 'requeued-notification'"),
            bool, "queued notification replayed", 30,
        )  # fmt: skip
        await wait_until(lambda: queue.depth("events"), lambda depth: depth == 0, "events queue empty", 10)
        by_id = {row["event_id"]: row for row in found}
        assert sorted(by_id) == sorted(UUID(event_id) for event_id in queued_ids)
        assert len(found) == 3  # once each
        for event_id, sent in zip(queued_ids, [queued_single_sent, *queued_batch_sent], strict=True):
            assert_stored_as_sent(by_id[UUID(event_id)], sent)
        await assert_notification_stored_as_sent(engine, "requeued-notification", queued_notification_sent)
        for stream in ("events", "notifications"):
            assert (await queue.depth(stream), await queue.dead_depth(stream)) == (0, 0), stream
        assert await rows(engine, "SELECT 1 FROM notification_audit WHERE notification_id = 'both-down'") == []


# ---------------------------------------------------------------------------------------------
# The embedding model failing
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def swapped_model(tmp_path: Path) -> Path:
    """The packaged model with its weights swapped for another file: the SHA-256 check refuses it."""
    source = ModelSpec().resolved_path()
    target = tmp_path / "swapped-model"
    target.mkdir()
    for item in source.iterdir():
        if item.name != "model.safetensors":
            (target / item.name).symlink_to(item)
    (target / "model.safetensors").write_bytes(b"weights that are not the official all-MiniLM-L6-v2")
    return target


async def test_a_model_that_fails_to_load_leaves_label_search_and_writes_working(
    client: httpx.AsyncClient,
    settings: Settings,
    sentence_encoder: SentenceEncoder,
    swapped_model: Path,
    tmp_path: Path,
) -> None:
    # A catalog made while the model worked: one workflow the search below matches, one it does not.
    made_before = await client.post(WORKFLOWS, json=workflow_body(workflow_name="oom-before"))
    other = await client.post(WORKFLOWS, json=workflow_body(labels={"signal_type": "CrashLoopBackOff"}))
    assert (made_before.status_code, other.status_code) == (201, 201)
    assert made_before.json()["embedding_status"] == "ready"
    query = "the pod was killed because it used too much memory"
    hybrid = {"filters": {**FILTERS, "detected_labels": {"gitOpsManaged": True}}, "query": query}

    broken = settings.with_overrides(
        data_dir=str(tmp_path), embedding_model_path=str(swapped_model), embedding_backfill_on_start=True
    )
    async with (
        running(create_app(broken)) as app,  # no encoder given: it loads the configured (swapped) model
        httpx.AsyncClient(transport=asgi_transport(app), base_url="http://testserver") as http,
    ):

        async def readiness() -> httpx.Response:
            return await http.get(READY)

        ready = await wait_until(
            readiness, lambda r: r.json().get("model_error") is not None, "the model load fails and says why", 30
        )
        assert ready.status_code == 503
        body = ready.json()
        assert (body["status"], body["failed"], body["model"], body["model_loaded"]) == (
            "not_ready", ["model"], DEFAULT_MODEL_ID, False,
        )  # fmt: skip
        assert "SHA-256" in body["model_error"], body
        assert "refusing to load it" in body["model_error"], body

        label = await http.post(SEARCH, json={"filters": FILTERS})
        assert label.status_code == 200, label.text
        assert [w["workflow_id"] for w in label.json()["workflows"]] == [made_before.json()["workflow_id"]]
        for needs_model in ({"filters": FILTERS, "query": query}, hybrid):
            problem = assert_problem(await http.post(SEARCH, json=needs_model), 503, "service-unavailable")
            assert "embedding model is not loaded" in problem["detail"]
        # A caller's own vector needs no model: the stored embeddings still serve it.
        vector = [float(x) for x in sentence_encoder.encode([query])[0]]
        by_vector = await http.post(SEARCH, json={"filters": FILTERS, "embedding": vector})
        assert by_vector.status_code == 200, by_vector.text
        assert [w["workflow_id"] for w in by_vector.json()["workflows"]] == [made_before.json()["workflow_id"]]

        created = await http.post(WORKFLOWS, json=workflow_body(workflow_name="oom-while-broken"))
        assert created.status_code == 201, created.text
        assert created.json()["embedding_status"] == "pending"
        pending_id = created.json()["workflow_id"]
        (row,) = await rows(
            runtime_of(app).engine,
            "SELECT embedding IS NULL AS missing, embedding_model, text_hash FROM workflows WHERE workflow_id = :id",
            id=UUID(pending_id),
        )
        assert (row["missing"], row["embedding_model"]) == (True, None)
        assert row["text_hash"] is not None  # what the backfill will embed is known already
        both = await http.post(SEARCH, json={"filters": FILTERS})
        assert {w["workflow_id"] for w in both.json()["workflows"]} == {made_before.json()["workflow_id"], pending_id}

    # A working model at the next start: it loads, and its start-up backfill embeds what is pending.
    healed = settings.with_overrides(data_dir=str(tmp_path), embedding_backfill_on_start=True)
    async with (
        running(create_app(healed)) as app,
        httpx.AsyncClient(transport=asgi_transport(app), base_url="http://testserver") as http,
    ):

        async def embedding_of_the_pending_one() -> list[dict[str, Any]]:
            return await rows(
                runtime_of(app).engine,
                "SELECT embedding_model, embedding_text_hash = text_hash AS current FROM workflows"
                " WHERE workflow_id = :id AND embedding IS NOT NULL",
                id=UUID(pending_id),
            )

        (embedded,) = await wait_until(
            embedding_of_the_pending_one, bool, "the start-up backfill embeds the pending workflow", 60
        )
        assert embedded == {"embedding_model": DEFAULT_MODEL_ID, "current": True}
        assert (await http.get(f"{WORKFLOWS}/{pending_id}")).json()["embedding_status"] == "ready"
        assert (await http.get(READY)).status_code == 200
        semantic = await http.post(SEARCH, json={"filters": FILTERS, "query": query})
        assert semantic.status_code == 200, semantic.text
        assert semantic.json()["skipped_without_embedding"] == 0
        assert {w["workflow_id"] for w in semantic.json()["workflows"]} == {
            made_before.json()["workflow_id"], pending_id,
        }  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Two replicas and two backfill workers against one database and one Redis
# ---------------------------------------------------------------------------------------------

WORKFLOW_COUNT = 200  # created half through each replica, all pending, embedded by the backfills
EVENT_COUNT = 240  # single audit events, half through each replica
BATCH_COUNT, BATCH_SIZE = 12, 5
CLIENTS_PER_REPLICA = 6
FAULT_FROM, FAULT_UNTIL = 60, 160  # the database refuses audit writes between these answer counts
SERVE_START_SECONDS = 60
BACKFILL_BATCH = 20  # ten batches: released together, each process claims some of them
BACKFILL_SECONDS = 180  # two processes loading torch and the model on a busy 2-core machine


@pytest.fixture
async def fresh_database(database_url: str) -> AsyncIterator[str]:
    """A database of its own on the session's PostgreSQL, migrated; dropped afterwards.
    Replicas and backfills then see only what this test made."""
    name = f"faults_{uuid4().hex[:12]}"
    admin = create_async_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f"CREATE DATABASE {name}"))
        url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
        await asyncio.to_thread(migrate.upgrade, url)
        yield url
        async with admin.connect() as connection:
            await connection.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
    finally:
        await admin.dispose()


@pytest.fixture
async def fresh_engine(fresh_database: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(fresh_database)
    yield engine
    await engine.dispose()


@pytest.fixture
def shared_redis(tmp_path: Path) -> Iterator[str]:
    workdir = tmp_path / "redis"
    workdir.mkdir()
    with redis_server(workdir) as url:
        yield url


@dataclass(frozen=True)
class Replica:
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text()


def replica_env(database_url: str, redis_url: str, data_dir: Path, port: int) -> dict[str, str]:
    """A replica whose model cannot load (its directory is empty): workflows are created pending,
    as during a model outage, which leaves the embedding work to the backfills."""
    no_model = data_dir / "no-model"
    no_model.mkdir(parents=True)
    env = {key: value for key, value in command_env().items() if key != "REDIS_URL"}
    return env | {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "WORKFLOW_SEARCH_DATA_DIR": str(data_dir),
        "WORKFLOW_SEARCH_PORT": str(port),
        "WORKFLOW_SEARCH_LOG_FORMAT": "json",
        "WORKFLOW_SEARCH_DLQ_BACKEND": "redis",
        "WORKFLOW_SEARCH_DLQ_RETRY_DELAYS_SECONDS": ",".join(str(delay) for delay in RETRY_DELAYS),
        "WORKFLOW_SEARCH_DLQ_POLL_INTERVAL_SECONDS": "0.2",
        "WORKFLOW_SEARCH_AUDIT_WRITE_TIMEOUT_SECONDS": "2",
        "WORKFLOW_SEARCH_EMBEDDING_MODEL_PATH": str(no_model),
        "WORKFLOW_SEARCH_EMBEDDING_BACKFILL_ON_START": "false",
        "WORKFLOW_SEARCH_REMEDIATION_RESYNC_INTERVAL_SECONDS": "0",
        "WORKFLOW_SEARCH_SHUTDOWN_PROPAGATION_SECONDS": "0",
        "WORKFLOW_SEARCH_SHUTDOWN_GRACE_SECONDS": "5",
        # The retry workers must empty the queue while serving; the shutdown drain would hide it if not.
        "WORKFLOW_SEARCH_SHUTDOWN_DRAIN_SECONDS": "0",
    }


@pytest.fixture
def replicas(fresh_database: str, shared_redis: str, tmp_path: Path) -> Iterator[list[Replica]]:
    """Two ``workflow-search serve`` processes on free loopback ports; stopped at the end."""
    started: list[Replica] = []
    try:
        for index in range(2):
            port = free_port()
            data_dir = tmp_path / f"replica-{index}"
            log_path = tmp_path / f"replica-{index}.log"
            with log_path.open("w") as log:
                process = subprocess.Popen(
                    [*SCRIPT, "serve"],
                    env=replica_env(fresh_database, shared_redis, data_dir, port),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            started.append(Replica(process, f"http://127.0.0.1:{port}", log_path))
        yield started
    finally:
        for replica in started:
            if replica.process.poll() is None:
                replica.process.send_signal(signal.SIGTERM)
        for replica in started:
            try:
                replica.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                replica.process.kill()
                replica.process.wait(timeout=10)


async def wait_until_serving(http: httpx.AsyncClient, replica: Replica) -> None:
    """Serving, with the database and Redis connected, and the model load over (failed)."""
    deadline = time.monotonic() + SERVE_START_SECONDS
    body: dict[str, Any] = {}
    while replica.process.poll() is None and time.monotonic() < deadline:
        try:
            body = (await http.get(READY, timeout=2)).json()
        except httpx.TransportError:
            body = {}
        if body.get("model_error") and (body["database"], body["dead_letter_queue"]) == ("connected", "connected"):
            return
        await asyncio.sleep(0.2)
    log = await asyncio.to_thread(replica.log)
    raise AssertionError(f"replica {replica.base_url} not serving (last readiness {body}):\n{log[-5000:]}")


@dataclass
class Answer:
    replica: int
    kind: str  # "workflow", "event" or "batch"
    sent: Any  # the body
    status: int
    body: Any


def workloads(replicas: int) -> list[list[tuple[str, Any]]]:
    """Per replica: an equal share of the workflows, single events and batches, interleaved.
    Each event has a correlation id of its own."""
    workflows = [("workflow", workflow_body(workflow_name=f"replicated-{i}")) for i in range(WORKFLOW_COUNT)]
    events = [
        ("event", audit_event_body(correlation_id=f"replicated-event-{i}", duration_ms=i, event_data={"n": i}))
        for i in range(EVENT_COUNT)
    ]
    batches = [
        ("batch", [audit_event_body(correlation_id=f"replicated-batch-{b}-{i}") for i in range(BATCH_SIZE)])
        for b in range(BATCH_COUNT)
    ]
    shares: list[list[tuple[str, Any]]] = []
    for replica in range(replicas):
        share = itertools.zip_longest(
            workflows[replica::replicas], events[replica::replicas], batches[replica::replicas]
        )
        shares.append([job for group in share for job in group if job is not None])
    return shares


async def drive(http: httpx.AsyncClient, replica: int, jobs: Iterator[tuple[str, Any]], answers: list[Answer]) -> None:
    path = {"workflow": WORKFLOWS, "event": EVENTS, "batch": BATCH}
    for kind, sent in jobs:
        response = await http.post(path[kind], json=sent)
        answers.append(Answer(replica, kind, sent, response.status_code, response.json()))


async def audit_outage_window(engine: AsyncEngine, answers: list[Answer], marks: dict[str, int]) -> None:
    """Audit inserts fail on every connection (both replicas, their replays) for a stretch of the load."""

    def audit_answers() -> int:
        return sum(answer.kind != "workflow" for answer in answers)

    while audit_answers() < FAULT_FROM:  # noqa: ASYNC110 - the load is in other tasks
        await asyncio.sleep(0.01)
    async with trigger_fault(engine, "replicas_outage", table="audit_events", event="INSERT", body=OUTAGE):
        marks["fault_on"] = audit_answers()
        while audit_answers() < FAULT_UNTIL and audit_answers() < EVENT_COUNT + BATCH_COUNT:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        await remove_trigger_fault(engine, "replicas_outage", table="audit_events")
        marks["fault_off"] = audit_answers()


def start_backfill(database_url: str) -> subprocess.Popen[str]:
    env = {key: value for key, value in command_env().items() if key != "REDIS_URL"} | {
        "DATABASE_URL": database_url,
        # One core each: two processes whose torch would each spin a thread per core fight over them.
        "OMP_NUM_THREADS": "1",
    }
    return subprocess.Popen(
        [*SCRIPT, "backfill", "--json", "--batch-size", str(BACKFILL_BATCH)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def backfill_summary(process: subprocess.Popen[str]) -> dict[str, Any]:
    stdout, stderr = process.communicate(timeout=BACKFILL_SECONDS)
    assert process.returncode == 0, stderr[-5000:]
    summary: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    return summary


async def backfills_at_once(engine: AsyncEngine, database_url: str) -> list[dict[str, Any]]:
    """Two backfill processes, released together: the test holds the workflows table until both,
    their model loaded, wait for it, so neither can finish the catalog before the other starts."""

    async def waiting_for_the_table() -> int:
        if any(process.poll() is not None for process in processes):
            return -1  # one exited early: stop waiting, its summary says why
        # A connection of its own: inside the holder's transaction pg_stat_activity is a snapshot.
        async with engine.connect() as connection:
            found = await connection.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock' AND query ILIKE '%from workflows%'"
                )
            )
        return int(found or 0)

    processes: list[subprocess.Popen[str]] = []
    try:
        async with engine.connect() as holder:
            transaction = await holder.begin()
            await holder.execute(text("LOCK TABLE workflows IN ACCESS EXCLUSIVE MODE"))
            processes += [start_backfill(database_url) for _ in range(2)]
            try:
                await wait_until(
                    waiting_for_the_table, lambda n: n >= 2 or n < 0, "both backfills wait", BACKFILL_SECONDS
                )
            finally:
                await transaction.rollback()
        return list(await asyncio.gather(*(asyncio.to_thread(backfill_summary, p) for p in processes)))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate(timeout=10)


async def queued_anywhere(redis_url: str) -> dict[str, int]:
    """Records in every stream of the queue and its dead letters, and those claimed but not acknowledged."""
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        counts: dict[str, int] = {}
        for stream in ("events", "notifications"):
            for key in (stream_key(stream), dead_key(stream)):
                counts[key] = int(await client.xlen(key))
            pending = await client.xpending(stream_key(stream), GROUP)
            counts[f"{stream_key(stream)} claimed"] = int(pending["pending"])
        return counts
    finally:
        await client.aclose()


async def test_two_replicas_and_two_backfills_share_one_database_and_one_redis(
    replicas: list[Replica], fresh_database: str, fresh_engine: AsyncEngine, shared_redis: str
) -> None:
    answers: list[Answer] = []
    marks: dict[str, int] = {}
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(httpx.AsyncClient(base_url=replica.base_url, timeout=30))
            for replica in replicas
        ]
        await asyncio.gather(
            *(wait_until_serving(http, replica) for http, replica in zip(clients, replicas, strict=True))
        )
        # Half the work through each replica, each half sent by a few concurrent clients.
        halves = [iter(share) for share in workloads(len(replicas))]
        async with asyncio.TaskGroup() as load:
            outage = load.create_task(audit_outage_window(fresh_engine, answers, marks))
            for index, (http, half) in enumerate(zip(clients, halves, strict=True)):
                for _ in range(CLIENTS_PER_REPLICA):
                    load.create_task(drive(http, index, half, answers))
        assert outage.done()

        statuses = Counter((answer.kind, answer.status) for answer in answers)
        assert statuses[("workflow", 201)] == WORKFLOW_COUNT, statuses
        assert {a.body["embedding_status"] for a in answers if a.kind == "workflow"} == {"pending"}
        assert {status for kind, status in statuses if kind != "workflow"} <= {201, 202}, statuses
        queued_by = Counter(answer.replica for answer in answers if answer.status == 202)
        assert set(queued_by) == {0, 1}, f"each replica must queue some writes: {queued_by} {statuses} {marks}"
        assert statuses[("event", 201)] > 0, statuses

        # Both backfills embed the catalog at once while both replicas' workers replay the queue.
        summaries = await backfills_at_once(fresh_engine, fresh_database)

        async def queue_state() -> dict[str, int]:
            return await queued_anywhere(shared_redis)

        await wait_until(queue_state, lambda counts: not any(counts.values()), "the queue drains", 60)
        workflow_states = [(await http.get(WORKFLOWS, params={"limit": 1000})).json() for http in clients]
        for replica in replicas:
            assert replica.process.poll() is None, f"a replica died:\n{replica.log()[-5000:]}"

    # Every workflow: stored once, embedded once, by one of the two backfills.
    assert sum(summary["embedded"] for summary in summaries) == WORKFLOW_COUNT, summaries
    assert all(summary["embedded"] > 0 for summary in summaries), f"one backfill did all the work: {summaries}"
    created = sorted(answer.body["workflow_id"] for answer in answers if answer.kind == "workflow")
    (catalog,) = await rows(
        fresh_engine,
        "SELECT count(*) AS total, count(*) FILTER (WHERE embedding IS NOT NULL AND embedding_model = :model"
        " AND embedding_text_hash = text_hash) AS current FROM workflows",
        model=DEFAULT_MODEL_ID,
    )
    assert catalog == {"total": WORKFLOW_COUNT, "current": WORKFLOW_COUNT}
    for listed in workflow_states:  # each replica serves the same, whole, embedded catalog
        assert sorted(w["workflow_id"] for w in listed["workflows"]) == created
        assert {w["embedding_status"] for w in listed["workflows"]} == {"ready"}

    # Every audit event accepted (201, or 202 and replayed by either replica): stored once, as sent.
    sent_by_id: dict[UUID, dict[str, Any]] = {}
    for answer in answers:
        if answer.kind == "event":
            sent_by_id[UUID(answer.body["event_id"])] = answer.sent
        elif answer.kind == "batch":
            sent_by_id.update(zip(map(UUID, answer.body["event_ids"]), answer.sent, strict=True))
    stored = await rows(fresh_engine, "SELECT * FROM audit_events")
    copies = Counter(row["event_id"] for row in stored)
    assert len(sent_by_id) == EVENT_COUNT + BATCH_COUNT * BATCH_SIZE
    assert set(copies) == set(sent_by_id), (
        f"lost: {set(sent_by_id) - set(copies)}; extra: {set(copies) - set(sent_by_id)}"
    )
    assert set(copies.values()) == {1}, [event_id for event_id, n in copies.items() if n > 1]
    for row in stored:
        assert_stored_as_sent(row, sent_by_id[row["event_id"]])
