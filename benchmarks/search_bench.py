"""Search figures: label search against its SQL floor and the lean path, filtered semantic search
against the lean path, the naive query and Chroma (with recall@10 against brute force),
``/health/live`` against a bare route, and p99 growth with catalog size.

One service, one database, grown from size to size (the catalog's rows are a prefix of the
next size's). At each size every system answers the same requests, in alternating rounds, so
that the noise of a shared machine falls on all of them alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from benchmarks import catalog
from benchmarks.catalog import ExactIndex, Rows, Search
from benchmarks.common import Figure
from benchmarks.load import LoadResult, drive, drive_calls
from benchmarks.service import free_port, running_lean_app, running_service
from embeddings.model import DEFAULT_MODEL_ID
from search.labels import MANDATORY_LABELS, WILDCARD, WILDCARD_LABELS, DetectedLabels, label_values
from search.query import SearchQuery
from search.sql import LABEL_SEARCH, SEMANTIC_SEARCH, label_search_parameters, semantic_search_parameters

SEARCH_PATH = "/api/v1/workflows/search"
LEAN_SEARCH_PATH = "/search"
# Targets of issue #16: each search figure against the lean path, /health/live against a bare route.
LEAN_TARGET = 0.8
BARE_TARGET = 0.7


@dataclass(frozen=True)
class Plan:
    sizes: tuple[int, ...]  # catalog sizes the database grows through
    compare_sizes: tuple[int, ...]  # sizes with label floors, naive query, Chroma and recall
    concurrencies: tuple[int, ...]
    semantic_concurrency: int
    growth_concurrency: int
    rounds: int
    seconds: float
    warmup: float
    searches: int  # distinct requests, cycled through
    recall_searches: int

    @staticmethod
    def for_run(quick: bool) -> Plan:
        if quick:
            return Plan((1_000, 2_000), (2_000,), (1, 8, 32), 8, 1, 2, 1.0, 0.5, 200, 30)
        return Plan((10_000, 100_000, 1_000_000), (10_000, 100_000), (1, 8, 32), 8, 1, 3, 5.0, 1.0, 1000, 100)


def size_name(size: int) -> str:
    return f"{size // 1_000_000}M" if size >= 1_000_000 else f"{size // 1_000}k"


# Targets of issue #7, by catalog size; a quick run's small catalogs take the 10k ones.
def _naive_target(size: int) -> float:
    return 1.0 if size >= 100_000 else 0.5


def _chroma_target(size: int) -> float | None:
    return 40.0 if size >= 100_000 else None


# ---------------------------------------------------------------- the label search floor


def search_query(search: Search, *, with_vector: bool = False) -> SearchQuery:
    """The request as the service builds it: labels, detected and custom labels, the vector."""
    return SearchQuery(
        labels=search.labels,
        detected_labels=DetectedLabels(
            git_ops_managed=search.detected.get("gitOpsManaged"),
            git_ops_tool=search.detected.get("gitOpsTool"),
            pdb_protected=search.detected.get("pdbProtected"),
            hpa_enabled=search.detected.get("hpaEnabled"),
            stateful=search.detected.get("stateful"),
            helm_managed=search.detected.get("helmManaged"),
            service_mesh=search.detected.get("serviceMesh"),
        )
        if search.detected
        else None,
        custom_labels=search.custom,
        embedding=catalog.vector_list(search.vector) if with_vector else None,
    )


def floor_arguments(search: Search) -> list[Any]:
    parameters = label_search_parameters(search_query(search))
    return LABEL_SEARCH.arguments(parameters)


def semantic_floor_arguments(search: Search) -> list[Any]:
    """The semantic statement's parameters as the semantic request sends them (no boosts); the
    vector bound in pgvector's binary form (the floor's pool has its codec)."""
    unboosted = Search(search.labels, {}, {}, search.vector)
    parameters = semantic_search_parameters(search_query(unboosted, with_vector=True), DEFAULT_MODEL_ID)
    parameters["embedding"] = search.vector
    return SEMANTIC_SEARCH.arguments(parameters)


# ---------------------------------------------------------------- Chroma, the peer


def chroma_metadata(labels: dict[str, catalog.LabelValue], searchable: bool) -> dict[str, bool]:
    """Chroma metadata holds scalars only: one flag per (label, value), ``*`` as its own flag."""
    flags = {f"{label}:{value.lower()}": True for label in MANDATORY_LABELS for value in label_values(labels[label])}
    return flags | {"searchable": searchable}


def chroma_where(search: Search) -> dict[str, Any]:
    """search.md's candidate rules as a Chroma filter: a value or ``*`` per label, as ``$or``."""
    conditions: list[dict[str, Any]] = [{"searchable": True}]
    for label in MANDATORY_LABELS:
        exact = {f"{label}:{search.labels[label].lower()}": True}
        conditions.append({"$or": [exact, {f"{label}:{WILDCARD}": True}]} if label in WILDCARD_LABELS else exact)
    return {"$and": conditions}


