"""Health, readiness and liveness probes (reference shapes, DD-007)."""

from __future__ import annotations

import asyncio

import msgspec
from litestar import Controller, Response, get
from litestar.di import NamedDependency
from sqlalchemy import text

from app.dlq.runtime import DeadLetterRuntime
from app.http.runtime import Runtime

PROBE_TIMEOUT_SECONDS = 2.0


class HealthStatus(msgspec.Struct, omit_defaults=True):
    status: str
    database: str
    error: str | None = None


class ReadinessStatus(msgspec.Struct, omit_defaults=True):
    status: str
    database: str
    phase: str
    model: str
    model_loaded: bool
    dimension: int
    dead_letter_queue: str = "unknown"  # "connected" or "unreachable": degraded, still ready
    failed: list[str] = msgspec.field(default_factory=list)
    model_error: str | None = None


async def dead_letter_queue_status(dead_letters: DeadLetterRuntime) -> str:
    """Whether the dead letter queue answers. Its loss degrades the service but does not make it
    unready: writes still go to the database; only the fallback is missing."""
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
            await dead_letters.queue.ping()
    except Exception:  # noqa: BLE001 - any failure means unreachable
        return "unreachable"
    return "connected"


async def database_reachable(runtime: Runtime) -> str | None:
    """None when ``SELECT 1`` answers within the probe timeout, else why not."""
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
            async with runtime.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    except TimeoutError:
        return "database did not answer in time"
    except Exception as error:  # noqa: BLE001 - any failure means unreachable; the type says which
        return f"database unreachable ({type(error).__name__})"
    return None


class HealthController(Controller):
    path = "/health"
    tags = ["Health"]  # noqa: RUF012

    @get(operation_id="healthCheck", summary="Overall health check", cache=False)
    async def health(self, runtime: NamedDependency[Runtime]) -> Response[HealthStatus]:
        error = await database_reachable(runtime)
        if error is None:
            return Response(HealthStatus(status="healthy", database="connected"))
        return Response(HealthStatus(status="unhealthy", database="unreachable", error=error), status_code=503)

    @get("/ready", operation_id="readinessCheck", summary="Readiness check", cache=False)
    async def ready(self, runtime: NamedDependency[Runtime]) -> Response[ReadinessStatus]:
        lifecycle, embeddings = runtime.lifecycle, runtime.embeddings
        error = await database_reachable(runtime)
        checks = (("lifecycle", not lifecycle.serving), ("database", error), ("model", not embeddings.ready))
        failed = [name for name, bad in checks if bad]
        body = ReadinessStatus(
            status="not_ready" if failed else "ready",
            database="unreachable" if error else "connected",
            phase=lifecycle.phase,
            model=embeddings.model_id,
            model_loaded=embeddings.ready,
            dimension=embeddings.dimension,
            failed=failed,
            model_error=embeddings.error,
            dead_letter_queue=await dead_letter_queue_status(runtime.dead_letters),
        )
        return Response(body, status_code=503 if failed else 200)

    @get("/live", operation_id="livenessCheck", summary="Liveness check", cache=False)
    async def live(self) -> dict[str, str]:
        return {"status": "alive"}
