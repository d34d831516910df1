"""The canonical form of a stored audit event and its chain hash (docs/api.md, "Hash chain").

Defined over the values as PostgreSQL gives them back, so that a verifier reading the rows
recomputes exactly what the writer hashed: ``event_data`` goes through ``jsonb``, which keeps a
number's value but not its spelling (``1e+20`` comes back ``100000000000000000000``). Hence the
one rule for numbers: an integral value is written as an integer, any other as the shortest
decimal that reads back as the same double.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC
from typing import Any, Literal

import msgspec

HashAlgorithm = Literal["sha256", "hmac-sha256"]

# Every field of the event, always present (null when absent). Left out: the chain's own fields,
# the storage date (event_date, derived from the timestamp) and anything about legal holds.
CANONICAL_FIELDS = (
    "event_id", "version", "event_type", "event_timestamp", "event_category", "event_action", "event_outcome",
    "correlation_id", "actor_type", "actor_id", "resource_type", "resource_id", "parent_event_id", "namespace",
    "cluster_name", "severity", "duration_ms", "event_data",
)  # fmt: skip
MIN_KEY_BYTES = 32


def _normalised(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, dict):
        return {key: _normalised(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_normalised(item) for item in value]
    return value


class _HasFloat(Exception):
    pass


def _float_found(_: str) -> Any:
    raise _HasFloat


# Finds whether an encoded document holds a non-integer number, at msgspec's speed.
_FLOAT_FINDER = msgspec.json.Decoder(float_hook=_float_found)


def canonical_document(row: Mapping[str, Any]) -> dict[str, Any]:
    """The event's fields as the canonical form has them: ids as lower-case UUID text, the
    timestamp in UTC with six decimals."""
    document = {name: row.get(name) for name in CANONICAL_FIELDS}
    for name in ("event_id", "parent_event_id"):
        if document[name] is not None:
            document[name] = str(document[name]).lower()
    document["event_timestamp"] = row["event_timestamp"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return document


def canonical_json(row: Mapping[str, Any]) -> bytes:
    """Sorted keys (by code point), no whitespace, UTF-8 without ``\\u`` escapes beyond the
    ones JSON requires (docs/api.md, "Hash chain")."""
    document = canonical_document(row)
    # msgspec writes what json.dumps writes (same escapes, same key order) except for floats,
    # which it spells its own way: most events have none, and take this path, 20 us faster.
    fast = msgspec.json.encode(document, order="sorted")
    try:
        _FLOAT_FINDER.decode(fast)
    except _HasFloat:
        return reference_canonical_json(document)
    return fast


def reference_canonical_json(document: Mapping[str, Any]) -> bytes:
    """The canonical form by its definition (docs/api.md) of a ``canonical_document``: what
    ``canonical_json`` must equal (a property test checks it)."""
    text = json.dumps(
        _normalised(dict(document)), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode()


class ChainHasher:
    """SHA-256 of ``previous hash (hex, empty for the first) || canonical JSON``; HMAC-SHA-256
    with the same message when a key is configured. The key is never logged nor shown."""

    __slots__ = ("_key", "algorithm")

    def __init__(self, key: bytes | None = None) -> None:
        if key is not None and len(key) < MIN_KEY_BYTES:
            raise ValueError(f"the audit chain HMAC key must be at least {MIN_KEY_BYTES} bytes")
        self._key = key
        self.algorithm: HashAlgorithm = "sha256" if key is None else "hmac-sha256"

    def __repr__(self) -> str:
        return f"ChainHasher({self.algorithm})"

    def sign(self, previous: str | None, row: Mapping[str, Any]) -> str:
        """The hash of a new event, by this hasher's algorithm."""
        message = (previous or "").encode() + canonical_json(row)
        if self._key is None:
            return hashlib.sha256(message).hexdigest()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def digest(self, previous: str | None, row: Mapping[str, Any], algorithm: str) -> str | None:
        """A stored event's hash recomputed by its ``algorithm``; None when this hasher cannot
        (an HMAC event and no key, or an algorithm it does not know)."""
        if algorithm == "sha256":
            return ChainHasher().sign(previous, row)
        if algorithm == "hmac-sha256" and self._key is not None:
            return self.sign(previous, row)
        return None


def lock_key(correlation_id: str) -> int:
    """The advisory lock key of a correlation: the first 8 bytes of its SHA-256, as a bigint."""
    return int.from_bytes(hashlib.sha256(correlation_id.encode()).digest()[:8], "big", signed=True)
