"""Encoding: text queries, the backfill and start-up, each against the model on its own.

The floors load the model in this process exactly as the service does
(``SentenceEncoder.load(ModelSpec())``: the packaged all-MiniLM-L6-v2, SHA-256 checked, hub off)
and call the same ``encode`` on the same texts:

* text queries: ``POST /api/v1/workflows/search`` with a ``query`` (so the service embeds it)
  at concurrency 1 and 32, in queries per second, against the offline ``encode`` rate of the
  texts the service just embedded. Every query text is distinct (``corpus.incident_text`` with
  an index that only grows), so the service's embedding cache never hits; one more figure
  repeats 64 texts to show what the cache adds.
* backfill: ``workflow-search backfill --json`` (the runbook's command) as a subprocess
  against the service's database, after every workflow's embedding was reset to pending, in
  workflows per second as the command reports them (its own clock: claim, encode, write,
  commit; not the process start nor the model load), against ``encode`` of the same texts
  (``embeddings.text.workflow_text``, the recipe the backfill embeds).
* cold start: process start to ``/health/ready`` (model loaded) on a data dir whose migrations
  are applied, against a fresh process that only imports and loads the model.
* peak RSS of the server after the query load, against the model-only process's peak RSS.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

from benchmarks.common import Figure
from benchmarks.corpus import INCIDENT_TEXTS, incident_text, search_filters, workflow_body
from benchmarks.load import LoadResult, drive
from benchmarks.service import CLI, REPO, Service, running_service
from embeddings.model import ModelSpec, SentenceEncoder
from embeddings.text import workflow_text

SEARCH_PATH = "/api/v1/workflows/search"
CREATE_CONCURRENCY = 16
REPEATED_TEXTS = 64
MIB = 1024 * 1024
RESET_EMBEDDINGS_SQL = """
UPDATE workflows SET embedding = NULL, embedding_model = NULL, embedding_text_hash = NULL, embedded_at = NULL
"""
# What a process needs to hold the model and nothing else: the imports and the load the service does.
MODEL_ONLY = """
from embeddings.model import ModelSpec, SentenceEncoder
SentenceEncoder.load(ModelSpec())
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        print(int(line.split()[1]) * 1024)
"""


@dataclass(frozen=True)
class Sizes:
    rounds: int
    duration: float  # seconds measured per load figure and round
    warmup: float
    workflows: int
    encode_texts: int  # texts in one offline encode round (taken from those the service embedded)
    start_rounds: int


QUICK = Sizes(rounds=2, duration=2.0, warmup=0.5, workflows=200, encode_texts=128, start_rounds=2)
FULL = Sizes(rounds=5, duration=10.0, warmup=1.0, workflows=5000, encode_texts=2048, start_rounds=5)


def figures(quick: bool, scratch: Path) -> list[Figure]:
    sizes = QUICK if quick else FULL
    data_dir = scratch / "encoding"
    encoder = SentenceEncoder.load(ModelSpec())
    encoder.encode([incident_text(0)])  # the first call pays one-off set-up; no round should
    with running_service(data_dir) as service:
        ready_rounds = [service.ready_after_seconds]
        loaded = asyncio.run(_measure_loaded(service, encoder, sizes))
        peak_rss = service.peak_rss_bytes()
    model_load_rounds, model_rss = [], []
    for _ in range(sizes.start_rounds):
        seconds, rss = _model_only_process()
        model_load_rounds.append(seconds)
        model_rss.append(rss)
    for _ in range(sizes.start_rounds - 1):  # the module's first start was the first round
        with running_service(data_dir) as again:
            ready_rounds.append(again.ready_after_seconds)
    return [
        *loaded,
        Figure(
            name="startup.ready_seconds",
            group="start-up and memory",
            unit="s",
            value_rounds=ready_rounds,
            baseline_name="model load alone (fresh process: imports + SentenceEncoder.load)",
            baseline_rounds=model_load_rounds,
            target_op="<=",
            target=1.5,
            notes="serve process start to /health/ready 200 (model loaded); PostgreSQL already running and "
            "migrated (the harness starts and migrates it first); round 1 is a fresh data dir, then restarts",
        ),
        Figure(
            name="memory.server_peak_rss_mib",
            group="start-up and memory",
            unit="MiB",
            value_rounds=[peak_rss / MIB],
            baseline_name="model-only process peak RSS",
            baseline_rounds=[rss / MIB for rss in model_rss],
            notes="server VmHWM after workflow creation, the text query figures and the backfill rounds "
            "(the backfill runs in its own process); one sample",
        ),
    ]


def _model_only_process() -> tuple[float, int]:
    """Seconds from process start to the model loaded, and that process's peak RSS."""
    env = os.environ | {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", MODEL_ONLY], env=env, cwd=REPO, capture_output=True, text=True, check=True, timeout=300
    )
    return time.monotonic() - started, int(done.stdout.split()[-1])


