"""Micro-batching mechanics with a deterministic encoder (the real model: tests/integration)."""

import asyncio
import threading

import numpy as np
import pytest

from embeddings.batching import BatcherClosedError, MicroBatcher
from embeddings.query import QueryEmbedder
from tests.fakes import HashEncoder


async def test_concurrent_callers_share_one_encode_call_and_get_their_own_vectors() -> None:
    encoder = HashEncoder()
    batcher = MicroBatcher(encoder, max_batch=64, max_wait=0.02)
    texts = [f"incident {i}" for i in range(20)]
    try:
        vectors = await asyncio.gather(*(batcher.embed(text) for text in texts))
    finally:
        await batcher.close()
    assert len(encoder.calls) == 1
    assert sorted(encoder.calls[0]) == sorted(texts)
    for text, vector in zip(texts, vectors, strict=True):
        np.testing.assert_array_equal(vector, encoder.vector_for(text))


async def test_a_full_batch_starts_without_waiting_and_the_rest_follows() -> None:
    encoder = HashEncoder()
    batcher = MicroBatcher(encoder, max_batch=4, max_wait=10.0)  # a wait this long would time the test out
    try:
        async with asyncio.timeout(5):
            await asyncio.gather(*(batcher.embed(f"t{i}") for i in range(8)))
    finally:
        await batcher.close()
    assert [len(call) for call in encoder.calls] == [4, 4]


async def test_repeated_texts_are_encoded_once_per_batch() -> None:
    encoder = HashEncoder()
    batcher = MicroBatcher(encoder, max_wait=0.02)
    try:
        first, second = await asyncio.gather(batcher.embed("same"), batcher.embed("same"))
    finally:
        await batcher.close()
    assert encoder.calls == [["same"]]
    np.testing.assert_array_equal(first, second)


async def test_a_cancelled_caller_does_not_break_the_batch() -> None:
    gate = threading.Event()
    encoder = HashEncoder(gate=gate)
    batcher = MicroBatcher(encoder, max_wait=0.01)
    try:
        first = asyncio.create_task(batcher.embed("first"))
        await asyncio.sleep(0.05)  # "first" is now inside encode, held by the gate
        leaving = asyncio.create_task(batcher.embed("leaving"))
        staying = asyncio.create_task(batcher.embed("staying"))
        await asyncio.sleep(0)
        leaving.cancel()
        gate.set()
        assert (await first).shape == (8,)
        np.testing.assert_array_equal(await staying, encoder.vector_for("staying"))
        with pytest.raises(asyncio.CancelledError):
            await leaving
    finally:
        await batcher.close()
    assert ["first"] in encoder.calls
    assert all("leaving" not in call for call in encoder.calls), "a cancelled text was still encoded"


async def test_an_encoder_error_reaches_every_caller_of_that_batch_and_the_next_batch_works() -> None:
    encoder = HashEncoder(fail_on="poison")
    batcher = MicroBatcher(encoder, max_wait=0.02)
    try:
        results = await asyncio.gather(batcher.embed("poison"), batcher.embed("bystander"), return_exceptions=True)
        assert all(isinstance(r, RuntimeError) for r in results)
        np.testing.assert_array_equal(await batcher.embed("later"), encoder.vector_for("later"))
    finally:
        await batcher.close()


async def test_a_closed_batcher_refuses_new_texts() -> None:
    batcher = MicroBatcher(HashEncoder())
    await batcher.close()
    with pytest.raises(BatcherClosedError):
        await batcher.embed("too late")


async def test_the_cache_answers_repeated_queries_without_encoding() -> None:
    encoder = HashEncoder()
    embedder = QueryEmbedder(encoder, cache_entries=2, max_wait=0.001)
    try:
        first = await embedder.embed("a")
        again = await embedder.embed("a")
        await embedder.embed("b")
        await embedder.embed("c")  # evicts "a", the least recently used
        await embedder.embed("a")
    finally:
        await embedder.close()
    assert again is first
    assert not again.flags.writeable
    assert [text for call in encoder.calls for text in call] == ["a", "b", "c", "a"]
    assert (embedder.cache.hits, embedder.cache.misses) == (1, 4)