class Chroma:
    """``chroma run`` on loopback, in its own process, with one cosine collection."""

    def __init__(self, path: Path) -> None:
        import chromadb  # noqa: PLC0415 - the bench extra; only this figure needs it

        self.port = free_port()
        path.mkdir(parents=True, exist_ok=True)
        self.log = (path / "chroma.log").open("ab")
        environment = os.environ | {"ANONYMIZED_TELEMETRY": "False"}
        command = [str(Path(sys.executable).parent / "chroma"), "run", "--path", str(path)]
        self.process = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=environment,
        )
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=1).close()
                break
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"chroma run did not start; see {path / 'chroma.log'}")
            time.sleep(0.2)
        settings = chromadb.config.Settings(anonymized_telemetry=False)
        self.client = chromadb.HttpClient(host="127.0.0.1", port=self.port, settings=settings)
        self.collection = self.client.create_collection(
            "workflows", configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
        )
        self.query_path = (
            f"/api/v2/tenants/default_tenant/databases/default_database/collections/{self.collection.id}/query"
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add(self, part: Rows) -> float:
        started = time.perf_counter()
        batch = min(5_000, self.client.get_max_batch_size())
        searchable = part.searchable
        for low in range(0, len(part), batch):
            high = min(low + batch, len(part))
            self.collection.add(
                ids=[str(i) for i in part.ids[low:high]],
                embeddings=part.vectors[low:high],
                metadatas=[chroma_metadata(part.labels[i], bool(searchable[i])) for i in range(low, high)],  # type: ignore[misc, unused-ignore]  # chromadb's Metadata types; unused without the bench extra
            )
        return time.perf_counter() - started

    def body(self, search: Search) -> bytes:
        query = {
            "query_embeddings": [catalog.vector_list(search.vector)],
            "n_results": 10,
            "where": chroma_where(search),
            "include": ["distances"],
        }
        return json.dumps(query, separators=(",", ":")).encode()

    def ids(self, search: Search) -> list[uuid.UUID]:
        request = urllib.request.Request(
            self.url + self.query_path, self.body(search), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return [uuid.UUID(i) for i in json.loads(response.read())["ids"][0]]

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


@contextlib.contextmanager
def chroma_server(path: Path) -> Iterator[Chroma | None]:
    """Chroma when the bench extra is installed; None (the figures say so) when it is not."""
    try:
        import chromadb  # noqa: F401, PLC0415
    except ImportError:
        yield None
        return
    chroma = Chroma(path)
    try:
        yield chroma
    finally:
        chroma.close()


# ---------------------------------------------------------------- measuring


def _post(url: str, body: bytes) -> dict[str, Any]:
    request = urllib.request.Request(url + SEARCH_PATH, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        result: dict[str, Any] = json.loads(response.read())
        return result


def _check(result: LoadResult, what: str) -> LoadResult:
    if result.errors:
        raise RuntimeError(f"{what}: {result.errors} errors of {result.requests}; first: {result.first_error}")
    return result


class Bench:
    def __init__(self, plan: Plan, url: str, lean_url: str, pool: asyncpg.Pool, chroma: Chroma | None) -> None:
        self.plan = plan
        self.url = url
        self.lean_url = lean_url
        self.pool = pool
        self.chroma = chroma
        self.searches = catalog.searches(plan.searches)
        self.label_bodies = [s.encoded(with_vector=False) for s in self.searches]
        self.semantic_bodies = [s.encoded(with_vector=True, boosted=False) for s in self.searches]
        self.hybrid_bodies = [json.dumps(_hybrid(s), separators=(",", ":")).encode() for s in self.searches]
        self.floor_arguments = [floor_arguments(s) for s in self.searches]
        self.semantic_floor_arguments = [semantic_floor_arguments(s) for s in self.searches]
        self.naive_arguments = [catalog.naive_parameters(s) for s in self.searches]
        self.chroma_bodies = [chroma.body(s) for s in self.searches] if chroma else []

    async def service(self, bodies: list[bytes], concurrency: int, what: str) -> LoadResult:
        return await self.http(self.url, SEARCH_PATH, bodies, concurrency, what)

    async def lean(self, bodies: list[bytes], concurrency: int, what: str) -> LoadResult:
        return await self.http(self.lean_url, LEAN_SEARCH_PATH, bodies, concurrency, f"lean {what}")

    async def http(self, url: str, path: str, bodies: list[bytes] | None, concurrency: int, what: str) -> LoadResult:
        """``POST path`` cycling through ``bodies``, or ``GET path`` without them."""

        def request(i: int) -> tuple[str, str, bytes | None]:
            return ("POST", path, bodies[i % len(bodies)]) if bodies else ("GET", path, None)

        result = await drive(url, request, concurrency, self.plan.seconds, self.plan.warmup)
        return _check(result, what)

    async def sql_floor(self, sql: str, arguments: list[list[Any]], concurrency: int, what: str) -> LoadResult:
        async def call(i: int) -> None:
            async with self.pool.acquire() as connection:
                await connection.fetch(sql, *arguments[i % len(arguments)])

        return _check(await drive_calls(call, concurrency, self.plan.seconds, self.plan.warmup), what)

    async def label_floor(self, concurrency: int) -> LoadResult:
        return await self.sql_floor(LABEL_SEARCH.sql, self.floor_arguments, concurrency, "label floor")

    async def semantic_floor(self, concurrency: int) -> LoadResult:
        return await self.sql_floor(SEMANTIC_SEARCH.sql, self.semantic_floor_arguments, concurrency, "semantic floor")

    async def naive(self, concurrency: int) -> LoadResult:
        async def call(i: int) -> None:
            async with self.pool.acquire() as connection:
                await connection.fetch(catalog.NAIVE_SEARCH_SQL, *self.naive_arguments[i % len(self.naive_arguments)])

        return _check(await drive_calls(call, concurrency, self.plan.seconds, self.plan.warmup), "naive query")

    async def chroma_load(self, concurrency: int) -> LoadResult:
        assert self.chroma is not None
        path, bodies = self.chroma.query_path, self.chroma_bodies

        def request(i: int) -> tuple[str, str, bytes | None]:
            return "POST", path, bodies[i % len(bodies)]

        result = await drive(self.chroma.url, request, concurrency, self.plan.seconds, self.plan.warmup)
        return _check(result, "chroma")


def _hybrid(search: Search) -> dict[str, Any]:
    """A hybrid request: the vector plus detected labels that boost (some set on every request)."""
    body = search.body(with_vector=True)
    body["filters"].setdefault("detected_labels", {"gitOpsManaged": True, "gitOpsTool": "argocd"})
    return body


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _throughputs(results: list[LoadResult]) -> list[float]:
    return [r.throughput for r in results]


def _latency_note(name: str, results: list[LoadResult]) -> str:
    p50, p99 = _median([r.p50_ms for r in results]), _median([r.p99_ms for r in results])
    return f"{name} p50 {p50:.2f} ms, p99 {p99:.2f} ms"


def lean_figures(
    key: str,
    group: str,
    runs: tuple[list[LoadResult], list[LoadResult], list[LoadResult]],
    note: str,
    *,
    bounded: bool,
) -> list[Figure]:
    """The service against the lean path (``runs``: service, lean, floor), and the lean path
    itself against the SQL floor. ``bounded``: the figure has issue #16's target."""
    service, lean, floor = runs
    return [
        Figure(
            f"{key}.vs_lean.throughput", group, "req/s", _throughputs(service), "lean path (benchmarks/lean_app.py)",
            _throughputs(lean), ">=" if bounded else None, LEAN_TARGET if bounded else None,
            _median([r.client_cpu_percent for r in service]),
            f"{note}; {_latency_note('service', service)}; {_latency_note('lean', lean)}",
        ),
        Figure(
            f"{key}.lean_vs_floor.throughput", group, "req/s", _throughputs(lean), "SQL floor (asyncpg)",
            _throughputs(floor), None, None, _median([r.client_cpu_percent for r in lean]),
            f"{note}; the lean path, not the service: what a Python HTTP path reaches of the SQL; "
            f"{_latency_note('floor', floor)}",
        ),
    ]  # fmt: skip


async def label_figures(bench: Bench, size: int) -> list[Figure]:
    figures: list[Figure] = []
    group = f"label search ({size_name(size)})"
    for concurrency in bench.plan.concurrencies:
        service: list[LoadResult] = []
        lean: list[LoadResult] = []
        floor: list[LoadResult] = []
        for _ in range(bench.plan.rounds):
            service.append(await bench.service(bench.label_bodies, concurrency, "label search"))
            lean.append(await bench.lean(bench.label_bodies, concurrency, "label search"))
            floor.append(await bench.label_floor(concurrency))
        key = f"label_search.{size_name(size)}.c{concurrency}"
        cpu = _median([r.client_cpu_percent for r in service])
        figures += [
            Figure(
                f"{key}.throughput", group, "req/s", _throughputs(service), "SQL floor (asyncpg)",
                _throughputs(floor), ">=", 0.5, cpu,
                f"concurrency {concurrency}; {_latency_note('service', service)}; {_latency_note('floor', floor)}",
            ),
            # Issue #16 bounds c1 and c8; c32 informs (its tail has a target of its own).
            *lean_figures(key, group, (service, lean, floor), f"concurrency {concurrency}", bounded=concurrency <= 8),
            Figure(
                f"{key}.p99", group, "ms", [r.p99_ms for r in service], "service p50", [r.p50_ms for r in service],
                "<=", 4.0, cpu, f"concurrency {concurrency}: the tail against the median",
            ),
        ]  # fmt: skip
    return figures


async def semantic_figures(bench: Bench, size: int, exact: ExactIndex) -> list[Figure]:
    group = f"semantic search ({size_name(size)})"
    concurrency = bench.plan.semantic_concurrency
    service: list[LoadResult] = []
    lean: list[LoadResult] = []
    floor: list[LoadResult] = []
    naive: list[LoadResult] = []
    chroma: list[LoadResult] = []
    for _ in range(bench.plan.rounds):
        service.append(await bench.service(bench.semantic_bodies, concurrency, "semantic search"))
        lean.append(await bench.lean(bench.semantic_bodies, concurrency, "semantic search"))
        floor.append(await bench.semantic_floor(concurrency))
        naive.append(await bench.naive(concurrency))
        if bench.chroma is not None:
            chroma.append(await bench.chroma_load(concurrency))
    key = f"semantic.{size_name(size)}"
    cpu = _median([r.client_cpu_percent for r in service])
    note = f"concurrency {concurrency}, k=10, precomputed 384-d query vectors"
    figures = [
        Figure(
            f"{key}.vs_floor.throughput", group, "req/s", _throughputs(service), "SQL floor (asyncpg)",
            _throughputs(floor), None, None, cpu,
            f"{note}; the service's own semantic statement through asyncpg; {_latency_note('floor', floor)}",
        ),
        *lean_figures(key, group, (service, lean, floor), note, bounded=size < 100_000),  # issue #16: 10k
        Figure(
            f"{key}.vs_naive.throughput", group, "req/s", _throughputs(service), "naive query (asyncpg)",
            _throughputs(naive), ">=", _naive_target(size), cpu,
            f"{note}; service p99 {_median([r.p99_ms for r in service]):.2f} ms, "
            f"naive p99 {_median([r.p99_ms for r in naive]):.2f} ms",
        ),
    ]  # fmt: skip
    if chroma:
        figures.append(
            Figure(
                f"{key}.vs_chroma.throughput", group, "req/s", _throughputs(service), "Chroma (chroma run)",
                _throughputs(chroma), ">=", _chroma_target(size), cpu,
                f"{note}; Chroma p99 {_median([r.p99_ms for r in chroma]):.2f} ms, "
                f"client CPU while driving Chroma {_median([r.client_cpu_percent for r in chroma]):.0f}%",
            )
        )  # fmt: skip
    figures += await recall_figures(bench, size, exact, group)
    return figures


async def bare_figures(bench: Bench) -> list[Figure]:
    """``GET /health/live`` of the service against the lean app's ``GET /bare``, same rounds."""
    concurrency = 8
    live: list[LoadResult] = []
    bare: list[LoadResult] = []
    for _ in range(bench.plan.rounds):
        live.append(await bench.http(bench.url, "/health/live", None, concurrency, "/health/live"))
        bare.append(await bench.http(bench.lean_url, "/bare", None, concurrency, "lean /bare"))
    return [
        Figure(
            f"health_live.c{concurrency}.vs_bare.throughput", "bare route", "req/s", _throughputs(live),
            "bare Litestar route (lean app)", _throughputs(bare), ">=", BARE_TARGET,
            _median([r.client_cpu_percent for r in live]),
            f"concurrency {concurrency}; {_latency_note('/health/live', live)}; {_latency_note('/bare', bare)}",
        )
    ]  # fmt: skip


async def recall_figures(bench: Bench, size: int, exact: ExactIndex, group: str) -> list[Figure]:
    """Mean recall@10 over searches that have candidates; exact = brute force over the filtered set."""
    systems: dict[str, list[float]] = {"service": [], "naive": [], "chroma": []}
    for search, body in list(zip(bench.searches, bench.semantic_bodies, strict=True))[: bench.plan.recall_searches]:
        answer = await asyncio.to_thread(_post, bench.url, body)
        found = {"service": [uuid.UUID(w["workflow_id"]) for w in answer["workflows"]]}
        rows = await bench.pool.fetch(catalog.NAIVE_SEARCH_SQL, *catalog.naive_parameters(search))
        found["naive"] = [row["id"] for row in rows]
        if bench.chroma is not None:
            found["chroma"] = await asyncio.to_thread(bench.chroma.ids, search)
        for system, ids in found.items():
            recall = exact.recall(search, ids)
            if recall is not None:
                systems[system].append(recall)
    figures: list[Figure] = []
    for system, name in (("service", "service"), ("naive", "naive query"), ("chroma", "Chroma")):
        recalls = systems[system]
        if not recalls:
            continue
        figures.append(
            Figure(
                f"semantic.{size_name(size)}.recall_at_10.{system}", group, "recall", [sum(recalls) / len(recalls)],
                "exact (numpy brute force)", [1.0], ">=" if system == "service" else None,
                1.0 if system == "service" else None, None,
                f"{name}: mean over {len(recalls)} searches with candidates; ties with the 10th best count as right",
            )
        )  # fmt: skip
    return figures


async def growth_p99(bench: Bench) -> dict[str, list[float]]:
    """p99 per round of label and hybrid search at the current catalog size."""
    p99: dict[str, list[float]] = {"label": [], "hybrid": []}
    for _ in range(bench.plan.rounds):
        for mode, bodies in (("label", bench.label_bodies), ("hybrid", bench.hybrid_bodies)):
            result = await bench.service(bodies, bench.plan.growth_concurrency, f"{mode} search")
            p99[mode].append(result.p99_ms)
    return p99


def growth_figures(plan: Plan, p99: dict[int, dict[str, list[float]]]) -> list[Figure]:
    figures: list[Figure] = []
    sizes = sorted(p99)
    for smaller, larger in itertools.pairwise(sizes):
        # The target bounds the last tenfold step of a full run (100k -> 1M); the others inform.
        bounded = larger == plan.sizes[-1] and larger >= 1_000_000
        for mode in ("label", "hybrid"):
            figures.append(
                Figure(
                    f"growth.{mode}.{size_name(smaller)}_to_{size_name(larger)}.p99", "p99 growth", "ms",
                    p99[larger][mode], f"p99 at {size_name(smaller)}", p99[smaller][mode],
                    "<=" if bounded else None, 5.0 if bounded else None, None,
                    f"{mode} search, concurrency {plan.growth_concurrency}: p99 at {size_name(larger)} "
                    f"over p99 at {size_name(smaller)}",
                )
            )  # fmt: skip
    return figures


# ---------------------------------------------------------------- the run


def figures(quick: bool, scratch: Path) -> list[Figure]:
    return asyncio.run(_figures(Plan.for_run(quick), scratch))


async def _figures(plan: Plan, scratch: Path) -> list[Figure]:
    made: list[Figure] = []
    p99: dict[int, dict[str, list[float]]] = {}
    exact = ExactIndex()
    compare_limit = max(plan.compare_sizes)
    with (
        running_service(scratch / "search-service") as service,
        running_lean_app(service.database_url, scratch / "lean-app.log") as lean,
        chroma_server(scratch / "chroma") as chroma,
    ):
        pool = await catalog.vector_pool(service.database_url, size=10)  # the service's pool size
        try:
            bench = Bench(plan, service.url, lean.url, pool, chroma)
            made += await bare_figures(bench)
            loaded = 0
            for size in plan.sizes:
                await _grow(service.database_url, loaded, size, compare_limit, exact, chroma)
                loaded = size
                if size in plan.compare_sizes:
                    made += await label_figures(bench, size)
                    made += await semantic_figures(bench, size, exact)
                p99[size] = await growth_p99(bench)
                print(f"  search figures at {size_name(size)} done", flush=True)
        finally:
            await pool.close()
    return made + growth_figures(plan, p99)


async def _grow(
    database_url: str, loaded: int, size: int, compare_limit: int, exact: ExactIndex, chroma: Chroma | None
) -> None:
    """Add catalog rows ``[loaded, size)`` to the service, and to the peers up to the compared sizes."""
    started = time.perf_counter()

    async def feed_peers(part: Rows) -> None:
        if part.start < compare_limit:
            await catalog.store_naive_rows(database_url, part)
            exact.add(part)
            if chroma is not None:
                await asyncio.to_thread(chroma.add, part)

    parts = catalog.chunks(loaded, size, size=50_000)
    await catalog.store_rows(database_url, parts, rebuild_indexes=size - loaded > 50_000, on_part=feed_peers)
    print(f"  catalog at {size_name(size)} ({time.perf_counter() - started:.0f} s to load)", flush=True)
