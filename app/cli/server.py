"""Uvicorn with a graceful shutdown that load balancers can follow (the seeds' DD-007/DD-008).

On SIGTERM readiness turns 503 at once while requests are still served for the propagation
delay, so endpoints drop the replica before its listener closes. Then uvicorn's own shutdown:
the listener closes, in-flight requests get the grace period to finish, and the lifespan's
shutdown flushes the self-audit buffer, drains the dead letter queue and closes connections.
A second signal skips what is left of the delay.
"""

from __future__ import annotations

import math
import socket
import time
from types import FrameType

import uvicorn

from app.lib.lifecycle import Lifecycle
from app.lib.settings import Settings


class GracefulServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, lifecycle: Lifecycle, propagation_delay: float) -> None:
        super().__init__(config)
        self.lifecycle = lifecycle
        self.propagation_delay = propagation_delay
        self._exit_at: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._exit_at is None and not self.should_exit and self.propagation_delay > 0:
            # A signal handler: set state only; the server's tick (every 0.1 s) acts on it.
            self._captured_signals.append(sig)
            self.lifecycle.phase = "shutting_down"
            self._exit_at = time.monotonic() + self.propagation_delay
            return
        self.lifecycle.phase = "shutting_down"
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self._exit_at is not None and not self.should_exit and time.monotonic() >= self._exit_at:
            self.should_exit = True
        return await super().on_tick(counter)


def uvicorn_config(settings: Settings, app: object) -> uvicorn.Config:
    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        log_config=None,  # our handler (app.lib.logs) formats uvicorn's lines too
        access_log=False,  # app.http.edge writes one line per request, with its id
        timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_seconds),
    )


def run_server(settings: Settings, sockets: list[socket.socket] | None = None) -> None:
    """One whole service in this process, until a signal: on its own listener, or on ``sockets``
    that a parent bound (``serve --workers``)."""
    from app.factory import create_app  # noqa: PLC0415 - heavy; only serving needs it

    lifecycle = Lifecycle()
    config = uvicorn_config(settings, create_app(settings, lifecycle=lifecycle))
    GracefulServer(config, lifecycle, settings.shutdown_propagation_seconds).run(sockets=sockets)
