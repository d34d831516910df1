"""The real packaged model: offline, verified, unit vectors, batching equal to encoding alone."""

import asyncio
import os
from pathlib import Path

import numpy as np
import pytest

from embeddings.batching import MicroBatcher
from embeddings.model import DEFAULT_MODEL_SHA256, ModelLoadError, ModelSpec, SentenceEncoder, file_sha256

TEXTS = [
    "container killed for using too much memory",
    "pod keeps restarting after it crashes on start-up",
    "node stopped reporting to the control plane",
    "TLS certificate expires in two days",
    "image cannot be pulled from the registry",
]


def test_the_packaged_model_is_the_official_file_and_loads_offline(sentence_encoder: SentenceEncoder) -> None:
    path = ModelSpec().resolved_path() / "model.safetensors"
    assert file_sha256(path) == DEFAULT_MODEL_SHA256
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    vectors = sentence_encoder.encode(TEXTS)
    assert vectors.shape == (len(TEXTS), 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


async def test_each_batched_caller_gets_the_vector_it_would_get_alone(sentence_encoder: SentenceEncoder) -> None:
    alone = [sentence_encoder.encode([text])[0] for text in TEXTS]
    batcher = MicroBatcher(sentence_encoder, max_wait=0.05)
    try:
        batched = await asyncio.gather(*(batcher.embed(text) for text in TEXTS))
    finally:
        await batcher.close()
    assert batcher.batch_sizes == [len(TEXTS)]
    for solo, shared in zip(alone, batched, strict=True):
        np.testing.assert_allclose(shared, solo, atol=1e-5)


def _copy_with_weights(tmp_path: Path, weights: bytes) -> Path:
    source = ModelSpec().resolved_path()
    target = tmp_path / "model"
    target.mkdir()
    for item in source.iterdir():
        if item.name != "model.safetensors":
            (target / item.name).symlink_to(item)
    (target / "model.safetensors").write_bytes(weights)
    return target


def test_a_swapped_weights_file_is_refused(tmp_path: Path) -> None:
    swapped = _copy_with_weights(tmp_path, b"not the official weights")
    with pytest.raises(ModelLoadError, match="SHA-256"):
        SentenceEncoder.load(ModelSpec(path=str(swapped)))


def test_a_dimension_other_than_the_models_is_refused() -> None:
    with pytest.raises(ModelLoadError, match="dimension 384"):
        SentenceEncoder.load(ModelSpec(dimension=768))
