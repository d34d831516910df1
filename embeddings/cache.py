"""An in-process LRU of query embeddings, keyed by model and text hash."""

from __future__ import annotations

from collections import OrderedDict

from embeddings.metrics import CACHE_HITS, CACHE_MISSES
from embeddings.model import Vectors
from embeddings.text import text_sha256


class EmbeddingCache:
    """Least-recently-used cache; used from one event loop, so it needs no lock."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, str], Vectors] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, model_id: str, text: str) -> Vectors | None:
        key = (model_id, text_sha256(text))
        vector = self._entries.get(key)
        if vector is None:
            self.misses += 1
            CACHE_MISSES.inc()
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        CACHE_HITS.inc()
        return vector

    def put(self, model_id: str, text: str, vector: Vectors) -> None:
        if self.max_entries <= 0:
            return
        vector.flags.writeable = False  # shared between callers: nobody may change it
        self._entries[(model_id, text_sha256(text))] = vector
        self._entries.move_to_end((model_id, text_sha256(text)))
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
