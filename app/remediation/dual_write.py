"""The dual write of a remediation audit (the seeds' BR-STORAGE-014/015/016).

The commit point is the moment the row's COMMIT is sent (``app.lib.deadlines.past_commit_point``).
Before it, a cancellation or a passed deadline rolls everything back: 504, nothing in either
store, no fallback. From it on, the write is finished whatever happens to the request, and the
answer is 201 ``written`` or 201 ``pending``: what the stores hold.

Same database (the default): one transaction holds the row (``written``) and its vector, so
both commit or neither does. A vector step that fails or overruns its budget rolls the
transaction back, and the row alone is then stored ``pending``.

A separate vector store (``VECTOR_DATABASE_URL``): no transaction spans both, so the order of
the steps carries the guarantee. At every await, the stores hold one of: nothing; the row
``pending`` (with or without its vector); the row ``written`` with its vector.

1. Embed the text (before the commit point: a cancellation leaves nothing).
2. INSERT the row as ``pending`` and COMMIT: the row is the durable intent. Commit point.
3. Upsert the vector, idempotent by audit id, within the vector store's budget.
4. UPDATE the row to ``written``, only after 3 succeeded.

A vector never exists without its row (it is written after the row committed, and rows are not
deleted), and a row is never ``written`` without its vector (4 follows 3). A failure, timeout or
crash between 2 and 4 leaves the row ``pending``; the re-sync (``resync.py``) upserts its vector
again and marks it. When a step's outcome is unknown (a lost connection during a COMMIT), the
row is read back, so the answer matches what was stored.

This unit of work commits itself, unlike services in general: the protocol *is* the order of
the steps, so it cannot be left to the per-request session.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.lib.deadlines import past_commit_point, time_left
from app.lib.metrics import DUALWRITE_FAILURE, DUALWRITE_SUCCESS, FALLBACK_MODE, WRITE_DURATION, WRITES
from app.remediation.repository import remediation_audits
from app.remediation.schemas import RemediationAuditRequest, RemediationAuditWritten
from app.remediation.vector_store import VectorStore
from embeddings.model import vector_literal
from embeddings.query import QueryEmbedder
from embeddings.text import remediation_text

logger = logging.getLogger(__name__)

VectorState = Literal["written", "pending"]

# The least a step past the commit point gets, even when the request's deadline has passed.
MIN_STEP_SECONDS = 0.05


class DualWriteCoordinator:
    def __init__(
        self,
        engine: AsyncEngine,
        vector_store: VectorStore,
        embedder: QueryEmbedder | None,
        *,
        vector_timeout: float = 1.0,
        write_timeout: float = 5.0,
    ) -> None:
        self.engine = engine
        self.vector_store = vector_store
        self.embedder = embedder
        self.vector_timeout = vector_timeout
        self.write_timeout = write_timeout

    async def record(self, audit: RemediationAuditRequest) -> RemediationAuditWritten:
        row = msgspec.structs.asdict(audit)
        row.update(id=uuid.uuid4(), start_time=audit.start_time or datetime.now(UTC))
        started = time.perf_counter()
        try:
            embedding = await self._embed(audit)
            if self.vector_store.same_database:
                state = await self._write_together(row, embedding)
            else:
                state = await self._write_row_first(row, embedding)
        except Exception:
            _observe_write("failed", started)
            raise
        _observe_write("stored", started)
        if state == "written":
            DUALWRITE_SUCCESS.inc()
        else:
            FALLBACK_MODE.inc()
        return RemediationAuditWritten(id=row["id"], vector_store=state, fallback_mode=state == "pending")

    async def _embed(self, audit: RemediationAuditRequest) -> str | None:
        """The audit's vector, or None when the model cannot give one (the row is then pending)."""
        if self.embedder is None:
            _vector_failed(RuntimeError("the embedding model is not loaded"), "embed")
            return None
        try:
            vector = await self.embedder.batcher.embed(remediation_text(msgspec.structs.asdict(audit)))
        except Exception as error:  # noqa: BLE001 - any model failure degrades to pending, by design
            _vector_failed(error, "embed")
            return None
        return vector_literal(vector)

    def _vector_budget(self) -> float:
        """The vector step's share: half of what the request has left (the rest is the fallback's),
        never more than the vector timeout, never below a floor past the commit point."""
        remaining = time_left()
        share = self.vector_timeout if remaining is None else min(self.vector_timeout, remaining / 2)
        return max(share, MIN_STEP_SECONDS)

    async def _write_together(self, row: dict[str, Any], embedding: str | None) -> VectorState:
        if embedding is not None:
            try:
                async with self.engine.connect() as connection:
                    await connection.begin()
                    await connection.execute(insert(remediation_audits).values(**row, vector_store="written"))
                    async with asyncio.timeout(self._vector_budget()):
                        await self.vector_store.write(connection, row["id"], embedding, self.embedder_model)
                    return await past_commit_point(self._commit(connection, row["id"], "written"))
            except Exception as error:  # noqa: BLE001 - the vector step failed or overran: the row alone, pending
                _vector_failed(error, "write")
        return await self._write_row_first(row, None)

    async def _write_row_first(self, row: dict[str, Any], embedding: str | None) -> VectorState:
        async with self.engine.connect() as connection:
            await connection.begin()
            await connection.execute(insert(remediation_audits).values(**row, vector_store="pending"))
            return await past_commit_point(self._commit_then_vector(connection, row["id"], embedding))

    async def _commit_then_vector(
        self, connection: AsyncConnection, audit_id: uuid.UUID, embedding: str | None
    ) -> VectorState:
        committed = await self._commit(connection, audit_id, "pending")
        if embedding is None or self.vector_store.same_database:
            return committed
        try:
            async with asyncio.timeout(self._vector_budget()):
                await self.vector_store.write(connection, audit_id, embedding, self.embedder_model)
        except Exception as error:  # noqa: BLE001 - any store failure leaves the row pending; the re-sync writes it
            _vector_failed(error, "write")
            return "pending"
        try:
            async with asyncio.timeout(max(self.write_timeout, MIN_STEP_SECONDS)):
                await connection.execute(
                    update(remediation_audits).where(remediation_audits.c.id == audit_id).values(vector_store="written")
                )
                await connection.commit()
        except Exception:
            logger.warning("marking remediation audit %s written failed; the re-sync will", audit_id, exc_info=True)
            return await self._stored_state(audit_id) or "pending"
        return "written"

    async def _commit(self, connection: AsyncConnection, audit_id: uuid.UUID, state: VectorState) -> VectorState:
        """COMMIT the row inserted as ``state``; on an error, what the database holds for it
        (the error is raised again when it holds nothing: the transaction rolled back)."""
        try:
            async with asyncio.timeout(max(self.write_timeout, MIN_STEP_SECONDS)):
                await connection.commit()
        except Exception:
            stored = await self._stored_state(audit_id)
            if stored is None:
                raise
            logger.warning("the COMMIT of remediation audit %s reported an error, yet the row is stored", audit_id)
            return stored
        return state

    async def _stored_state_in(self, connection: AsyncConnection, audit_id: uuid.UUID) -> VectorState | None:
        state = await connection.scalar(
            select(remediation_audits.c.vector_store).where(remediation_audits.c.id == audit_id)
        )
        await connection.rollback()  # leave no transaction open for the next step
        return None if state is None else ("written" if state == "written" else "pending")

    async def _stored_state(self, audit_id: uuid.UUID) -> VectorState | None:
        """Read back a row whose last step's outcome is unknown (the error may have come after the commit)."""
        async with asyncio.timeout(max(self.write_timeout, MIN_STEP_SECONDS)), self.engine.connect() as connection:
            return await self._stored_state_in(connection, audit_id)

    @property
    def embedder_model(self) -> str:
        return self.embedder.model_id if self.embedder is not None else ""


def _vector_failed(error: BaseException, step: str) -> None:
    logger.warning(
        "the vector %s step of a remediation audit failed (%s); storing it pending", step, type(error).__name__
    )
    DUALWRITE_FAILURE.labels(type(error).__name__).inc()


def _observe_write(status: str, started: float) -> None:
    WRITES.labels("remediation_audits", status).inc()
    WRITE_DURATION.labels("remediation_audits").observe(time.perf_counter() - started)
