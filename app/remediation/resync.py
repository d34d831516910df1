"""Re-sync remediation audits stored ``pending`` by the dual write's fallback.

Each batch is claimed with ``FOR UPDATE SKIP LOCKED`` (several processes may run at once),
its vectors written, and the rows marked ``written`` in the same transaction. With a separate
vector database, vectors whose rows did not get marked (a failure or a cancellation before the
commit) are removed again, so no vector is left without its row.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.remediation.dual_write import remediation_audits as table
from app.remediation.vector_store import VectorStore
from embeddings.model import Encoder, vector_literal
from embeddings.text import remediation_text

logger = logging.getLogger(__name__)

RESYNC_ROUND_TIMEOUT_SECONDS = 300.0


async def _resync_batch(engine: AsyncEngine, store: VectorStore, encoder: Encoder, batch_size: int) -> int:
    written: list[UUID] = []
    try:
        async with engine.begin() as transaction:
            claimed = (
                (
                    await transaction.execute(
                        select(table)
                        .where(table.c.vector_store == "pending")
                        .order_by(table.c.id)
                        .limit(batch_size)
                        .with_for_update(skip_locked=True)
                    )
                )
                .mappings()
                .all()
            )
            if not claimed:
                return 0
            texts = [remediation_text(dict(row)) for row in claimed]
            vectors = await asyncio.to_thread(encoder.encode, texts)
            for row, vector in zip(claimed, vectors, strict=True):
                await store.write(transaction, row["id"], vector_literal(vector), encoder.model_id)
                written.append(row["id"])
            await transaction.execute(update(table).where(table.c.id.in_(written)).values(vector_store="written"))
    except BaseException:
        if not store.same_database:
            await asyncio.shield(asyncio.gather(*(store.delete(audit_id) for audit_id in written)))
        raise
    return len(claimed)


async def resync_pending(engine: AsyncEngine, store: VectorStore, encoder: Encoder, batch_size: int = 64) -> int:
    """Write the vectors of every pending remediation audit; returns how many were re-synced."""
    total = 0
    while count := await _resync_batch(engine, store, encoder, batch_size):
        total += count
    return total


async def keep_in_sync(
    engine: AsyncEngine, store: VectorStore, current_encoder: Callable[[], Encoder | None], interval: float
) -> None:
    """Background re-sync inside the service (once the model is in), each round under its own deadline."""
    while True:
        encoder = current_encoder()
        try:
            async with asyncio.timeout(RESYNC_ROUND_TIMEOUT_SECONDS):
                if encoder is not None and (count := await resync_pending(engine, store, encoder)):
                    logger.info("re-synced %d pending remediation audits to the vector store", count)
        except Exception:  # the next round retries
            logger.exception("re-syncing pending remediation audits failed")
        await asyncio.sleep(interval)
