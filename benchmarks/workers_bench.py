"""``serve --workers 2`` beside one worker: label search throughput, and the memory each costs.

One catalog (10k; 2k quick) in one PostgreSQL; the same service started with one worker and with
two on that database, measured in alternating rounds at concurrency 8 and 32. The baseline is
one worker in the same run. Memory: the resident set of each process once the model is in.
On a machine of 2 cores the load generator takes a share of them too, so the gain shown is less
than a dedicated host's; ``client CPU`` in the table says how much.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

from benchmarks import catalog
from benchmarks.common import Figure
from benchmarks.load import drive
from benchmarks.service import Service, proc_status_kib, running_service

SEARCH = "/api/v1/workflows/search"
CONCURRENCIES = (8, 32)
TWO_WORKERS = {"WORKFLOW_SEARCH_WORKERS": "2"}


def _rss_mib(pid: int) -> float:
    return proc_status_kib(pid, "VmRSS") / 1024


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False).stdout.split()
    return [int(child) for child in found]


def _worker_pids(service: Service) -> list[int]:
    """The processes that serve: the workers under ``serve``'s parent (not its resource tracker)."""
    serve_pid = service.process.pid
    return [pid for pid in _children(serve_pid) if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()]


@contextlib.contextmanager
def _services(scratch: Path, database_url: str) -> Iterator[tuple[Service, Service]]:
    with (
        running_service(scratch / "one-worker", database_url=database_url) as one,
        running_service(scratch / "two-workers", database_url=database_url, env=TWO_WORKERS) as two,
    ):
        yield one, two


async def _figures(quick: bool, scratch: Path) -> list[Figure]:
    size, seconds, rounds = (2_000, 3.0, 2) if quick else (10_000, 8.0, 3)
    bodies = [search.encoded(with_vector=False) for search in catalog.searches(100)]

    def request(i: int) -> tuple[str, str, bytes | None]:
        return "POST", SEARCH, bodies[i % len(bodies)]

    with running_service(scratch / "database") as owner:
        await catalog.store_rows(owner.database_url, catalog.chunks(0, size), rebuild_indexes=False)
        with _services(scratch, owner.database_url) as (one, two):
            made: list[Figure] = []
            for concurrency in CONCURRENCIES:
                value: list[float] = []
                baseline: list[float] = []
                for _ in range(rounds):
                    baseline.append((await drive(one.url, request, concurrency, seconds)).throughput)
                    value.append((await drive(two.url, request, concurrency, seconds)).throughput)
                made.append(
                    Figure(
                        name=f"workers.label_search.{size // 1000}k.c{concurrency}.throughput",
                        group="serve --workers 2",
                        unit="req/s",
                        value_rounds=value,
                        baseline_name="one worker",
                        baseline_rounds=baseline,
                    )
                )
            workers = _worker_pids(two)
            made.append(
                Figure(
                    name="workers.memory_per_worker",
                    group="serve --workers 2",
                    unit="MiB",
                    value_rounds=[max(_rss_mib(pid) for pid in workers)],
                    baseline_name="one worker (serve alone)",
                    baseline_rounds=[_rss_mib(one.process.pid)],
                    notes=f"resident set, model loaded; the supervisor itself {_rss_mib(two.process.pid):.0f} MiB",
                )
            )
    return made


def figures(quick: bool, scratch: Path) -> list[Figure]:
    return asyncio.run(_figures(quick, scratch))
