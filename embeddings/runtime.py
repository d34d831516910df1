"""The encoder's life inside the service: loaded once, off the event loop, after start-up.

The HTTP listener comes up at once (liveness answers, readiness says "model loading"); the
model loads in a worker thread; when it is in, pending workflow embeddings are backfilled in
the background. Label search never waits for the model.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from embeddings.backfill import run_backfill
from embeddings.model import Encoder, ModelSpec, SentenceEncoder
from embeddings.query import QueryEmbedder

logger = logging.getLogger(__name__)

VECTOR_DIMENSION_SQL = """
SELECT atttypmod FROM pg_attribute
WHERE attrelid = to_regclass('workflows') AND attname = 'embedding' AND NOT attisdropped
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class EmbeddingConfig:
    """What the runtime needs to know of the service's settings (``Settings.embedding_config``)."""

    model: ModelSpec
    cache_entries: int
    batch_size: int
    batch_wait_ms: float
    backfill_on_start: bool


class DimensionMismatchError(RuntimeError):
    """The database's vector column and the configured model disagree: refuse to start."""


@dataclass
class EmbeddingRuntime:
    config: EmbeddingConfig
    embedder: QueryEmbedder | None = None
    error: str | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return self.embedder is not None

    def current_encoder(self) -> Encoder | None:
        """The loaded model, or None while it loads (or if it failed)."""
        return self.embedder.encoder if self.embedder is not None else None

    @property
    def model_id(self) -> str:
        return self.config.model.model_id

    @property
    def dimension(self) -> int:
        return self.config.model.dimension

    def model_spec(self) -> ModelSpec:
        return self.config.model

    async def check_dimension(self, engine: AsyncEngine) -> None:
        async with engine.connect() as connection:
            dimension = await connection.scalar(text(VECTOR_DIMENSION_SQL))
        if dimension is None:
            raise DimensionMismatchError(
                "the database has no workflows.embedding column: run `workflow-search migrate`"
            )
        if dimension != self.dimension:
            raise DimensionMismatchError(
                f"the database stores vectors of dimension {dimension}, the model "
                f"{self.model_id} makes {self.dimension}"
            )

    def start(self, engine: AsyncEngine, encoder: Encoder | None = None) -> None:
        """Use ``encoder`` now, or load the configured model in the background."""
        if encoder is not None:
            self._install(encoder)
            return
        self._tasks.append(asyncio.create_task(self._load_then_backfill(engine), name="load-embedding-model"))

    def _install(self, encoder: Encoder) -> None:
        self.embedder = QueryEmbedder(
            encoder,
            cache_entries=self.config.cache_entries,
            max_batch=self.config.batch_size,
            max_wait=self.config.batch_wait_ms / 1000,
        )
        # The model (torch and its modules: most of the process's half a million objects) lives as
        # long as the process. Out of the collector's sight, a full collection no longer walks it:
        # 100-200 ms with the event loop stopped, the c32 tail of issue #16.
        gc.freeze()

    async def _load_then_backfill(self, engine: AsyncEngine) -> None:
        try:
            encoder = await asyncio.to_thread(SentenceEncoder.load, self.model_spec())
        except Exception as error:  # noqa: BLE001 - any load failure leaves the service label-only, and says why
            self.error = f"model not loaded: {error}"
            logger.critical("embedding model not loaded; semantic search unavailable: %s", error)
            return
        self._install(encoder)
        logger.info("embedding model %s loaded (dimension %d)", encoder.model_id, encoder.dimension)
        if self.config.backfill_on_start:
            report = await run_backfill(engine, encoder, batch_size=self.config.batch_size)
            logger.info("start-up backfill embedded %d workflows", report.embedded)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.embedder is not None:
            await self.embedder.close()
