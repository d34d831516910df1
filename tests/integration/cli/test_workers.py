"""``serve --workers 2``: two processes on one listener, both serving, counted together, replaced
when one dies, and stopped together by one SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path

import httpx

from tests.commands import command_env, serving

REQUESTS = 300
CONCURRENCY = 16
ROUTE_COUNT = 'http_requests_total{method="GET",route="/health/live",status="200"}'
REPLACEMENT_TIMEOUT_SECONDS = 180.0  # a replacement loads its own model, on a CPU the suite shares


def worker_pids(log: Path) -> list[int]:
    """The worker of each request line written so far, in order."""
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return [line["worker"] for line in lines if line.get("event") == "request completed"]


async def fresh_connections(base_url: str, count: int) -> list[int]:
    """``count`` liveness probes, each on a new connection, so the kernel may give each to either worker."""
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as client:
        gate = asyncio.Semaphore(CONCURRENCY)

        async def probe() -> int:
            async with gate:
                return (await client.get("/health/live")).status_code

        return await asyncio.gather(*(probe() for _ in range(count)))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def counted(base_url: str) -> float:
    body = httpx.get(f"{base_url}/metrics", timeout=10).text
    (line,) = [line for line in body.splitlines() if line.startswith(ROUTE_COUNT)]
    return float(line.rsplit(" ", 1)[1])


async def test_two_workers_both_serve_count_together_are_replaced_and_stop_on_one_sigterm(
    database_url: str, tmp_path: Path
) -> None:
    env = command_env() | {"DATABASE_URL": database_url, "WORKFLOW_SEARCH_DATA_DIR": str(tmp_path / "data")}
    env |= {"WORKFLOW_SEARCH_SHUTDOWN_PROPAGATION_SECONDS": "0.5"}
    log = tmp_path / "serve.log"
    with serving(["--workers", "2"], log, env=env) as (base_url, parent):
        assert await fresh_connections(base_url, REQUESTS) == [200] * REQUESTS
        workers = set(worker_pids(log))
        assert len(workers) == 2, workers  # both took connections
        assert parent.pid not in workers
        # Whichever worker answers /metrics, it counts both workers' requests.
        assert counted(base_url) >= REQUESTS

        # A worker killed outright is replaced; the other serves meanwhile.
        lost = min(workers)
        os.kill(lost, signal.SIGKILL)
        deadline = time.monotonic() + REPLACEMENT_TIMEOUT_SECONDS
        while len(set(worker_pids(log)) - workers) == 0:
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            assert await fresh_connections(base_url, 20) == [200] * 20
            await asyncio.sleep(0.5)
        (replacement,) = set(worker_pids(log)) - workers
        assert not alive(lost)

        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=60) == 0, log.read_text()[-3000:]
    assert not any(alive(pid) for pid in (workers - {lost}) | {replacement})
