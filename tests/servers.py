"""Servers for tests: the app's lifespan in process, and redis-server on a free loopback port."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx
import redis
from litestar import Litestar


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """A fresh redis-server (no persistence) for the duration; yields its URL."""
    with stoppable_redis_server(workdir) as server:
        yield server.url


def asgi_transport(application: Litestar) -> httpx.ASGITransport:
    """An httpx transport that calls the app in process."""
    # httpx types an ASGI app with plain MutableMapping scopes and messages; Litestar's __call__
    # takes its TypedDict scopes and events, which mypy cannot match to them. Same protocol at run time.
    return httpx.ASGITransport(app=application)  # type: ignore[arg-type]


@asynccontextmanager
async def running(application: Litestar) -> AsyncIterator[Litestar]:
    """The app with its lifespan run on the tests' own event loop, for the duration."""
    started, stop = asyncio.Event(), asyncio.Event()

    async def hold_lifespan() -> None:
        # Entered and exited in this one task: the lifespan's cancel scope requires it.
        async with application.lifespan():
            started.set()
            await stop.wait()

    holder = asyncio.create_task(hold_lifespan())
    await asyncio.wait([holder, asyncio.create_task(started.wait())], return_when=asyncio.FIRST_COMPLETED)
    if holder.done():
        holder.result()  # start-up failed: raise its error here
    try:
        yield application
    finally:
        stop.set()
        await holder


class RedisProcess:
    """A redis-server (no persistence) on one loopback port that a test may kill and start again
    on that same port, as a crashed and restarted Redis would be: clients keep their URL."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it and wait until it answers PING (10 s at most)."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed; `make test` installs it (apt-get install redis-server)")
        self._process = process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(self.url).ping()
            except redis.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    self.kill()
                    raise
                time.sleep(0.05)
            else:
                return

    def kill(self) -> None:
        """SIGKILL: it stops at once, without a chance to close its connections or save anything."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=10)
            self._process = None


@contextmanager
def stoppable_redis_server(workdir: Path) -> Iterator[RedisProcess]:
    """A started RedisProcess; killed at the end if it is still running."""
    server = RedisProcess(workdir)
    server.start()
    try:
        yield server
    finally:
        server.kill()
