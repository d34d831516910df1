"""The dual write of a remediation audit (the seeds' BR-STORAGE-014/015/016).

1. The PostgreSQL insert runs in a transaction, and the vector is written before it commits.
2. A vector-store failure rolls that transaction back; the fallback then writes PostgreSQL
   alone, marked ``pending``, for the backfill to re-sync: nothing is lost, nothing half written.
3. When the commit fails after a vector went to a separate store, that vector is removed.
4. A cancelled request (or a passed deadline) fails fast: no fallback, no row in either store.

This unit of work commits itself, unlike services in general: the protocol *is* the order of
the vector write and the commit, so it cannot be left to the per-request session.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import Column, DateTime, MetaData, String, Table, Text
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.dialects.postgresql import UUID as PgUUID  # noqa: N811 - the dialect's own name
from sqlalchemy.ext.asyncio import AsyncEngine

from app.metrics import DUALWRITE_FAILURE, DUALWRITE_SUCCESS, FALLBACK_MODE, WRITE_DURATION, WRITES
from app.remediation.schemas import RemediationAuditRequest, RemediationAuditWritten
from app.remediation.vector_store import VectorStore
from embeddings.model import vector_literal
from embeddings.query import QueryEmbedder
from embeddings.text import remediation_text

logger = logging.getLogger(__name__)

# Mirrors migrations/versions/0005 (the migration is the source of truth for DDL).
remediation_audits = Table(
    "remediation_audits",
    MetaData(),
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    *(Column(name, String(255)) for name in ("name", "namespace", "phase", "action_type", "status")),
    Column("start_time", DateTime(timezone=True), nullable=False),
    Column("end_time", DateTime(timezone=True)),
    *(
        Column(name, String(500))
        for name in ("remediation_request_id", "alert_fingerprint", "severity", "environment", "cluster_name")
    ),
    Column("target_resource", String(500)),
    Column("error_message", Text),
    Column("metadata", JSONB, nullable=False),
    Column("vector_store", String(10), nullable=False),
    Column("created_at", DateTime(timezone=True)),
)


class DualWriteCoordinator:
    def __init__(self, engine: AsyncEngine, vector_store: VectorStore, embedder: QueryEmbedder | None) -> None:
        self.engine = engine
        self.vector_store = vector_store
        self.embedder = embedder

    async def record(self, audit: RemediationAuditRequest) -> RemediationAuditWritten:
        row = msgspec.structs.asdict(audit)
        row.update(id=uuid.uuid4(), start_time=audit.start_time or datetime.now(UTC))
        started = time.perf_counter()
        try:
            embedding = await self._embed(audit)
            await self._write_both(row, embedding)
        except Exception as error:  # any vector-side failure (never a cancellation: that is a BaseException)
            logger.warning("dual write of remediation audit %s failed; falling back", row["id"], exc_info=True)
            DUALWRITE_FAILURE.labels(type(error).__name__).inc()
        else:
            DUALWRITE_SUCCESS.inc()
            _observe_write("stored", started)
            return RemediationAuditWritten(id=row["id"], vector_store="written", fallback_mode=False)
        try:
            await self._write_row(row, vector_store="pending")
        except Exception:
            _observe_write("failed", started)
            raise
        FALLBACK_MODE.inc()
        _observe_write("stored", started)
        return RemediationAuditWritten(id=row["id"], vector_store="pending", fallback_mode=True)

    async def _embed(self, audit: RemediationAuditRequest) -> str:
        if self.embedder is None:
            raise RuntimeError("the embedding model is not loaded")
        vector = await self.embedder.batcher.embed(remediation_text(msgspec.structs.asdict(audit)))
        return vector_literal(vector)

    async def _write_both(self, row: dict[str, Any], embedding: str) -> None:
        vector_written = False
        try:
            async with self.engine.begin() as transaction:  # commits on leaving the block
                await transaction.execute(insert(remediation_audits).values(**row, vector_store="written"))
                await self.vector_store.write(transaction, row["id"], embedding, self.model_id)
                vector_written = True
        except BaseException:
            if vector_written and not self.vector_store.same_database:
                # the row did not commit (commit failed, or the request was cancelled): no orphan vector
                await asyncio.shield(self.vector_store.delete(row["id"]))
            raise

    async def _write_row(self, row: dict[str, Any], *, vector_store: str) -> None:
        async with self.engine.begin() as transaction:
            await transaction.execute(insert(remediation_audits).values(**row, vector_store=vector_store))

    @property
    def model_id(self) -> str:
        return self.embedder.model_id if self.embedder is not None else ""


def _observe_write(status: str, started: float) -> None:
    WRITES.labels("remediation_audits", status).inc()
    WRITE_DURATION.labels("remediation_audits").observe(time.perf_counter() - started)
