"""The request id a client may choose (the edge, ``app.http.edge``, makes one otherwise), and
``/metrics`` for Prometheus."""

from __future__ import annotations

import os
import re

from litestar import Controller, Response, get
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

from app.lib.metrics import POOL

# A client's id is kept only if it is short and plain: it goes into every log line.
ACCEPTABLE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def acceptable_request_id(value: bytes | None) -> str | None:
    """The client's ``X-Request-ID`` if it may be kept as it came; None means "make one"."""
    if value is None:
        return None
    text = value.decode("latin-1")
    return text if ACCEPTABLE_ID.fullmatch(text) else None


class MetricsController(Controller):
    path = "/metrics"
    tags = ["Health"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get(operation_id="metrics", summary="Prometheus metrics", cache=False)
    async def metrics(self) -> Response[bytes]:
        return Response(generate_latest(_registry()), media_type=CONTENT_TYPE_LATEST)


def _registry() -> CollectorRegistry:
    """This process's metrics; under ``serve --workers``, every worker's, summed from the files
    each writes (the pool gauges are the answering worker's own)."""
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    registry.register(POOL)
    return registry
