"""Batch backfill: embed every workflow whose embedding is missing or stale.

Stale means made by another model, or from a text other than the workflow's text now.
Each batch is claimed with ``FOR UPDATE SKIP LOCKED``, encoded while the claim holds, written
and committed: an interrupted run loses at most the batch in flight and the next run resumes
there, and several processes can run at once without doing a row twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from embeddings.model import Encoder, vector_literal
from embeddings.text import text_sha256, workflow_text

STALE = """
    embedding IS NULL
    OR embedding_text_hash IS DISTINCT FROM text_hash
    OR embedding_model IS DISTINCT FROM CAST(:model_id AS text)
"""

CLAIM_SQL = f"""
SELECT workflow_id, name, description, labels
FROM workflows
WHERE {STALE}
ORDER BY workflow_id
LIMIT :batch_size
FOR UPDATE SKIP LOCKED
"""  # noqa: S608 - constant text; values are bind parameters

WRITE_SQL = """
UPDATE workflows AS w
SET embedding = CAST(u.embedding AS vector),
    embedding_model = CAST(:model_id AS text),
    embedding_text_hash = u.text_hash,
    text_hash = u.text_hash,
    embedded_at = clock_timestamp()
FROM unnest(CAST(:ids AS uuid[]), CAST(:embeddings AS text[]), CAST(:hashes AS text[]))
     AS u(workflow_id, embedding, text_hash)
WHERE w.workflow_id = u.workflow_id
"""

COUNT_STALE_SQL = f"SELECT count(*) FROM workflows WHERE {STALE}"  # noqa: S608

TEXT_PAGE_SQL = """
SELECT workflow_id, name, description, labels, text_hash
FROM workflows
WHERE workflow_id > :after
ORDER BY workflow_id
LIMIT :page_size
"""

SET_TEXT_HASH_SQL = """
UPDATE workflows AS w SET text_hash = u.text_hash
FROM unnest(CAST(:ids AS uuid[]), CAST(:hashes AS text[])) AS u(workflow_id, text_hash)
WHERE w.workflow_id = u.workflow_id
"""

FIRST_UUID = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True, slots=True)
class BackfillReport:
    model_id: str
    embedded: int
    batches: int
    seconds: float
    remaining: int

    @property
    def rate(self) -> float:
        return self.embedded / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rate_per_second": round(self.rate, 2)}


def _text_and_hash(row: Any) -> tuple[str, str]:
    embedding_text = workflow_text(row["name"], row["description"], row["labels"])
    return embedding_text, text_sha256(embedding_text)


async def sync_text_hashes(engine: AsyncEngine, page_size: int = 1000) -> int:
    """Record each workflow's current text hash where it differs (the recipe changed)."""
    changed = 0
    after = FIRST_UUID
    while True:
        async with engine.begin() as connection:
            rows = (await connection.execute(text(TEXT_PAGE_SQL), {"after": after, "page_size": page_size})).mappings()
            page = list(rows)
            if not page:
                return changed
            updates = [(r["workflow_id"], h) for r in page if (h := _text_and_hash(r)[1]) != r["text_hash"]]
            if updates:
                await connection.execute(
                    text(SET_TEXT_HASH_SQL), {"ids": [i for i, _ in updates], "hashes": [h for _, h in updates]}
                )
            changed += len(updates)
            after = str(page[-1]["workflow_id"])


async def _embed_one_batch(connection: AsyncConnection, encoder: Encoder, batch_size: int) -> int:
    claimed = (
        (await connection.execute(text(CLAIM_SQL), {"model_id": encoder.model_id, "batch_size": batch_size}))
        .mappings()
        .all()
    )
    if not claimed:
        return 0
    texts_and_hashes = [_text_and_hash(row) for row in claimed]
    vectors = await asyncio.to_thread(encoder.encode, [t for t, _ in texts_and_hashes])
    await connection.execute(
        text(WRITE_SQL),
        {
            "model_id": encoder.model_id,
            "ids": [row["workflow_id"] for row in claimed],
            "embeddings": [vector_literal(v) for v in vectors],
            "hashes": [h for _, h in texts_and_hashes],
        },
    )
    return len(claimed)


async def run_backfill(
    engine: AsyncEngine,
    encoder: Encoder,
    *,
    batch_size: int = 64,
    limit: int | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> BackfillReport:
    started = time.perf_counter()
    await sync_text_hashes(engine)
    embedded = batches = 0
    while limit is None or embedded < limit:
        size = batch_size if limit is None else min(batch_size, limit - embedded)
        async with engine.begin() as connection:  # one commit per batch
            count = await _embed_one_batch(connection, encoder, size)
        if count == 0:
            break
        embedded += count
        batches += 1
        if on_batch is not None:
            on_batch(count)
    remaining = await count_stale(engine, encoder.model_id)
    return BackfillReport(encoder.model_id, embedded, batches, round(time.perf_counter() - started, 3), remaining)


async def count_stale(engine: AsyncEngine, model_id: str) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(text(COUNT_STALE_SQL), {"model_id": model_id}) or 0)
