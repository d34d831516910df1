"""Dual write of remediation audits: both stores or, on a vector failure, PostgreSQL marked
pending; never half written; a cancelled request leaves nothing in either store."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
from collections.abc import AsyncIterator, Iterator
from typing import Any
from uuid import UUID

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.http.runtime import runtime_of, set_runtime
from app.lib.database import asyncpg_url, create_engine
from app.lib.settings import Settings
from app.remediation.dual_write import DualWriteCoordinator
from app.remediation.resync import resync_pending
from app.remediation.schemas import RemediationAuditRequest
from app.remediation.vector_store import PgVectorStore, VectorStore
from embeddings.model import SentenceEncoder
from tests.factories import remediation_body as remediation
from tests.faults import trigger_fault

REMEDIATIONS = "/api/v1/audit/remediations"


async def counts(engine: AsyncEngine, *, vectors: AsyncEngine | None = None) -> tuple[int, int, int]:
    """(rows, rows marked pending, vectors)."""
    async with engine.connect() as connection:
        rows = int(await connection.scalar(text("SELECT count(*) FROM remediation_audits")) or 0)
        pending = int(
            await connection.scalar(text("SELECT count(*) FROM remediation_audits WHERE vector_store = 'pending'")) or 0
        )
    async with (vectors or engine).connect() as connection:
        stored = int(await connection.scalar(text("SELECT count(*) FROM remediation_audit_vectors")) or 0)
    return rows, pending, stored


class FaultyStore:
    """The real store, with an injected fault on its writes: they fail, or they are slow."""

    def __init__(self, real: VectorStore, *, fail: bool = False, delay: float = 0.0) -> None:
        self.real, self.fail, self.delay = real, fail, delay

    @property
    def same_database(self) -> bool:
        return self.real.same_database

    async def write(self, transaction: AsyncConnection, audit_id: UUID, embedding: str, model: str) -> None:
        await asyncio.sleep(self.delay)
        if self.fail:
            raise ConnectionError("vector store unavailable")
        await self.real.write(transaction, audit_id, embedding, model)

    async def delete_many(self, audit_ids: list[UUID]) -> None:
        await self.real.delete_many(audit_ids)

    async def ids_older_than(self, seconds: float, *, after: UUID | None, limit: int) -> list[UUID]:
        return await self.real.ids_older_than(seconds, after=after, limit=limit)

    async def existing(self, audit_ids: list[UUID]) -> set[UUID]:
        return await self.real.existing(audit_ids)

    async def nearest(
        self, audit_ids: list[UUID], embedding: str, *, top_k: int, min_similarity: float | None
    ) -> tuple[list[tuple[UUID, float]], int]:
        return await self.real.nearest(audit_ids, embedding, top_k=top_k, min_similarity=min_similarity)


def use_vector_store(app: Litestar, store: VectorStore) -> None:
    """Put ``store`` in the running app's place of the remediation vector store."""
    set_runtime(app, dataclasses.replace(runtime_of(app), remediation_vectors=store))


@pytest.fixture
def vector_store_fault(app: Litestar) -> Iterator[Any]:
    real = runtime_of(app).remediation_vectors

    def inject(**fault: Any) -> None:
        use_vector_store(app, FaultyStore(real, **fault))

    yield inject
    use_vector_store(app, real)


@pytest.fixture
async def commit_fails(app: Litestar) -> AsyncIterator[None]:
    """Every remediation row fails at COMMIT time (an injected fault)."""
    body = "RAISE EXCEPTION 'commit refused';"
    async with trigger_fault(
        runtime_of(app).engine, "refuse_commit", table="remediation_audits", event="INSERT", body=body, at_commit=True
    ):
        yield


async def test_both_stores_are_written(client: httpx.AsyncClient, app: Litestar) -> None:
    response = await client.post(REMEDIATIONS, json=remediation())
    assert response.status_code == 201, response.text
    assert (response.json()["vector_store"], response.json()["fallback_mode"]) == ("written", False)
    assert await counts(runtime_of(app).engine) == (1, 0, 1)


