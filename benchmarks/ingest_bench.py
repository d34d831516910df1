"""Audit ingest: the service's write endpoints against what PostgreSQL itself can take.

Two figures, each measured against its floor in the same run, round after round (the order
alternates per round so that the table's growth and any drift of the machine hurt both sides
alike):

* batch ingest: ``POST /api/v1/audit/events/batch`` with 500 events per request, against binary
  ``COPY`` (asyncpg ``copy_records_to_table``) of the same rows, 500 per ``COPY`` and
  transaction, into the same partitioned, indexed ``audit_events`` table. Same concurrency on
  both sides: ``BATCH_CONCURRENCY`` requests or ``COPY`` streams in flight.
* single events: ``POST /api/v1/audit/events`` from 64 concurrent clients, against 64 asyncpg
  workers (a pool of 64 connections) that each ``INSERT`` one row and commit it. This floor is
  what a service without group commit would at best achieve; the service's group commit
  should beat it several times over.

Both sides are counted the same way, by the database: the rows whose ``stored_at`` (the
column's default, ``clock_timestamp()`` at insert) falls inside the measured window, divided
by its length. This leaves out the warm-up and rows queued to the dead letter queue (a 202
is a 2xx for the load driver, not a write), and does not undercount the service when one
500-event request takes a good part of a second (a request counts for the load driver only
if it starts and ends inside the window). Rows queued to the dead letter queue and the
server's own CPU use are named in the figure's notes; any non-2xx answer fails the module.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import statistics
import time
import urllib.request
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from benchmarks.common import Figure
from benchmarks.corpus import audit_event
from benchmarks.load import LoadResult, RequestMaker, drive
from benchmarks.service import Service, running_service

GROUP = "audit ingest"
BATCH_SIZE = 500  # the endpoint's maximum, as the issue asks
# Two producers flushing their buffers: one request is parsed while the other waits on the
# database. More only lengthens each request, the server's one event loop being the limit.
BATCH_CONCURRENCY = 2
SINGLE_CONCURRENCY = 64
EVENTS_PATH = "/api/v1/audit/events"
BATCH_PATH = "/api/v1/audit/events/batch"
COLUMNS = (
    "event_id", "event_date", "event_timestamp", "version", "event_type", "event_category", "event_action",
    "event_outcome", "actor_type", "actor_id", "resource_type", "resource_id", "correlation_id",
    "parent_event_id", "namespace", "cluster_name", "severity", "duration_ms", "event_data",
)  # fmt: skip
INSERT_SQL = (
    f"INSERT INTO audit_events ({', '.join(COLUMNS)}) VALUES ({', '.join(f'${n}' for n in range(1, len(COLUMNS) + 1))})"
)


@dataclass(frozen=True)
class Sizes:
    rounds: int
    duration: float  # seconds measured per side and round
    warmup: float
    distinct_events: int  # events generated once and cycled through (ids are fresh per write)


# Shortest windows; the batch figure lengthens them to several times one batch's measured latency.
QUICK = Sizes(rounds=3, duration=2.0, warmup=1.0, distinct_events=4 * BATCH_SIZE)
FULL = Sizes(rounds=5, duration=10.0, warmup=2.0, distinct_events=20 * BATCH_SIZE)
STORED_BETWEEN_SQL = "SELECT count(*) FROM audit_events WHERE stored_at >= $1 AND stored_at < $2"


def figures(quick: bool, scratch: Path) -> list[Figure]:
    sizes = QUICK if quick else FULL
    with running_service(scratch / "ingest") as service:
        return asyncio.run(_measure(service, sizes))


def _row_template(event: dict[str, Any]) -> tuple[Any, ...]:
    """The row the service would store for ``event``, minus its id (``stored_row`` in app/audit/service.py)."""
    timestamp = datetime.fromisoformat(event["event_timestamp"]).astimezone(UTC)
    values = {**event, "event_timestamp": timestamp, "event_date": timestamp.date()}
    values["event_data"] = json.dumps(event["event_data"])  # asyncpg takes jsonb as its text
    return tuple(values.get(column) for column in COLUMNS[1:])


def _with_fresh_ids(templates: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [(uuid.uuid4(), *template) for template in templates]


async def _closed_loop(operation: Callable[[int], Awaitable[None]], concurrency: int, seconds: float) -> None:
    """``concurrency`` workers calling ``operation`` back to back for ``seconds``."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    sequence = iter(range(1 << 62))

    async def worker() -> None:
        while loop.time() < end:
            await operation(next(sequence))

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def _stored_per_second(pool: asyncpg.Pool, window_start: float, duration: float) -> float:
    """Rows the database stored per second in the window starting at ``window_start`` (epoch seconds)."""
    start = datetime.fromtimestamp(window_start, UTC)
    end = datetime.fromtimestamp(window_start + duration, UTC)
    return int(await pool.fetchval(STORED_BETWEEN_SQL, start, end)) / duration


