"""``serve --workers N``: N processes on one listening socket, each a whole service.

Python serves a request on one core at a time; on a machine with more, N processes share the
socket that this parent binds (the kernel hands each connection to one of them). Each worker is
what ``serve`` is alone: its own pool, model, background tasks and graceful shutdown, so what
holds for several replicas holds here (``docs/scaling.md``). The parent only supervises:

- the embedded PostgreSQL, when it is the database, is started here once, and the workers
  connect to it by URL (one server, not N racing to start it);
- metrics: every worker writes its series to files in one directory (Prometheus's multiprocess
  mode), so ``/metrics``, whichever worker answers, counts every worker's requests;
- a worker that dies is replaced; one that fails while starting stops the whole service (the
  same fault would stop every replacement), and the parent exits 1;
- SIGTERM or SIGINT is passed to every worker, which drains as ``serve`` does (readiness 503 for
  the propagation delay, then in-flight requests finish); a second signal is passed on too.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from multiprocessing.context import SpawnProcess
from types import FrameType

from uvicorn.config import STARTUP_FAILURE

from app.cli.server import run_server, uvicorn_config
from app.lib.database import locate_database
from app.lib.logs import configure_logging
from app.lib.settings import Settings

logger = logging.getLogger(__name__)

METRICS_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus_client when a worker imports it
# A worker that exits sooner than this after its start, or with uvicorn's start-up failure code,
# failed to start: a replacement would fail the same way.
START_FAILURE_SECONDS = 5.0
# Beyond the workers' own grace: how long a stop may take before the parent kills what is left.
STOP_MARGIN_SECONDS = 10.0

_spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: no threads or loops copied


def _worker(settings: Settings, listener: socket.socket) -> None:
    """A worker's whole life: logging as ``serve`` sets it (each line names its worker), then the
    service on the parent's socket."""
    configure_logging(settings.log_level, settings.log_format, fields={"worker": os.getpid()})
    run_server(settings, sockets=[listener])


class Supervisor:
    def __init__(self, settings: Settings, listener: socket.socket) -> None:
        self.settings = settings
        self.listener = listener
        self.workers: list[tuple[SpawnProcess, float]] = []
        self.stopping = threading.Event()
        self.failed = False

    def start_worker(self) -> tuple[SpawnProcess, float]:
        process = _spawn.Process(target=_worker, args=(self.settings, self.listener), name="workflow-search-worker")
        process.start()
        logger.info("worker %d started", process.pid)
        return process, time.monotonic()

    def on_signal(self, sig: int, _: FrameType | None) -> None:
        self.stopping.set()
        for process, _started in self.workers:
            if process.pid is not None and process.is_alive():
                os.kill(process.pid, sig)

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self.on_signal)
        self.workers = [self.start_worker() for _ in range(self.settings.workers)]
        while not self.stopping.wait(0.5):
            self.replace_exited()
        self.join()
        return 1 if self.failed else 0

    def replace_exited(self) -> None:
        for index, (process, started) in enumerate(self.workers):
            if process.is_alive() or self.stopping.is_set():
                continue
            _forget_metrics_of(process)
            if process.exitcode == STARTUP_FAILURE or time.monotonic() - started < START_FAILURE_SECONDS:
                logger.error("worker %d failed while starting (exit %s); stopping", process.pid, process.exitcode)
                self.failed = True
                self.on_signal(signal.SIGTERM, None)
                return
            logger.error("worker %d exited (exit %s); starting a replacement", process.pid, process.exitcode)
            self.workers[index] = self.start_worker()

    def join(self) -> None:
        settings = self.settings
        deadline = time.monotonic() + settings.shutdown_propagation_seconds + settings.shutdown_grace_seconds
        deadline += STOP_MARGIN_SECONDS
        for process, _started in self.workers:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                logger.error("worker %d did not stop in time; killing it", process.pid)
                process.kill()
                process.join()
            _forget_metrics_of(process)


def _forget_metrics_of(process: SpawnProcess) -> None:
    """A gone worker's live gauges (queue depths) stop counting; its counters stay in the sums."""
    if process.pid is not None and METRICS_DIRECTORY in os.environ:
        from prometheus_client import multiprocess  # noqa: PLC0415

        multiprocess.mark_process_dead(process.pid)  # type: ignore[no-untyped-call]


def serve_workers(settings: Settings) -> int:
    location = locate_database(settings)
    own_metrics = METRICS_DIRECTORY not in os.environ
    if own_metrics:
        os.environ[METRICS_DIRECTORY] = tempfile.mkdtemp(prefix="workflow-search-metrics-")
    try:
        shared = settings.with_overrides(database_url=location.url)
        listener = uvicorn_config(shared, "app.factory:create_app").bind_socket()
        logger.info("serving on %s:%d with %d workers", settings.host, settings.port, settings.workers)
        try:
            return Supervisor(shared, listener).run()
        finally:
            listener.close()
    finally:
        if own_metrics:
            shutil.rmtree(os.environ.pop(METRICS_DIRECTORY), ignore_errors=True)
        location.close()
