"""Optional per-client rate limit: a token bucket per client, 429 with ``Retry-After`` when empty.

A client is its bearer token (by digest) when it sends one, else its address. Probes and
metrics are never limited. The buckets live in this process: with several replicas each
enforces its own share (docs/scaling.md).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import OrderedDict
from collections.abc import Callable

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from app.http.access import OPEN_PREFIXES
from app.lib import problems
from app.lib.problems import problem_body, send_problem

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


def client_of(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            return "token:" + hashlib.sha256(value).hexdigest()[:32]
    client = scope.get("client")
    return f"address:{client[0]}" if client else "address:unknown"


def rate_limit_middleware(app: ASGIApp, buckets: TokenBuckets | None, problem_base_url: str) -> ASGIApp:
    if buckets is None:
        return app

    async def limited(scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != ScopeType.HTTP or path.startswith(OPEN_PREFIXES):
            await app(scope, receive, send)
            return
        wait = buckets.take(client_of(scope))
        if wait == 0:
            await app(scope, receive, send)
            return
        retry_after = max(1, math.ceil(wait))
        detail = f"too many requests from this client; retry after {retry_after} s"
        body = problem_body(problem_base_url, problems.RATE_LIMIT_EXCEEDED, detail, path)
        await send_problem(send, body, [(b"retry-after", str(retry_after).encode())])

    return limited