async def _create_workflows(service: Service, count: int) -> None:
    semaphore = asyncio.Semaphore(CREATE_CONCURRENCY)
    async with httpx.AsyncClient(base_url=service.url, timeout=60) as client:

        async def create(index: int) -> None:
            async with semaphore:
                response = await client.post("/api/v1/workflows", json=workflow_body(index))
            if response.status_code != 201:
                raise RuntimeError(f"creating workflow {index}: {response.status_code} {response.text[:300]}")

        await asyncio.gather(*(create(index) for index in range(count)))


def _metrics(service: Service) -> dict[str, float]:
    """The service's unlabelled embedding metrics (name -> value)."""
    with urllib.request.urlopen(f"{service.url}/metrics", timeout=10) as response:
        lines = response.read().decode().splitlines()
    wanted = ("embedding_batch_size_sum", "embedding_batch_size_count", "embedding_cache_hits_total")
    return {name: float(line.split()[-1]) for line in lines for name in wanted if line.startswith(name + " ")}


@dataclass
class _Rounds:
    """One load figure's rounds, and the evidence its notes give."""

    value: list[float] = field(default_factory=list)
    client_cpu: list[float] = field(default_factory=list)
    p50_ms: list[float] = field(default_factory=list)
    texts_per_encode: list[float] = field(default_factory=list)  # the service's micro-batch sizes

    def add(self, result: LoadResult) -> None:
        if result.errors:  # a number measured with failing requests would mislead: fail loudly
            raise RuntimeError(f"{result.errors} non-2xx answers; first: {result.first_error}")
        self.value.append(result.throughput)
        self.client_cpu.append(result.client_cpu_percent)
        self.p50_ms.append(result.p50_ms)

    def notes(self, description: str) -> str:
        text = f"{description}; p50 {statistics.median(self.p50_ms):.1f} ms"
        if self.texts_per_encode:
            text += f"; {statistics.median(self.texts_per_encode):.1f} texts per service encode call"
        return text


