"""The request deadline: ``min(X-Request-Timeout, the setting)``, read here and applied by the edge
(``app.http.edge``); past it the client gets 504 ``request-timeout`` (``app.lib.deadlines`` says
what is cancelled and what is seen through)."""

from __future__ import annotations


def parse_timeout(value: bytes | None, default: float) -> float | None:
    """The client's ``X-Request-Timeout`` in seconds, capped at the default; None if malformed."""
    if value is None:
        return default
    try:
        seconds = float(value.decode("latin-1"))
    except ValueError:
        return None
    # NaN compares false both ways: refused like a negative number, never taken as "no limit".
    return min(seconds, default) if seconds >= 0 else None