def _post_seconds(service: Service, path: str, body: bytes) -> float:
    """How long one POST takes alone (it also warms the service's path up)."""
    request = urllib.request.Request(
        f"{service.url}{path}", data=body, headers={"content-type": "application/json"}, method="POST"
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()
    return time.perf_counter() - started


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU of process ``pid`` (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _queued_rows(service: Service) -> float:
    """The service's count of audit rows it sent to the dead letter queue instead of the database."""
    with urllib.request.urlopen(f"{service.url}/metrics", timeout=10) as response:
        text = response.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("write_total{") and 'table="audit_events"' in line and 'status="queued"' in line
    )


@dataclass
class _Side:
    """One figure's rounds: the service's numbers, the floor's, and what client and server spent."""

    value: list[float] = field(default_factory=list)
    floor: list[float] = field(default_factory=list)
    client_cpu: list[float] = field(default_factory=list)
    server_cpu: list[float] = field(default_factory=list)
    p50_ms: list[float] = field(default_factory=list)

    def add_service(self, result: LoadResult, stored_per_second: float, server_cpu_percent: float) -> None:
        if result.errors:  # a number measured with failing requests would mislead: fail loudly
            raise RuntimeError(f"{result.errors} non-2xx answers; first: {result.first_error}")
        self.value.append(stored_per_second)
        self.client_cpu.append(result.client_cpu_percent)
        self.server_cpu.append(server_cpu_percent)
        self.p50_ms.append(result.p50_ms)

    def notes(self, description: str, health: str) -> str:
        cpu = f"; server process CPU {statistics.median(self.server_cpu):.0f}% of one core"
        measured = [p50 for p50 in self.p50_ms if not math.isnan(p50)]  # nan: no request fit in the window
        latency = f", request p50 {statistics.median(measured):.0f} ms" if measured else ""
        return description + cpu + latency + health


async def _measure(service: Service, sizes: Sizes) -> list[Figure]:
    now = datetime.now(UTC)
    events = [audit_event(i, now) for i in range(sizes.distinct_events)]
    templates = [_row_template(event) for event in events]
    single_bodies = [json.dumps(event).encode() for event in events]
    batch_bodies = [
        json.dumps(events[start : start + BATCH_SIZE]).encode() for start in range(0, len(events), BATCH_SIZE)
    ]
    batch_templates = [templates[start : start + BATCH_SIZE] for start in range(0, len(templates), BATCH_SIZE)]

    def batch_request(i: int) -> tuple[str, str, bytes | None]:
        return "POST", BATCH_PATH, batch_bodies[i % len(batch_bodies)]

    def single_request(i: int) -> tuple[str, str, bytes | None]:
        return "POST", EVENTS_PATH, single_bodies[i % len(single_bodies)]

    batch, single = _Side(), _Side()
    queued_before = await asyncio.to_thread(_queued_rows, service)
    pool = await asyncpg.create_pool(service.database_url, min_size=SINGLE_CONCURRENCY, max_size=SINGLE_CONCURRENCY)
    try:

        async def copy_one_batch(i: int) -> None:
            records = _with_fresh_ids(batch_templates[i % len(batch_templates)])
            async with pool.acquire() as connection, connection.transaction():
                await connection.copy_records_to_table("audit_events", records=records, columns=COLUMNS)

        async def insert_one_row(i: int) -> None:
            async with pool.acquire() as connection:  # autocommit: one INSERT, one commit
                await connection.execute(INSERT_SQL, uuid.uuid4(), *templates[i % len(templates)])

        async def through_service(side: _Side, make: RequestMaker, concurrency: int, window: Sizes) -> None:
            cpu_before, window_start = _cpu_seconds(service.process.pid), time.time() + window.warmup
            result = await drive(service.url, make, concurrency, window.duration, window.warmup)
            cpu_percent = 100 * (_cpu_seconds(service.process.pid) - cpu_before) / (window.duration + window.warmup)
            side.add_service(result, await _stored_per_second(pool, window_start, window.duration), cpu_percent)

        async def floor(
            side: _Side, operation: Callable[[int], Awaitable[None]], concurrency: int, window: Sizes
        ) -> None:
            window_start = time.time() + window.warmup
            await _closed_loop(operation, concurrency, window.warmup + window.duration)
            side.floor.append(await _stored_per_second(pool, window_start, window.duration))

        # One request alone says how long a batch takes here; the windows must be several times that.
        batch_latency = BATCH_CONCURRENCY * await asyncio.to_thread(_post_seconds, service, BATCH_PATH, batch_bodies[0])
        batch_sizes = Sizes(
            sizes.rounds,
            max(sizes.duration, 5 * batch_latency),
            max(sizes.warmup, 1.5 * batch_latency),
            sizes.distinct_events,
        )
        for round_number in range(sizes.rounds):
            service_first = round_number % 2 == 0
            for run_service in (service_first, not service_first):
                if run_service:
                    await through_service(batch, batch_request, BATCH_CONCURRENCY, batch_sizes)
                else:
                    await floor(batch, copy_one_batch, BATCH_CONCURRENCY, batch_sizes)
            for run_service in (service_first, not service_first):
                if run_service:
                    await through_service(single, single_request, SINGLE_CONCURRENCY, sizes)
                else:
                    await floor(single, insert_one_row, SINGLE_CONCURRENCY, sizes)
    finally:
        await pool.close()
    queued = await asyncio.to_thread(_queued_rows, service) - queued_before
    health = f"; {queued:.0f} rows went to the dead letter queue (202), not counted" if queued else ""
    return [
        Figure(
            name="audit.batch500.rows_per_second",
            group=GROUP,
            unit="rows/s",
            value_rounds=batch.value,
            baseline_name=f"binary COPY (asyncpg), {BATCH_SIZE} rows per COPY",
            baseline_rounds=batch.floor,
            target_op=">=",
            target=0.7,
            client_cpu_percent=statistics.median(batch.client_cpu),
            notes=batch.notes(
                f"{BATCH_SIZE}-event batches, {BATCH_CONCURRENCY} in flight on both sides, rows counted by stored_at "
                f"over {batch_sizes.duration:.0f} s windows; "
                "events cycle through all 27 ADR-034 types; same rows and table, order alternating per round",
                health,
            ),
        ),
        Figure(
            name=f"audit.single.c{SINGLE_CONCURRENCY}.rows_per_second",
            group=GROUP,
            unit="rows/s",
            value_rounds=single.value,
            baseline_name=f"one INSERT + commit per row (asyncpg pool of {SINGLE_CONCURRENCY})",
            baseline_rounds=single.floor,
            target_op=">=",
            target=5.0,
            client_cpu_percent=statistics.median(single.client_cpu),
            notes=single.notes(
                f"one event per request, {SINGLE_CONCURRENCY} concurrent clients; floor: "
                f"{SINGLE_CONCURRENCY} workers, one pooled connection and one commit per row",
                health,
            ),
        ),
    ]
