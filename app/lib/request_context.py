"""The request being served, for every log line written while serving it (``app.lib.logs``).

Set by the request context middleware (``app.http.observability``), read by one structlog
processor.
"""

from __future__ import annotations

import ipaddress
from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import Any

from litestar.types import Scope

# The request being served: its scope (which gains ``path_template`` once the router has matched
# it), its id and its method. One variable read by one processor: structlog's bound_contextvars
# creates and resets a variable per key on every request (5% of a small request's CPU).
current_request: ContextVar[tuple[Scope, str, str] | None] = ContextVar("current_request", default=None)


# The scope state key of the fields a handler adds to its request's ``request completed`` line
# (the MCP endpoint names the tool called): the edge writes that line after the handler returns.
LOG_FIELDS_KEY = "log_fields"


def add_log_fields(scope: MutableMapping[str, Any], **fields: str) -> None:
    scope.setdefault("state", {}).setdefault(LOG_FIELDS_KEY, {}).update(fields)


def log_fields(scope: Scope) -> dict[str, str]:
    fields: dict[str, str] = scope.get("state", {}).get(LOG_FIELDS_KEY, {})
    return fields


# The state key under which a handler finds the token the request was authorised with (set by
# app.http.edge; here so that capabilities can name who acted without importing the edge).
ACCESS_TOKEN_KEY = "access_token"  # noqa: S105 - a state key, not a secret


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def principal_of(scope: Scope) -> str:
    """Who made the request: its token's name; with tokens off, ``loopback`` for a local client
    (the service then only listens there) and ``anonymous`` otherwise."""
    name = getattr(scope.get("state", {}).get(ACCESS_TOKEN_KEY), "name", None)
    if isinstance(name, str):
        return name
    client = scope.get("client")
    return "loopback" if client and is_loopback(str(client[0])) else "anonymous"


def route_of(scope: Scope) -> str:
    """The matched route template; ``unmatched`` before routing or when nothing matched (404)."""
    return str(scope.get("path_template") or "unmatched")


def add_request_context(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: the current request's id, method and route on every line it writes."""
    current = current_request.get()
    if current is not None:
        scope, request_id, method = current
        event.setdefault("request_id", request_id)
        event.setdefault("method", method)
        event.setdefault("route", route_of(scope))
    return event
