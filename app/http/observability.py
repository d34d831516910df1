"""Per request: a request id (``X-Request-ID`` in, or generated; echoed back), the log context,
the HTTP metrics, and one ``request completed`` line. And ``/metrics`` for Prometheus."""

from __future__ import annotations

import re
import time
import uuid

import structlog
from litestar import Controller, Response, get
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from app.lib.metrics import HTTP_DURATION, HTTP_REQUESTS
from app.lib.request_context import current_request, route_of

logger = structlog.get_logger("app.requests")

REQUEST_ID_HEADER = b"x-request-id"
# A client's id is kept only if it is short and plain: it goes into every log line.
ACCEPTABLE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def request_id_of(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER:
            text = value.decode("latin-1")
            if ACCEPTABLE_ID.match(text):
                return text
    return uuid.uuid4().hex


def request_context_middleware(app: ASGIApp) -> ASGIApp:
    """Wraps the whole application (router included), so 404s and 405s are counted and logged too."""

    async def with_context(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        method = scope["method"] if scope["method"] in METHODS else "OTHER"
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (REQUEST_ID_HEADER, request_id.encode())]
            await send(message)

        started = time.perf_counter()
        token = current_request.set((scope, request_id, method))
        try:
            await app(scope, receive, send_with_id)
        finally:
            route = route_of(scope)
            seconds = time.perf_counter() - started
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_DURATION.labels(method, route).observe(seconds)
            logger.info("request completed", status=status, duration_ms=round(seconds * 1000, 2))
            current_request.reset(token)

    return with_context


class MetricsController(Controller):
    path = "/metrics"
    tags = ["Health"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get(operation_id="metrics", summary="Prometheus metrics", cache=False)
    async def metrics(self) -> Response[bytes]:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