async def test_a_failing_vector_store_falls_back_to_postgresql_marked_pending(
    client: httpx.AsyncClient, app: Litestar, vector_store_fault: Any
) -> None:
    vector_store_fault(fail=True)
    response = await client.post(REMEDIATIONS, json=remediation())
    assert response.status_code == 201
    assert (response.json()["vector_store"], response.json()["fallback_mode"]) == ("pending", True)
    assert await counts(runtime_of(app).engine) == (1, 1, 0)


async def test_a_passed_deadline_leaves_no_row_in_either_store_and_does_not_fall_back(
    client: httpx.AsyncClient, app: Litestar, vector_store_fault: Any
) -> None:
    vector_store_fault(delay=1.0)
    response = await client.post(REMEDIATIONS, json=remediation(), headers={"X-Request-Timeout": "0"})
    assert response.status_code == 504
    await asyncio.sleep(1.2)  # anything still running would have written by now
    assert await counts(runtime_of(app).engine) == (0, 0, 0)


@pytest.mark.parametrize("deadline", ["0.4", "10"])
async def test_a_hung_vector_store_counts_as_failed_within_its_budget(
    client: httpx.AsyncClient, app: Litestar, vector_store_fault: Any, deadline: str
) -> None:
    """The vector step gets half of what the request has left, at most the vector timeout (1 s):
    past it the row alone is stored pending, well before the request's own deadline."""
    vector_store_fault(delay=30.0)
    started = asyncio.get_running_loop().time()
    response = await client.post(REMEDIATIONS, json=remediation(), headers={"X-Request-Timeout": deadline})
    elapsed = asyncio.get_running_loop().time() - started
    assert response.status_code == 201, response.text
    assert response.json()["vector_store"] == "pending"
    assert elapsed < min(float(deadline), 1.0) + 0.5
    assert await counts(runtime_of(app).engine) == (1, 1, 0)


@pytest.mark.usefixtures("commit_fails")
async def test_a_failed_commit_writes_nothing_in_the_shared_database(client: httpx.AsyncClient, app: Litestar) -> None:
    response = await client.post(REMEDIATIONS, json=remediation())
    assert response.status_code == 500  # the fallback's commit fails too; the dead letter queue is issue 5
    assert await counts(runtime_of(app).engine) == (0, 0, 0)


async def test_bad_input_is_400_and_writes_nothing(client: httpx.AsyncClient, app: Litestar) -> None:
    response = await client.post(REMEDIATIONS, json=remediation(phase="done", name="", action_type="x" * 101))
    assert response.status_code == 400
    assert {"phase", "name", "action_type"} <= set(response.json()["field_errors"])
    assert await counts(runtime_of(app).engine) == (0, 0, 0)


@pytest.fixture
async def separate_vectors(database_url: str) -> AsyncIterator[AsyncEngine]:
    """Another database on the same server, as VECTOR_DATABASE_URL would name."""
    admin = create_engine(
        database_url,
        Settings(),
    ).execution_options(isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text("DROP DATABASE IF EXISTS remediation_vectors_test"))
        await connection.execute(text("CREATE DATABASE remediation_vectors_test"))
    await admin.dispose()
    base, _, query = database_url.partition("?")
    engine = create_engine(asyncpg_url(f"{base.rsplit('/', 1)[0]}/remediation_vectors_test?{query}"), Settings())
    await PgVectorStore(engine, same_database=False).ensure_schema(384)
    yield engine
    await engine.dispose()


async def test_a_row_commit_that_fails_leaves_nothing_in_a_separate_store(
    client: httpx.AsyncClient, app: Litestar, separate_vectors: AsyncEngine, commit_fails: None
) -> None:
    store = PgVectorStore(separate_vectors, same_database=False)
    coordinator = DualWriteCoordinator(runtime_of(app).engine, store, runtime_of(app).embeddings.embedder)
    request = RemediationAuditRequest(
        name="n", namespace="ns", phase="failed", action_type="restart", remediation_request_id="rr-1"
    )

    with pytest.raises(Exception, match="commit refused"):
        await coordinator.record(request)

    assert await counts(runtime_of(app).engine, vectors=separate_vectors) == (0, 0, 0)  # the row comes first


