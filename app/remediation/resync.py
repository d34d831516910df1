"""Re-sync remediation audits stored ``pending`` by the dual write's fallback.

Each batch is claimed with ``FOR UPDATE SKIP LOCKED`` (several processes may run at once),
its vectors upserted, and the rows marked ``written`` in the same transaction. A failure before
that commit leaves rows ``pending`` whose vector may already be in a separate store: harmless,
the next round upserts it again. It is never deleted on failure, since a COMMIT whose answer was
lost may have marked the row ``written`` after all.

Each round also removes vectors without a row (none of this service's writes leave one: a vector
is written only after its row committed), older than a grace period, so that a write in flight
elsewhere is never touched.

And each round checks a page of ``written`` rows for their vector, the next page after the last
round's, wrapping around, so the whole history is checked in turn at a bounded cost per round.
A row found without its vector (left by an older version of the dual write, or a vector deleted
by hand) is marked ``pending`` again, and the next batch writes its vector. The protocol itself
never leaves one: a row is marked ``written`` only after its vector is stored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.remediation.repository import remediation_audits as table
from app.remediation.vector_store import VectorStore
from embeddings.model import Encoder, vector_literal
from embeddings.text import remediation_text

logger = logging.getLogger(__name__)

RESYNC_ROUND_TIMEOUT_SECONDS = 300.0


async def _resync_batch(engine: AsyncEngine, store: VectorStore, encoder: Encoder, batch_size: int) -> int:
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
        ids = [row["id"] for row in claimed]
        await transaction.execute(update(table).where(table.c.id.in_(ids)).values(vector_store="written"))
    return len(claimed)


async def remove_orphan_vectors(engine: AsyncEngine, store: VectorStore, grace_seconds: float = 300.0) -> int:
    """Delete vectors older than ``grace_seconds`` whose row does not exist; returns how many."""
    removed, after = 0, None
    while candidates := await store.ids_older_than(grace_seconds, after=after, limit=1000):
        after = candidates[-1]
        async with engine.connect() as connection:
            rows = set((await connection.execute(select(table.c.id).where(table.c.id.in_(candidates)))).scalars())
        orphans = [audit_id for audit_id in candidates if audit_id not in rows]
        if orphans:
            await store.delete_many(orphans)
            removed += len(orphans)
    return removed


async def recheck_written(
    engine: AsyncEngine, store: VectorStore, *, after: UUID | None, limit: int = 1000
) -> tuple[int, UUID | None]:
    """Mark ``pending`` the ``written`` rows among the next ``limit`` after ``after`` (in id
    order) whose vector is missing. Returns how many, and where the next page starts (None: the
    end was reached, start again from the beginning)."""
    query = select(table.c.id).where(table.c.vector_store == "written").order_by(table.c.id).limit(limit)
    if after is not None:
        query = query.where(table.c.id > after)
    async with engine.connect() as connection:
        ids = list((await connection.execute(query)).scalars())
    if not ids:
        return 0, None
    missing = sorted(set(ids) - await store.existing(ids))
    if missing:
        async with engine.begin() as transaction:
            await transaction.execute(
                update(table)
                .where(table.c.id.in_(missing), table.c.vector_store == "written")
                .values(vector_store="pending")
            )
        logger.warning("%d remediation audits marked written had no vector; marked pending again", len(missing))
    return len(missing), ids[-1] if len(ids) == limit else None


async def recheck_all_written(engine: AsyncEngine, store: VectorStore, *, page: int = 1000) -> int:
    """``recheck_written`` over the whole history; how many rows were marked pending again."""
    marked, after = await recheck_written(engine, store, after=None, limit=page)
    while after is not None:
        more, after = await recheck_written(engine, store, after=after, limit=page)
        marked += more
    return marked


async def resync_pending(engine: AsyncEngine, store: VectorStore, encoder: Encoder, batch_size: int = 64) -> int:
    """Write the vectors of every pending remediation audit; returns how many were re-synced."""
    total = 0
    while count := await _resync_batch(engine, store, encoder, batch_size):
        total += count
    if (orphans := await remove_orphan_vectors(engine, store)) > 0:
        logger.warning("removed %d remediation vectors that had no audit row", orphans)
    return total


async def keep_in_sync(
    engine: AsyncEngine, store: VectorStore, current_encoder: Callable[[], Encoder | None], interval: float
) -> None:
    """Background re-sync inside the service (once the model is in), each round under its own deadline."""
    recheck_from: UUID | None = None
    while True:
        encoder = current_encoder()
        try:
            async with asyncio.timeout(RESYNC_ROUND_TIMEOUT_SECONDS):
                _, recheck_from = await recheck_written(engine, store, after=recheck_from)
                if encoder is not None and (count := await resync_pending(engine, store, encoder)):
                    logger.info("re-synced %d pending remediation audits to the vector store", count)
        except Exception:  # the next round retries
            logger.exception("re-syncing pending remediation audits failed")
        await asyncio.sleep(interval)
