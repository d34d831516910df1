"""Deterministic stand-ins, for tests where the real model is not the point."""

from __future__ import annotations

import hashlib
import threading

import numpy as np

from embeddings.model import Vectors


class HashEncoder:
    """Maps each text to a fixed unit vector derived from its hash; records every call."""

    def __init__(self, dimension: int = 8, *, fail_on: str | None = None, gate: threading.Event | None = None) -> None:
        self._dimension = dimension
        self.calls: list[list[str]] = []
        self.fail_on = fail_on
        self.gate = gate  # when set, encode blocks until the test opens it

    @property
    def model_id(self) -> str:
        return "test/hash-encoder"

    @property
    def dimension(self) -> int:
        return self._dimension

    def vector_for(self, text: str) -> Vectors:
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
        vector = np.random.default_rng(seed).standard_normal(self._dimension).astype(np.float32)
        return vector / np.linalg.norm(vector)

    def encode(self, texts: list[str]) -> Vectors:
        if self.gate is not None:
            self.gate.wait(timeout=10)
        self.calls.append(list(texts))
        if self.fail_on is not None and self.fail_on in texts:
            raise RuntimeError(f"cannot encode {self.fail_on!r}")
        return np.stack([self.vector_for(text) for text in texts])
