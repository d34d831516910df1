"""Embedding metrics (Prometheus): encode latency, batch sizes, query-cache hits and misses."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

EMBEDDING_DURATION = Histogram(
    "embedding_duration_seconds",
    "Latency of one encode call (a micro-batch)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
EMBEDDING_BATCH_SIZE = Histogram(
    "embedding_batch_size", "Texts per encode call", buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256)
)
CACHE_HITS = Counter("embedding_cache_hits", "Query embeddings served from the cache")
CACHE_MISSES = Counter("embedding_cache_misses", "Query embeddings the cache did not hold")