async def _measure_loaded(service: Service, encoder: SentenceEncoder, sizes: Sizes) -> list[Figure]:
    created = time.monotonic()
    await _create_workflows(service, sizes.workflows)
    create_seconds = time.monotonic() - created
    # Distinct texts from an index that only grows, across rounds and concurrencies; the start
    # is arbitrary, away from the texts the workflow descriptions use most.
    next_text: Iterator[int] = itertools.count(INCIDENT_TEXTS // 3)

    def distinct_query(_: int) -> tuple[str, str, bytes | None]:
        index = next(next_text) % INCIDENT_TEXTS
        body = {"query": incident_text(index), "filters": search_filters(index), "top_k": 10}
        return "POST", SEARCH_PATH, json.dumps(body).encode()

    def repeated_query(i: int) -> tuple[str, str, bytes | None]:
        index = i % REPEATED_TEXTS
        body = {"query": incident_text(index), "filters": search_filters(index), "top_k": 10}
        return "POST", SEARCH_PATH, json.dumps(body).encode()

    c1, c32, cached = _Rounds(), _Rounds(), _Rounds()
    encode_rounds: list[float] = []
    for _ in range(sizes.rounds):
        # The floor first: the texts this round's queries will carry, encoded offline in one call.
        first_text = next(next_text)
        texts = [incident_text(i % INCIDENT_TEXTS) for i in range(first_text, first_text + sizes.encode_texts)]
        rate = len(texts) / _timed_encode(encoder, texts)
        encode_rounds.append(rate)
        next_text = itertools.count(first_text)  # the service is sent these very texts, then new ones
        duration, warmup = _window(sizes, 1 / rate)
        c1.add(await drive(service.url, distinct_query, 1, duration, warmup))
        before = await asyncio.to_thread(_metrics, service)
        duration, warmup = _window(sizes, 32 / rate)  # a query waits for a batch of up to 32 texts
        c32.add(await drive(service.url, distinct_query, 32, duration, warmup))
        after = await asyncio.to_thread(_metrics, service)
        if calls := after["embedding_batch_size_count"] - before["embedding_batch_size_count"]:
            texts_encoded = after["embedding_batch_size_sum"] - before["embedding_batch_size_sum"]
            c32.texts_per_encode.append(texts_encoded / calls)
        cached.add(await drive(service.url, repeated_query, 32, duration, warmup))
    backfill_rounds, raw_rounds, backfill_wall = await _backfill_rounds(service, encoder, sizes)
    offline = f"offline encode (batch_size 64) of {sizes.encode_texts} of the same texts"
    return [
        Figure(
            name="semantic.text_query.c1.queries_per_second",
            group="semantic search (text queries, distinct texts)",
            unit="req/s",
            value_rounds=c1.value,
            baseline_name=offline,
            baseline_rounds=encode_rounds,
            client_cpu_percent=statistics.median(c1.client_cpu),
            notes=c1.notes(f"one client, every query text distinct (cache misses); catalog {sizes.workflows}"),
        ),
        Figure(
            name="semantic.text_query.c32.queries_per_second",
            group="semantic search (text queries, distinct texts)",
            unit="req/s",
            value_rounds=c32.value,
            baseline_name=offline,
            baseline_rounds=encode_rounds,
            target_op=">=",
            target=0.8,
            client_cpu_percent=statistics.median(c32.client_cpu),
            notes=c32.notes(f"32 clients, every query text distinct (cache misses); catalog {sizes.workflows}"),
        ),
        Figure(
            name="semantic.text_query.c32_repeated.queries_per_second",
            group="semantic search (text queries, distinct texts)",
            unit="req/s",
            value_rounds=cached.value,
            baseline_name=offline,
            baseline_rounds=encode_rounds,
            client_cpu_percent=statistics.median(cached.client_cpu),
            notes=cached.notes(f"32 clients cycling {REPEATED_TEXTS} texts: the embedding cache answers"),
        ),
        Figure(
            name="backfill.workflows_per_second",
            group="backfill",
            unit="workflows/s",
            value_rounds=backfill_rounds,
            baseline_name="raw encode of the same workflow texts (batch_size 64)",
            baseline_rounds=raw_rounds,
            target_op=">=",
            target=0.9,
            notes=f"workflow-search backfill --json over {sizes.workflows} pending workflows, rate from its own "
            "report (a fresh process: its first batch pays the model's one-off warm-up, the raw encode's does "
            f"not); its process took {statistics.median(backfill_wall):.1f} s end to end (imports, model load); "
            f"creating them over HTTP (embedded at creation, {CREATE_CONCURRENCY} clients) took {create_seconds:.1f} s",
        ),
    ]


def _window(sizes: Sizes, expected_latency: float) -> tuple[float, float]:
    """Measured seconds and warm-up, long enough that a request is short beside them.

    The load driver counts a request only if it starts and ends inside the window; on a busy
    machine a text query at concurrency 32 can take seconds, which a fixed short window
    would count as no throughput at all.
    """
    return max(sizes.duration, 10 * expected_latency), max(sizes.warmup, 2 * expected_latency)


def _timed_encode(encoder: SentenceEncoder, texts: list[str]) -> float:
    started = time.perf_counter()
    vectors = encoder.encode(texts)
    seconds = time.perf_counter() - started
    if vectors.shape != (len(texts), encoder.dimension) or not np.isfinite(vectors).all():
        raise RuntimeError(f"encode returned {vectors.shape}")
    return seconds


async def _backfill_rounds(
    service: Service, encoder: SentenceEncoder, sizes: Sizes
) -> tuple[list[float], list[float], list[float]]:
    """The backfill command against raw encode, alternating, every workflow pending before each run."""
    import asyncpg  # noqa: PLC0415 - only the backfill touches the database

    texts = [
        workflow_text(b["name"], b["description"], b["labels"]) for b in map(workflow_body, range(sizes.workflows))
    ]
    backfill, raw, wall = [], [], []
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "WORKFLOW_SEARCH_DATA_DIR")}
    env |= {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    connection = await asyncpg.connect(service.database_url)
    try:
        for _ in range(sizes.rounds):
            raw.append(len(texts) / await asyncio.to_thread(_timed_encode, encoder, texts))
            reset = await connection.execute(RESET_EMBEDDINGS_SQL)
            if reset != f"UPDATE {sizes.workflows}":
                raise RuntimeError(f"expected {sizes.workflows} workflows, reset: {reset}")
            started = time.monotonic()
            done = await asyncio.to_thread(
                subprocess.run,
                [str(CLI), "backfill", "--json", "--data-dir", str(service.data_dir)],
                env=env,
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=1800,
            )
            wall.append(time.monotonic() - started)
            if done.returncode != 0:
                raise RuntimeError(f"backfill failed ({done.returncode}): {done.stderr[-2000:]}")
            report = json.loads(done.stdout.strip().splitlines()[-1])
            if report["embedded"] != sizes.workflows or report["remaining"] != 0:
                raise RuntimeError(f"backfill embedded {report['embedded']}, left {report['remaining']}")
            backfill.append(report["embedded"] / report["seconds"])
    finally:
        await connection.close()
    return backfill, raw, wall
