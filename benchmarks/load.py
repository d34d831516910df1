"""A closed-loop HTTP load driver that stays cheap in CPU, because it shares two cores with the server.

Each of ``concurrency`` workers owns one keep-alive connection and sends its next request as soon
as the previous answer is read. HTTP/1.1 is written and parsed by hand over asyncio streams:
a general client (httpx) spends several times the server's own CPU per request, which would
measure the client rather than the service.
"""

from __future__ import annotations

import asyncio
import itertools
import resource
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import numpy as np

RequestMaker = Callable[[int], tuple[str, str, bytes | None]]


@dataclass(frozen=True)
class LoadResult:
    requests: int  # answered (any status) inside the measured window
    errors: int  # non-2xx answers and broken connections inside the window
    throughput: float  # 2xx answers per second inside the window
    p50_ms: float
    p99_ms: float
    client_cpu_percent: float  # this process's CPU over the window, in percent of one core
    latencies_ms: list[float] = field(repr=False)  # every 2xx answer inside the window
    first_error: str = ""  # the first error's status line or exception, to say what went wrong


class _Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length: int | None = None
        chunked = False
        close = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        body = await self._read_chunked() if chunked else await self.reader.readexactly(length or 0)
        if close:
            self.close()
        return status, body

    async def _read_chunked(self) -> bytes:
        assert self.reader is not None
        parts: list[bytes] = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await self.reader.readexactly(size + 2)
            if size == 0:
                return b"".join(parts)
            parts.append(chunk[:-2])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def encode_request(host_header: str, method: str, path: str, body: bytes | None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host_header}", "Accept: application/json"]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


async def drive(
    url: str,
    make_request: RequestMaker,
    concurrency: int,
    duration_seconds: float,
    warmup_seconds: float = 1.0,
) -> LoadResult:
    """Run ``concurrency`` closed-loop workers for warm-up plus duration; measure only the duration.

    A request counts in the window when it both started and finished inside it, so neither
    the warm-up nor the final stragglers bias the latencies.
    """
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    counter = itertools.count()
    loop = asyncio.get_running_loop()
    start = loop.time()
    window_start = start + warmup_seconds
    window_end = window_start + duration_seconds
    latencies: list[float] = []
    errors = 0
    answered = 0
    first_error = ""

    async def worker() -> None:
        nonlocal errors, answered, first_error
        connection = _Connection(host, port)
        try:
            while True:
                method, path, body = make_request(next(counter))
                raw = encode_request(parts.netloc, method, path, body)
                sent = loop.time()
                if sent >= window_end:
                    return
                try:
                    status, answer = await connection.request(raw)
                    ok = 200 <= status < 300
                    problem = "" if ok else f"{status} {answer[:300]!r}"
                except (OSError, asyncio.IncompleteReadError, ValueError) as error:
                    connection.close()
                    ok, problem = False, f"{type(error).__name__}: {error}"
                done = loop.time()
                if sent < window_start or done > window_end:
                    continue
                answered += 1
                if ok:
                    latencies.append((done - sent) * 1000.0)
                else:
                    errors += 1
                    first_error = first_error or problem
        finally:
            connection.close()

    cpu_at_start: list[float] = []
    wall_at_start: list[float] = []

    def mark_window_start() -> None:
        cpu_at_start.append(_cpu_seconds())
        wall_at_start.append(time.perf_counter())

    loop.call_at(window_start, mark_window_start)
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu = _cpu_seconds() - cpu_at_start[0]
    wall = time.perf_counter() - wall_at_start[0]
    return _result(latencies, answered, errors, first_error, duration_seconds, 100.0 * cpu / wall)


def _result(
    latencies: list[float], answered: int, errors: int, first_error: str, seconds: float, cpu_percent: float
) -> LoadResult:
    measured = np.asarray(latencies) if latencies else np.asarray([float("nan")])
    return LoadResult(
        requests=answered,
        errors=errors,
        throughput=len(latencies) / seconds,
        p50_ms=float(np.percentile(measured, 50)),
        p99_ms=float(np.percentile(measured, 99)),
        client_cpu_percent=cpu_percent,
        latencies_ms=latencies,
        first_error=first_error,
    )


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def drive_calls(
    call: Callable[[int], Awaitable[object]],
    concurrency: int,
    duration_seconds: float,
    warmup_seconds: float = 1.0,
) -> LoadResult:
    """The same closed loop over any awaitable (a floor's direct database call); exceptions are errors."""
    counter = itertools.count()
    loop = asyncio.get_running_loop()
    window_start = loop.time() + warmup_seconds
    window_end = window_start + duration_seconds
    latencies: list[float] = []
    errors = 0
    first_error = ""
    marks: list[tuple[float, float]] = []

    async def worker() -> None:
        nonlocal errors, first_error
        while (sent := loop.time()) < window_end:
            try:
                await call(next(counter))
                problem = ""
            except Exception as error:  # noqa: BLE001 - every failure is counted and reported
                problem = f"{type(error).__name__}: {error}"
            done = loop.time()
            if sent < window_start or done > window_end:
                continue
            if problem:
                errors += 1
                first_error = first_error or problem
            else:
                latencies.append((done - sent) * 1000.0)

    loop.call_at(window_start, lambda: marks.append((_cpu_seconds(), time.perf_counter())))
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu = _cpu_seconds() - marks[0][0]
    wall = time.perf_counter() - marks[0][1]
    return _result(latencies, len(latencies) + errors, errors, first_error, duration_seconds, 100.0 * cpu / wall)
