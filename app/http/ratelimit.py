"""Optional per-client rate limit: a token bucket per client, 429 with ``Retry-After`` when empty.

A client is its bearer token (by digest) when it sends one, else its address. The edge
(``app.http.edge``) applies it, never to probes and metrics. The buckets live in this process:
with several replicas each enforces its own share (docs/scaling.md).
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable

from litestar.types import Scope

MAX_CLIENTS = 10_000  # buckets kept; the least recently seen client is forgotten first


class TokenBuckets:
    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # client -> (tokens, at)

    def take(self, client: str) -> float:
        """0 when the request may go; else the seconds until the client's next token."""
        now = self.clock()
        tokens, at = self._buckets.pop(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.rate)
        wait = 0.0 if tokens >= 1 else (1 - tokens) / self.rate
        self._buckets[client] = (tokens - 1 if wait == 0 else tokens, now)
        while len(self._buckets) > MAX_CLIENTS:
            self._buckets.popitem(last=False)
        return wait


def client_key(authorization: bytes | None, scope: Scope) -> str:
    """The client a bucket belongs to: its token's digest, else its address."""
    if authorization is not None:
        return "token:" + hashlib.sha256(authorization).hexdigest()[:32]
    client = scope.get("client")
    return f"address:{client[0]}" if client else "address:unknown"
