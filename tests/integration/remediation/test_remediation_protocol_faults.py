"""A fault at each step of the dual write to a separate vector store, and the re-sync's repair.

The protocol: INSERT the row ``pending`` and COMMIT; upsert the vector; UPDATE the row
``written``. Whatever breaks, and wherever, the stores afterwards hold one of: nothing; the row
``pending`` (with or without its vector); the row ``written`` with its vector. And the answer,
when there is one, says which.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path
from uuid import UUID

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.http.runtime import runtime_of
from app.remediation.dual_write import DualWriteCoordinator
from app.remediation.resync import recheck_all_written, resync_pending
from app.remediation.schemas import RemediationAuditRequest
from app.remediation.vector_store import PgVectorStore
from embeddings.model import SentenceEncoder
from tests.faults import trigger_fault
from tests.integration.remediation.test_remediation_dual_write import counts, separate_vectors

__all__ = ["separate_vectors"]  # the fixture, shared with the dual write's own tests

REQUEST = RemediationAuditRequest(
    name="n", namespace="ns", phase="failed", action_type="restart", remediation_request_id="rr-faults"
)


class StepFault(PgVectorStore):
    """The real separate store, with something done just before its vector write (step 3)."""

    def __init__(self, real: PgVectorStore, before_write: Callable[[AsyncConnection], Awaitable[None]]) -> None:
        super().__init__(real.engine, same_database=False)
        self.before_write = before_write

    async def write(self, transaction: AsyncConnection, audit_id: UUID, embedding: str, model: str) -> None:
        await self.before_write(transaction)
        await super().write(transaction, audit_id, embedding, model)


async def _backend_pid(connection: AsyncConnection) -> int:
    return int(await connection.scalar(text("SELECT pg_backend_pid()")) or 0)


async def _terminate(engine: AsyncEngine, pid: int) -> None:
    async with engine.connect() as admin:
        await admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


async def assert_pending_then_repaired(
    app: Litestar, vectors: AsyncEngine, encoder: SentenceEncoder, *, rows: int, pending: int, vectors_left: int
) -> None:
    """The stores hold ``rows`` rows, ``pending`` of them pending, and ``vectors_left`` vectors (never
    a written row without one); one re-sync then writes every pending row's vector, once."""
    engine = runtime_of(app).engine
    assert await counts(engine, vectors=vectors) == (rows, pending, vectors_left)
    assert await resync_pending(engine, PgVectorStore(vectors, same_database=False), encoder) == pending
    assert await counts(engine, vectors=vectors) == (rows, 0, rows)


def _coordinator(app: Litestar, store: PgVectorStore) -> DualWriteCoordinator:
    return DualWriteCoordinator(runtime_of(app).engine, store, runtime_of(app).embeddings.embedder)


async def test_the_connection_lost_before_the_commit_leaves_nothing(
    client: httpx.AsyncClient, app: Litestar, separate_vectors: AsyncEngine
) -> None:
    body = "PERFORM pg_terminate_backend(pg_backend_pid());"  # the session dies mid-INSERT
    async with trigger_fault(
        runtime_of(app).engine, "lose_connection", table="remediation_audits", event="INSERT", body=body
    ):
        with pytest.raises(Exception):  # noqa: B017, PT011 - whichever error the driver raises for a lost connection
            await _coordinator(app, PgVectorStore(separate_vectors, same_database=False)).record(REQUEST)
    assert await counts(runtime_of(app).engine, vectors=separate_vectors) == (0, 0, 0)


async def test_the_connection_lost_after_the_commit_answers_pending_and_the_resync_finishes(
    client: httpx.AsyncClient, app: Litestar, separate_vectors: AsyncEngine, sentence_encoder: SentenceEncoder
) -> None:
    """The row's COMMIT is done, then its connection dies before the vector step: the vector is
    written (its own connection), the UPDATE to ``written`` fails, the row is read back."""
    real = PgVectorStore(separate_vectors, same_database=False)

    async def kill_the_row_connection(transaction: AsyncConnection) -> None:
        await _terminate(runtime_of(app).engine, await _backend_pid(transaction))
        await asyncio.sleep(0.1)  # the backend is gone before the next statement

    written = await _coordinator(app, StepFault(real, kill_the_row_connection)).record(REQUEST)

    assert written.vector_store == "pending"
    await assert_pending_then_repaired(app, separate_vectors, sentence_encoder, rows=1, pending=1, vectors_left=1)


async def test_a_mark_written_commit_that_fails_answers_pending_and_the_resync_finishes(
    client: httpx.AsyncClient, app: Litestar, separate_vectors: AsyncEngine, sentence_encoder: SentenceEncoder
) -> None:
    real = PgVectorStore(separate_vectors, same_database=False)
    body = "RAISE EXCEPTION 'commit refused';"  # step 4's COMMIT fails (a deferred constraint trigger)
    async with trigger_fault(
        runtime_of(app).engine, "refuse_mark", table="remediation_audits", event="UPDATE", body=body, at_commit=True
    ):
        written = await _coordinator(app, real).record(REQUEST)
    assert written.vector_store == "pending"
    await assert_pending_then_repaired(app, separate_vectors, sentence_encoder, rows=1, pending=1, vectors_left=1)


