"""Where remediation embeddings live: an interface, and its pgvector implementation.

The pgvector store can live in the service's own database (its writes then join the caller's
transaction, so both commit or neither does) or in another one (``VECTOR_DATABASE_URL``; its
writes commit on their own; the dual write's order of steps keeps both stores consistent, and the
re-sync repairs what a crash leaves between them).
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Protocol, runtime_checkable
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.lib.database import asyncpg_url, create_engine
from app.lib.settings import Settings

VECTOR_TABLE_SQL = """
CREATE TABLE IF NOT EXISTS remediation_audit_vectors (
    audit_id uuid PRIMARY KEY,
    embedding vector({dimension}) NOT NULL,
    model text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
)
"""
NEAREST_SQL = """
WITH scored AS (
    SELECT audit_id, round(CAST(1 - (embedding <=> CAST(:embedding AS vector)) AS numeric), 6) AS similarity
    FROM remediation_audit_vectors
    WHERE audit_id = ANY(CAST(:ids AS uuid[]))
)
SELECT audit_id, similarity, count(*) OVER () AS total
FROM scored
WHERE CAST(:min_similarity AS double precision) IS NULL OR similarity >= CAST(:min_similarity AS double precision)
ORDER BY similarity DESC, audit_id ASC
LIMIT :top_k
"""
# Idempotent: a vector that did land although its write reported an error (a lost answer from a
# separate store) is overwritten by the re-sync instead of blocking it on the primary key.
WRITE_SQL = """
INSERT INTO remediation_audit_vectors (audit_id, embedding, model)
VALUES (:audit_id, CAST(:embedding AS vector), :model)
ON CONFLICT (audit_id) DO UPDATE SET embedding = EXCLUDED.embedding, model = EXCLUDED.model
"""

OLDER_THAN_SQL = """
SELECT audit_id FROM remediation_audit_vectors
WHERE created_at < clock_timestamp() - make_interval(secs => :seconds)
  AND (CAST(:after AS uuid) IS NULL OR audit_id > CAST(:after AS uuid))
ORDER BY audit_id
LIMIT :limit
"""


@runtime_checkable  # Litestar checks the type of each injected dependency
class VectorStore(Protocol):
    @property
    def same_database(self) -> bool:
        """True when writes join the caller's PostgreSQL transaction."""
        ...

    async def write(self, transaction: AsyncConnection, audit_id: UUID, embedding: str, model: str) -> None:
        """Store one vector (pgvector text form); ``transaction`` is the caller's, used when shared."""
        ...

    async def delete_many(self, audit_ids: list[UUID]) -> None: ...

    async def ids_older_than(self, seconds: float, *, after: UUID | None, limit: int) -> list[UUID]:
        """Audit ids of vectors stored more than ``seconds`` ago, in id order after ``after``."""
        ...

    async def existing(self, audit_ids: list[UUID]) -> set[UUID]:
        """Which of ``audit_ids`` have a vector."""
        ...

    async def nearest(
        self, audit_ids: list[UUID], embedding: str, *, top_k: int, min_similarity: float | None
    ) -> tuple[list[tuple[UUID, float]], int]:
        """Exact cosine similarity over ``audit_ids``: the best ``top_k`` (similarity, then id)
        and how many passed ``min_similarity``."""
        ...


class PgVectorStore:
    def __init__(self, engine: AsyncEngine, *, same_database: bool) -> None:
        self.engine = engine
        self._same_database = same_database

    @property
    def same_database(self) -> bool:
        return self._same_database

    async def ensure_schema(self, dimension: int) -> None:
        """For a separate vector database: its extension and table (migrations cover our own)."""
        async with self.engine.begin() as connection:
            await connection.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
            await connection.execute(text(VECTOR_TABLE_SQL.format(dimension=int(dimension))))

    async def write(self, transaction: AsyncConnection, audit_id: UUID, embedding: str, model: str) -> None:
        values = {"audit_id": audit_id, "embedding": embedding, "model": model}
        if self._same_database:
            await transaction.execute(text(WRITE_SQL), values)
            return
        async with self.engine.begin() as connection:
            await connection.execute(text(WRITE_SQL), values)

    async def delete_many(self, audit_ids: list[UUID]) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(
                text("DELETE FROM remediation_audit_vectors WHERE audit_id = ANY(CAST(:ids AS uuid[]))"),
                {"ids": audit_ids},
            )

    async def ids_older_than(self, seconds: float, *, after: UUID | None, limit: int) -> list[UUID]:
        async with self.engine.connect() as connection:
            result = await connection.execute(
                text(OLDER_THAN_SQL), {"seconds": seconds, "after": after, "limit": limit}
            )
            return list(result.scalars())

    async def existing(self, audit_ids: list[UUID]) -> set[UUID]:
        async with self.engine.connect() as connection:
            result = await connection.execute(
                text("SELECT audit_id FROM remediation_audit_vectors WHERE audit_id = ANY(CAST(:ids AS uuid[]))"),
                {"ids": audit_ids},
            )
            return set(result.scalars())

    async def nearest(
        self, audit_ids: list[UUID], embedding: str, *, top_k: int, min_similarity: float | None
    ) -> tuple[list[tuple[UUID, float]], int]:
        if not audit_ids:
            return [], 0
        params = {"ids": audit_ids, "embedding": embedding, "top_k": top_k, "min_similarity": min_similarity}
        async with self.engine.connect() as connection:
            rows = (await connection.execute(text(NEAREST_SQL), params)).all()
        total = int(rows[0].total) if rows else 0
        return [(row.audit_id, float(row.similarity)) for row in rows], total


async def open_vector_store(settings: Settings, engine: AsyncEngine, stack: AsyncExitStack) -> PgVectorStore:
    """The remediation vector store: this database, or the one at VECTOR_DATABASE_URL."""
    if not settings.vector_database_url:
        return PgVectorStore(engine, same_database=True)
    vector_engine = create_engine(asyncpg_url(settings.vector_database_url), settings)
    stack.push_async_callback(vector_engine.dispose)
    store = PgVectorStore(vector_engine, same_database=False)
    await store.ensure_schema(settings.embedding_dimension)
    return store