async def test_a_separate_vector_store_is_written_with_the_row(
    client: httpx.AsyncClient, app: Litestar, separate_vectors: AsyncEngine
) -> None:
    store = PgVectorStore(separate_vectors, same_database=False)
    coordinator = DualWriteCoordinator(runtime_of(app).engine, store, runtime_of(app).embeddings.embedder)
    written = await coordinator.record(
        RemediationAuditRequest(
            name="n", namespace="ns", phase="failed", action_type="restart", remediation_request_id="rr-1"
        )
    )
    assert written.vector_store == "written"
    assert await counts(runtime_of(app).engine, vectors=separate_vectors) == (1, 0, 1)


async def _ids(engine: AsyncEngine, sql: str) -> set[UUID]:
    async with engine.connect() as connection:
        return set((await connection.execute(text(sql))).scalars())


RACE_WRITES = 2000  # the acceptance: at least 2,000 writes and 200 disconnects per mode
RACE_DISCONNECTS = 200


LATENCY_SAMPLES = 64


async def _typical_latency(client: httpx.AsyncClient, limit: asyncio.Semaphore) -> float:
    """The median latency of plain writes at the race's own concurrency."""
    loop = asyncio.get_running_loop()

    async def timed() -> float:
        async with limit:
            started = loop.time()
            assert (await client.post(REMEDIATIONS, json=remediation())).status_code == 201
            return loop.time() - started

    samples = sorted(await asyncio.gather(*(timed() for _ in range(LATENCY_SAMPLES))))
    return samples[len(samples) // 2]


@pytest.mark.parametrize("store", ["same-database", "separate-database"])
async def test_deadlines_and_disconnects_in_the_commit_window_never_split_a_write(
    client: httpx.AsyncClient, app: Litestar, separate_vectors: AsyncEngine, store: str
) -> None:
    """Deadlines drawn around the typical write latency land before, during and after each
    COMMIT; client disconnects (the request's task cancelled) land anywhere. Afterwards: no
    vector without its row, no row written without its vector, every 504 left nothing, every
    201 is stored once with the state it answered."""
    vectors_engine = separate_vectors if store == "separate-database" else runtime_of(app).engine
    real = runtime_of(app).remediation_vectors
    use_vector_store(app, PgVectorStore(vectors_engine, same_database=store == "same-database"))
    rng = random.Random(13)
    answered: dict[str, str] = {}
    statuses: list[int] = []
    limit = asyncio.Semaphore(16)

    async def post(deadline: float) -> None:
        async with limit:  # the deadline starts once the request is sent, as a client's would
            response = await client.post(
                REMEDIATIONS, json=remediation(), headers={"X-Request-Timeout": f"{deadline:.4f}"}
            )
        statuses.append(response.status_code)
        if response.status_code == 201:
            answered[response.json()["id"]] = response.json()["vector_store"]

    async def disconnect(after: float) -> None:
        async with limit:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(client.post(REMEDIATIONS, json=remediation()), after)

    try:
        latency = await _typical_latency(client, limit)
        await asyncio.gather(*(post(rng.uniform(0.2, 2.0) * latency) for _ in range(RACE_WRITES)))
        await asyncio.sleep(0.5)  # anything still unwinding has finished
        rows = await _states(runtime_of(app).engine)
        answered.update({str(audit_id): state for audit_id, state in rows.items() if str(audit_id) not in answered})
        assert len(rows) == statuses.count(201) + LATENCY_SAMPLES, "a 504 left a row, or a 201 was not stored"
        await asyncio.gather(*(disconnect(rng.uniform(0.001, 0.05)) for _ in range(RACE_DISCONNECTS)))
        await asyncio.sleep(0.5)
    finally:
        use_vector_store(app, real)

    assert set(statuses) <= {201, 504}
    assert 0 < statuses.count(504) < len(statuses), "deadlines should land on both sides of the commit"
    rows = await _states(runtime_of(app).engine)
    vectors = await _ids(vectors_engine, "SELECT audit_id FROM remediation_audit_vectors")
    assert vectors <= set(rows), "a vector without its row"
    assert {audit_id for audit_id, state in rows.items() if state == "written"} <= vectors, "written, no vector"
    for audit_id, state in answered.items():
        assert rows[UUID(audit_id)] == state, "a 201 that does not tell what was stored"
    assert len(rows) - len(answered) <= RACE_DISCONNECTS


async def _states(engine: AsyncEngine) -> dict[UUID, str]:
    async with engine.connect() as connection:
        result = await connection.execute(text("SELECT id, vector_store FROM remediation_audits"))
        return {row.id: row.vector_store for row in result}


async def _pending_audits(client: httpx.AsyncClient, inject: Any, count: int) -> None:
    inject(fail=True)
    for index in range(count):
        response = await client.post(REMEDIATIONS, json=remediation(error_message=f"failure {index}"))
        assert response.json()["vector_store"] == "pending"


async def test_pending_audits_are_resynced_exactly_once_by_concurrent_resyncs(
    client: httpx.AsyncClient, app: Litestar, vector_store_fault: Any, sentence_encoder: SentenceEncoder
) -> None:
    await _pending_audits(client, vector_store_fault, 30)
    real = PgVectorStore(runtime_of(app).engine, same_database=True)

    first, second = await asyncio.gather(
        resync_pending(runtime_of(app).engine, real, sentence_encoder, batch_size=4),
        resync_pending(runtime_of(app).engine, real, sentence_encoder, batch_size=4),
    )

    assert first + second == 30
    assert await counts(runtime_of(app).engine) == (30, 0, 30)


async def test_a_resync_whose_commit_fails_leaves_rows_pending_and_the_next_round_finishes(
    client: httpx.AsyncClient,
    app: Litestar,
    vector_store_fault: Any,
    separate_vectors: AsyncEngine,
    sentence_encoder: SentenceEncoder,
) -> None:
    await _pending_audits(client, vector_store_fault, 3)
    store = PgVectorStore(separate_vectors, same_database=False)
    body = "RAISE EXCEPTION 'commit refused';"  # marking rows 'written' fails at COMMIT
    async with trigger_fault(
        runtime_of(app).engine, "refuse_mark", table="remediation_audits", event="UPDATE", body=body, at_commit=True
    ):
        with pytest.raises(Exception, match="commit refused"):
            await resync_pending(runtime_of(app).engine, store, sentence_encoder)
    # the vectors landed, the rows stay pending: never deleted, since a lost COMMIT answer may
    # have marked them written after all
    assert await counts(runtime_of(app).engine, vectors=separate_vectors) == (3, 3, 3)

    assert await resync_pending(runtime_of(app).engine, store, sentence_encoder) == 3
    assert await counts(runtime_of(app).engine, vectors=separate_vectors) == (3, 0, 3)


async def test_a_vector_that_landed_although_its_write_failed_does_not_block_the_resync(
    client: httpx.AsyncClient,
    app: Litestar,
    vector_store_fault: Any,
    separate_vectors: AsyncEngine,
    sentence_encoder: SentenceEncoder,
) -> None:
    """A separate store took the vector but its answer was lost: the row is pending, the vector
    exists. The re-sync overwrites it instead of failing on its key forever."""
    await _pending_audits(client, vector_store_fault, 3)
    store = PgVectorStore(separate_vectors, same_database=False)
    (landed,) = sorted(await _ids(runtime_of(app).engine, "SELECT id FROM remediation_audits"))[:1]
    async with separate_vectors.begin() as connection:
        await store.write(connection, landed, "[" + ",".join(["0.1"] * 384) + "]", "stale-model")

    assert await resync_pending(runtime_of(app).engine, store, sentence_encoder) == 3
    assert await counts(runtime_of(app).engine, vectors=separate_vectors) == (3, 0, 3)
    async with separate_vectors.connect() as connection:
        model = await connection.scalar(
            text("SELECT model FROM remediation_audit_vectors WHERE audit_id = :id"), {"id": landed}
        )
    assert model == sentence_encoder.model_id