async def test_a_vector_store_that_is_down_answers_pending_and_the_resync_finishes_when_it_is_back(
    client: httpx.AsyncClient, app: Litestar, separate_vectors: AsyncEngine, sentence_encoder: SentenceEncoder
) -> None:
    real = PgVectorStore(separate_vectors, same_database=False)

    async def down(_: AsyncConnection) -> None:
        raise ConnectionRefusedError("vector store down")

    answers = [await _coordinator(app, StepFault(real, down)).record(REQUEST) for _ in range(3)]
    assert [answer.vector_store for answer in answers] == ["pending"] * 3
    await assert_pending_then_repaired(app, separate_vectors, sentence_encoder, rows=3, pending=3, vectors_left=0)


async def test_a_hung_vector_store_answers_pending_within_its_budget_and_every_row_gets_its_vector_after(
    client: httpx.AsyncClient, app: Litestar, separate_vectors: AsyncEngine, sentence_encoder: SentenceEncoder
) -> None:
    """The vector table locked by another session: each write waits at most its budget."""
    real = PgVectorStore(separate_vectors, same_database=False)
    coordinator = DualWriteCoordinator(
        runtime_of(app).engine, real, runtime_of(app).embeddings.embedder, vector_timeout=0.3
    )
    loop = asyncio.get_running_loop()
    async with separate_vectors.connect() as locker:
        await locker.begin()
        await locker.execute(text("LOCK TABLE remediation_audit_vectors IN ACCESS EXCLUSIVE MODE"))
        started = loop.time()
        answers = await asyncio.gather(*(coordinator.record(REQUEST) for _ in range(8)))
        elapsed = loop.time() - started
        await locker.rollback()
    assert [answer.vector_store for answer in answers] == ["pending"] * 8
    assert elapsed < 0.3 + 1.0, elapsed
    await assert_pending_then_repaired(app, separate_vectors, sentence_encoder, rows=8, pending=8, vectors_left=0)


# --- the process killed between steps --------------------------------------------------------

KILLED_WRITER = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from app.lib.database import create_engine
    from app.remediation.dual_write import DualWriteCoordinator
    from app.remediation.schemas import RemediationAuditRequest
    from app.remediation.vector_store import PgVectorStore
    from app.lib.settings import Settings
    from embeddings.model import ModelSpec, SentenceEncoder
    from embeddings.query import QueryEmbedder

    main_url, vector_url, kill_at = sys.argv[1:]

    class KillingStore(PgVectorStore):
        async def write(self, transaction, audit_id, embedding, model):
            if kill_at == "before-vector":  # step 2 done: the row committed pending
                os.kill(os.getpid(), signal.SIGKILL)
            await super().write(transaction, audit_id, embedding, model)
            if kill_at == "before-mark":  # step 3 done: the vector stored, the row still pending
                os.kill(os.getpid(), signal.SIGKILL)

    async def main():
        settings = Settings()
        store = KillingStore(create_engine(vector_url, settings), same_database=False)
        embedder = QueryEmbedder(SentenceEncoder.load(ModelSpec()))
        coordinator = DualWriteCoordinator(create_engine(main_url, settings), store, embedder)
        await coordinator.record(RemediationAuditRequest(
            name="n", namespace="ns", phase="failed", action_type="restart", remediation_request_id="killed"))

    asyncio.run(main())
    """
)


PROJECT_ROOT = str(Path(__file__).resolve().parents[3])


def _url_of(engine: AsyncEngine) -> str:
    return engine.url.render_as_string(hide_password=False)


@pytest.mark.parametrize(("kill_at", "vectors_left"), [("before-vector", 0), ("before-mark", 1)])
async def test_a_process_killed_between_steps_leaves_a_pending_row_that_the_resync_repairs(
    client: httpx.AsyncClient,
    app: Litestar,
    separate_vectors: AsyncEngine,
    sentence_encoder: SentenceEncoder,
    kill_at: str,
    vectors_left: int,
) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": PROJECT_ROOT}
    args = [sys.executable, "-c", KILLED_WRITER, _url_of(runtime_of(app).engine), _url_of(separate_vectors), kill_at]
    process = await asyncio.to_thread(subprocess.run, args, env=env, capture_output=True, timeout=120, check=False)

    assert process.returncode == -signal.SIGKILL, process.stderr.decode()[-2000:]
    await assert_pending_then_repaired(
        app, separate_vectors, sentence_encoder, rows=1, pending=1, vectors_left=vectors_left
    )


async def test_the_resync_marks_pending_again_a_written_row_whose_vector_is_missing(
    client: httpx.AsyncClient, app: Litestar, separate_vectors: AsyncEngine, sentence_encoder: SentenceEncoder
) -> None:
    """What an older version of the dual write could leave (its cleanup deleted the vector of a
    row that did commit): found by the re-check, repaired by the re-sync."""
    real = PgVectorStore(separate_vectors, same_database=False)
    answers = [await _coordinator(app, real).record(REQUEST) for _ in range(5)]
    assert {answer.vector_store for answer in answers} == {"written"}
    lost = sorted(answer.id for answer in answers)[1:3]
    await real.delete_many(lost)
    assert await counts(runtime_of(app).engine, vectors=separate_vectors) == (5, 0, 3)

    assert await recheck_all_written(runtime_of(app).engine, real, page=2) == 2  # across pages
    await assert_pending_then_repaired(app, separate_vectors, sentence_encoder, rows=5, pending=2, vectors_left=3)
    assert await recheck_all_written(runtime_of(app).engine, real) == 0
