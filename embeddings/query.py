"""Query texts to vectors: the cache first, then the micro-batcher."""

from __future__ import annotations

from embeddings.batching import MicroBatcher
from embeddings.cache import EmbeddingCache
from embeddings.model import Encoder, Vectors


class QueryEmbedder:
    def __init__(
        self, encoder: Encoder, *, cache_entries: int = 10_000, max_batch: int = 32, max_wait: float = 0.005
    ) -> None:
        self.encoder = encoder
        self.cache = EmbeddingCache(cache_entries)
        self.batcher = MicroBatcher(encoder, max_batch=max_batch, max_wait=max_wait)

    @property
    def model_id(self) -> str:
        return self.encoder.model_id

    @property
    def dimension(self) -> int:
        return self.encoder.dimension

    async def embed(self, text: str) -> Vectors:
        cached = self.cache.get(self.model_id, text)
        if cached is not None:
            return cached
        vector = await self.batcher.embed(text)
        self.cache.put(self.model_id, text, vector)
        return vector

    async def close(self) -> None:
        await self.batcher.close()
