"""Sentence embeddings for semantic search: encoder, cache and backfill (issue: embeddings)."""
