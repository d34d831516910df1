"""A deterministic synthetic catalog, its query vectors and searches, and the loaders that store it.

Row ``i`` of the catalog depends only on the seed and on ``i // CHUNK``, so a catalog of 10k
rows is exactly the first 10k rows of the 100k one and of the 1M one: a benchmark grows one
database from size to size instead of loading each from scratch.

Label shapes follow a real catalog: a Zipf-like spread of signal types (a few very common,
a long tail), 5-15% ``*`` on the four wildcard-able labels, some list-valued labels, some
older versions, a few non-active rows, and detected and custom labels on a share of them.
Vectors are synthetic unit vectors clustered by signal type and component, so that a
label-filtered nearest-neighbour search has structure, like text embeddings do, without
needing the model to make 1M of them.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import numpy as np
import numpy.typing as npt
from pgvector.asyncpg import register_vector

from embeddings.model import DEFAULT_MODEL_ID
from embeddings.text import text_sha256, workflow_text
from search.labels import (
    MANDATORY_LABELS,
    PRIORITIES,
    SEVERITIES,
    WILDCARD,
    WILDCARD_LABELS,
    label_values,
    scoped_token,
    workflow_label_tokens,
    workflow_search_tokens,
)

SEED = 20261122
CHUNK = 10_000
DIMENSION = 384
Vectors = npt.NDArray[np.float32]
LabelValue = str | list[str]

SIGNAL_TYPES = (
    "OOMKilled", "CrashLoopBackOff", "ImagePullBackOff", "HighMemoryUsage", "HighCPUUsage", "PodPending",
    "NodeNotReady", "DiskPressure", "MemoryPressure", "PIDPressure", "ContainerCreating", "Evicted",
    "FailedScheduling", "FailedMount", "HPAMaxedOut", "DeploymentReplicasMismatch", "StatefulSetReplicasMismatch",
    "DaemonSetMisscheduled", "JobFailed", "CronJobMissed", "PVCPending", "PersistentVolumeFull",
    "CertificateExpiring", "EndpointDown", "HighLatency", "HighErrorRate", "TargetDown", "KubeletDown",
    "APIServerLatency", "EtcdHighFsyncDuration", "EtcdNoLeader", "CoreDNSErrors", "IngressFivexx",
    "NetworkPolicyDenied", "ServiceMeshCircuitOpen", "ConfigMapMissing", "SecretMissing", "QuotaExceeded",
    "NodeClockSkew", "KernelDeadlock", "ReadOnlyFilesystem", "ProbeFailed", "LivenessProbeFailed",
    "ReadinessProbeFailed", "ImageVulnerability", "BackupFailed", "ReplicationLag", "ConnectionPoolExhausted",
)  # fmt: skip
COMPONENTS = (
    "pod", "deployment", "statefulset", "daemonset", "node", "service", "ingress", "pvc", "job", "cronjob",
    "configmap", "hpa", "namespace", "replicaset", "container", "etcd", "apiserver", "kubelet", "coredns", "database",
)  # fmt: skip
ENVIRONMENTS = ("production", "staging", "development", "qa")
STATUS_CHOICES = ("active", "disabled", "deprecated", "archived")


def _zipf(count: int, exponent: float) -> npt.NDArray[np.float64]:
    weights = 1.0 / np.arange(1, count + 1) ** exponent
    return np.asarray(weights / weights.sum())


# value, its probability, share of "*", share of two-value lists
_SPREADS: dict[str, tuple[tuple[str, ...], npt.NDArray[np.float64], float, float]] = {
    "signal_type": (SIGNAL_TYPES, _zipf(len(SIGNAL_TYPES), 0.9), 0.0, 0.04),
    "severity": (SEVERITIES, np.array([0.2, 0.3, 0.3, 0.2]), 0.10, 0.12),
    "component": (COMPONENTS, _zipf(len(COMPONENTS), 1.0), 0.12, 0.08),
    "environment": (ENVIRONMENTS, np.array([0.4, 0.3, 0.2, 0.1]), 0.08, 0.15),
    "priority": (PRIORITIES, np.array([0.1, 0.3, 0.4, 0.2]), 0.06, 0.10),
}


@dataclass
class Rows:
    """A slice of the catalog, column by column."""

    start: int
    ids: list[uuid.UUID]
    workflow_names: list[str]
    versions: list[str]
    labels: list[dict[str, LabelValue]]
    detected: list[dict[str, Any]]
    custom: list[dict[str, list[str]]]
    statuses: list[str]
    latest: npt.NDArray[np.bool_]
    created_at: list[datetime]
    vectors: Vectors

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def searchable(self) -> npt.NDArray[np.bool_]:
        """Rows a default search may return: the latest version, active."""
        searchable: npt.NDArray[np.bool_] = self.latest & (np.asarray(self.statuses) == "active")
        return searchable


def unit(vectors: npt.NDArray[Any]) -> Vectors:
    vectors = np.asarray(vectors, dtype=np.float32)
    return np.asarray(vectors / np.linalg.norm(vectors, axis=-1, keepdims=True), dtype=np.float32)


@functools.cache
def _centroids() -> tuple[Vectors, Vectors]:
    rng = np.random.default_rng(SEED)
    return unit(rng.standard_normal((len(SIGNAL_TYPES), DIMENSION))), unit(
        rng.standard_normal((len(COMPONENTS), DIMENSION))
    )


def clustered_vectors(rng: np.random.Generator, signals: Sequence[int], components: Sequence[int]) -> Vectors:
    """Unit vectors near their signal type's centroid, pulled towards their component's."""
    by_signal, by_component = _centroids()
    noise = rng.standard_normal((len(signals), DIMENSION)) / np.sqrt(DIMENSION)
    return unit(by_signal[list(signals)] + 0.7 * by_component[list(components)] + noise)


def _labels(rng: np.random.Generator, label: str, count: int) -> tuple[list[LabelValue], npt.NDArray[np.int64]]:
    """``count`` values of one label, and the index of each one's (first) value; -1 for ``*``."""
    values, weights, star, pair = _SPREADS[label]
    draw = rng.random(count)
    first = rng.choice(len(values), size=count, p=weights)
    second = rng.choice(len(values), size=count, p=weights)
    is_star = draw < star
    is_pair = ~is_star & (draw < star + pair) & (second != first)
    made: list[LabelValue] = [
        WILDCARD if s else [values[f], values[g]] if two else values[f]
        for s, two, f, g in zip(is_star.tolist(), is_pair.tolist(), first.tolist(), second.tolist(), strict=True)
    ]
    return made, np.where(is_star, -1, first)


def _detected(rng: np.random.Generator, count: int) -> list[dict[str, Any]]:
    draws = rng.random((count, 7))
    tools = rng.choice(["argocd", "flux", "*"], size=count, p=[0.6, 0.3, 0.1]).tolist()
    meshes = rng.choice(["istio", "linkerd", "*"], size=count, p=[0.6, 0.3, 0.1]).tolist()
    made: list[dict[str, Any]] = []
    for row, tool, mesh in zip(draws.tolist(), tools, meshes, strict=True):
        detected: dict[str, Any] = {"gitOpsManaged": True, "gitOpsTool": tool} if row[0] < 0.4 else {}
        flags = (("pdbProtected", 0.3), ("stateful", 0.2), ("helmManaged", 0.35), ("hpaEnabled", 0.25))
        detected |= {key: True for (key, share), value in zip(flags, row[1:5], strict=True) if value < share}
        if row[5] < 0.2:
            detected["serviceMesh"] = mesh
        made.append(detected)
    return made


def _custom(rng: np.random.Generator, count: int) -> list[dict[str, list[str]]]:
    draws = rng.random((count, 2))
    constraints = rng.choice(["cost-constrained", "latency-sensitive", "*"], size=count, p=[0.5, 0.4, 0.1]).tolist()
    teams = rng.integers(0, 12, size=count).tolist()
    made: list[dict[str, list[str]]] = []
    for (constrained, teamed), constraint, team in zip(draws.tolist(), constraints, teams, strict=True):
        custom: dict[str, list[str]] = {"constraint": [constraint]} if constrained < 0.3 else {}
        if teamed < 0.3:
            custom["team"] = [f"team-{team}"]
        made.append(custom)
    return made


def _chunk(index: int) -> Rows:
    rng = np.random.default_rng([SEED, index])
    start = index * CHUNK
    positions = np.arange(start, start + CHUNK)
    # Row i is an older version of row i + 1 when drawn so (never two in a row, never the chunk's last).
    older = rng.random(CHUNK) < 0.12
    older[-1] = False
    older[1:] &= ~older[:-1]
    columns = {label: _labels(rng, label, CHUNK) for label in MANDATORY_LABELS}
    by_row = zip(*(column[0] for column in columns.values()), strict=True)
    labels = [dict(zip(MANDATORY_LABELS, values, strict=True)) for values in by_row]
    # A "*" component still gets a component's direction: its text would name some component.
    components = np.where(columns["component"][1] < 0, rng.integers(0, len(COMPONENTS), CHUNK), columns["component"][1])
    base = datetime(2026, 1, 1, tzinfo=UTC)
    jitter = rng.integers(0, 30, CHUNK).tolist()
    return Rows(
        start=start,
        ids=[uuid.UUID(bytes=bytes(b), version=4) for b in rng.integers(0, 256, (CHUNK, 16), dtype=np.uint8)],
        workflow_names=[f"wf-{i + 1 if o else i:07d}" for i, o in zip(positions.tolist(), older.tolist(), strict=True)],
        versions=["1.0.0" if o else "1.1.0" for o in older.tolist()],
        labels=labels,
        detected=_detected(rng, CHUNK),
        custom=_custom(rng, CHUNK),
        statuses=rng.choice(STATUS_CHOICES, size=CHUNK, p=[0.9, 0.05, 0.03, 0.02]).tolist(),
        latest=~older,
        created_at=[base + timedelta(seconds=i * 37 + j) for i, j in zip(positions.tolist(), jitter, strict=True)],
        vectors=clustered_vectors(rng, columns["signal_type"][1].tolist(), components.tolist()),
    )


def rows(start: int, stop: int) -> Rows:
    """Catalog rows ``[start, stop)``."""
    parts = [_chunk(index) for index in range(start // CHUNK, (stop - 1) // CHUNK + 1)] if stop > start else []
    first = parts[0].start if parts else start

    def cut(column: list[Any]) -> list[Any]:
        return column[start - first : stop - first]

    return Rows(
        start=start,
        ids=cut([x for p in parts for x in p.ids]),
        workflow_names=cut([x for p in parts for x in p.workflow_names]),
        versions=cut([x for p in parts for x in p.versions]),
        labels=cut([x for p in parts for x in p.labels]),
        detected=cut([x for p in parts for x in p.detected]),
        custom=cut([x for p in parts for x in p.custom]),
        statuses=cut([x for p in parts for x in p.statuses]),
        latest=np.concatenate([p.latest for p in parts])[start - first : stop - first]
        if parts
        else np.zeros(0, dtype=bool),
        created_at=cut([x for p in parts for x in p.created_at]),
        vectors=np.concatenate([p.vectors for p in parts])[start - first : stop - first]
        if parts
        else np.zeros((0, DIMENSION), dtype=np.float32),
    )


def chunks(start: int, stop: int, size: int = CHUNK) -> Iterator[Rows]:
    for low in range(start, stop, size):
        yield rows(low, min(low + size, stop))


# ---------------------------------------------------------------- searches


@dataclass(frozen=True)
class Search:
    """One search request, in the service's wire form and as the values the floors need."""

    labels: dict[str, str]
    detected: dict[str, Any]
    custom: dict[str, list[str]]
    vector: Vectors

    def body(self, *, with_vector: bool, boosted: bool = True) -> dict[str, Any]:
        filters: dict[str, Any] = dict(self.labels)
        if boosted and self.detected:
            filters["detected_labels"] = self.detected
        if boosted and self.custom:
            filters["custom_labels"] = self.custom
        body: dict[str, Any] = {"filters": filters, "top_k": 10}
        if with_vector:
            body["embedding"] = vector_list(self.vector)
        return body

    def encoded(self, *, with_vector: bool, boosted: bool = True) -> bytes:
        return json.dumps(self.body(with_vector=with_vector, boosted=boosted), separators=(",", ":")).encode()


def vector_list(vector: Vectors) -> list[float]:
    """float32 values as the doubles that print back to the same float32 everywhere."""
    return [float(x) for x in vector.astype(np.float32)]


def searches(count: int, seed: int = SEED + 1) -> list[Search]:
    """Requests drawn from the catalog's own label spread (traffic follows the catalog)."""
    rng = np.random.default_rng(seed)
    made: list[Search] = []
    for _ in range(count):
        labels: dict[str, str] = {}
        indexes: dict[str, int] = {}
        for label, (values, weights, _star, _pair) in _SPREADS.items():
            indexes[label] = int(rng.choice(len(values), p=weights))
            labels[label] = values[indexes[label]]
        detected = _detected(rng, 1)[0] if rng.random() < 0.5 else {}
        custom = _custom(rng, 1)[0] if rng.random() < 0.3 else {}
        vector = clustered_vectors(rng, [indexes["signal_type"]], [indexes["component"]])[0]
        made.append(Search(labels, detected, custom, vector))
    return made


# ---------------------------------------------------------------- exact answers


class ExactIndex:
    """Brute force over the filtered set with numpy: the exact top-k to measure recall against."""

    def __init__(self) -> None:
        self._vectors: list[Vectors] = []
        self._ids: list[uuid.UUID] = []
        # One set of case-folded values per row and label; "*" kept as is.
        self._labels: dict[str, list[frozenset[str]]] = {label: [] for label in MANDATORY_LABELS}
        self._searchable: list[npt.NDArray[np.bool_]] = []
        self._frozen: tuple[Vectors, npt.NDArray[np.bool_], dict[uuid.UUID, int]] | None = None

    def add(self, part: Rows) -> None:
        self._frozen = None
        self._vectors.append(part.vectors)
        self._ids.extend(part.ids)
        self._searchable.append(part.searchable)
        for label in MANDATORY_LABELS:
            self._labels[label].extend(frozenset(v.lower() for v in label_values(row[label])) for row in part.labels)

    def __len__(self) -> int:
        return len(self._ids)

    def _arrays(self) -> tuple[Vectors, npt.NDArray[np.bool_], dict[uuid.UUID, int]]:
        if self._frozen is None:
            positions = {workflow_id: i for i, workflow_id in enumerate(self._ids)}
            self._frozen = (np.concatenate(self._vectors), np.concatenate(self._searchable), positions)
        return self._frozen

    def candidates(self, search: Search) -> npt.NDArray[np.bool_]:
        mask = self._arrays()[1].copy()
        for label in MANDATORY_LABELS:
            wanted = {search.labels[label].lower()} | ({WILDCARD} if label in WILDCARD_LABELS else set())
            mask &= np.fromiter((not values.isdisjoint(wanted) for values in self._labels[label]), bool, len(mask))
        return mask

    def top(self, search: Search, k: int = 10) -> tuple[list[uuid.UUID], float]:
        """The exact k nearest candidates and the k-th best similarity (ties at it count as right)."""
        mask = self.candidates(search)
        positions = np.flatnonzero(mask)
        if positions.size == 0:
            return [], -2.0
        similarities = self._arrays()[0][positions] @ search.vector
        best = np.argsort(-similarities, kind="stable")[:k]
        return [self._ids[positions[i]] for i in best], float(similarities[best[-1]])

    def recall(self, search: Search, found: Sequence[uuid.UUID], k: int = 10) -> float | None:
        """Share of the exact top k that ``found`` holds; a tie with the k-th best counts as right.

        None when the search has no candidate at all (nothing to recall).
        """
        exact, kth_best = self.top(search, k)
        if not exact:
            return None
        matrix, _, positions = self._arrays()
        right = sum(
            1
            for workflow_id in found[:k]
            if workflow_id in positions
            and self.candidates_contain(search, positions[workflow_id])
            and float(matrix[positions[workflow_id]] @ search.vector) >= kth_best - 1e-6
        )
        return right / len(exact)

    def candidates_contain(self, search: Search, position: int) -> bool:
        if not self._arrays()[1][position]:
            return False
        return all(
            not self._labels[label][position].isdisjoint(
                {search.labels[label].lower()} | ({WILDCARD} if label in WILDCARD_LABELS else set())
            )
            for label in MANDATORY_LABELS
        )


# ---------------------------------------------------------------- loading


COPY_COLUMNS = (
    "workflow_id", "workflow_name", "version", "name", "description", "content", "content_hash",
    "execution_engine", "container_image", "labels", "label_tokens", "search_tokens", "custom_labels",
    "detected_labels", "status", "is_latest_version", "created_at", "updated_at", "total_executions",
    "successful_executions", "embedding", "embedding_model", "embedding_text_hash", "text_hash", "embedded_at",
)  # fmt: skip


@functools.cache
def _scoped(signal: str, label: str, value: str) -> str:
    return scoped_token(signal, label, value)


def _search_tokens(labels: dict[str, LabelValue]) -> list[str]:
    """``search.labels.workflow_search_tokens`` with its JSON tokens memoised (1M rows)."""
    return sorted(
        {
            _scoped(signal, label, value)
            for signal in label_values(labels["signal_type"])
            for label in WILDCARD_LABELS
            for value in label_values(labels[label])
        }
    )


def copy_records(part: Rows, model_id: str = DEFAULT_MODEL_ID) -> Iterator[tuple[Any, ...]]:
    """Rows in the shape the service writes them, embeddings current for ``model_id``."""
    for offset in range(len(part)):
        labels = part.labels[offset]
        signal = label_values(labels["signal_type"])[0]
        component = label_values(labels["component"])[0]
        name = f"Remediate {signal} on {'any component' if component == WILDCARD else component}"
        description = f"Synthetic workflow {part.workflow_names[offset]} for {signal}; benchmark data."
        content = f"apiVersion: tekton.dev/v1\nkind: Pipeline\nmetadata:\n  name: {part.workflow_names[offset]}\n"
        hashed = text_sha256(workflow_text(name, description, labels))
        tokens = _search_tokens(labels)
        if part.start + offset < 100:  # the memoised tokens must be the service's own
            assert tokens == workflow_search_tokens(labels)
        created = part.created_at[offset]
        yield (
            part.ids[offset], part.workflow_names[offset], part.versions[offset], name, description, content,
            hashlib.sha256(content.encode()).hexdigest(), "tekton", "quay.io/kubernaut/remediate:1",
            json.dumps(labels), workflow_label_tokens(labels), tokens, json.dumps(part.custom[offset]),
            json.dumps(part.detected[offset]), part.statuses[offset], bool(part.latest[offset]), created, created,
            0, 0, part.vectors[offset], model_id, hashed, hashed, created,
        )  # fmt: skip


async def _register_vector(connection: asyncpg.Connection) -> None:
    await register_vector(connection)


async def store_rows(
    database_url: str,
    parts: Iterable[Rows],
    *,
    rebuild_indexes: bool = False,
    on_part: Callable[[Rows], Awaitable[None]] | None = None,
) -> float:
    """COPY rows straight into the service's ``workflows`` table; returns the seconds it took.

    ``on_part`` sees each part after it is stored (to load the same rows elsewhere without
    generating them twice or holding them all).

    With ``rebuild_indexes`` the table's secondary indexes are dropped first and recreated from
    their own definitions (``pg_indexes``) afterwards: a bulk load's index build sorts once,
    where COPY into GIN indexes with ``fastupdate = off`` inserts entry by entry.
    Ends with ``VACUUM ANALYZE``, as a catalog that has been in service would have been.
    """
    started = time.perf_counter()
    connection = await asyncpg.connect(database_url)
    try:
        await _register_vector(connection)
        await connection.execute("SET maintenance_work_mem = '512MB'")
        definitions: list[tuple[str, str]] = []
        if rebuild_indexes:
            definitions = [
                (str(r["indexname"]), str(r["indexdef"]))
                for r in await connection.fetch(
                    "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'workflows' AND indexname NOT IN "
                    "(SELECT conname FROM pg_constraint WHERE conrelid = 'workflows'::regclass) "
                    "AND indexname NOT IN ('uq_workflows_latest_per_name')"
                )
            ]
            for index_name, _ in definitions:
                await connection.execute(f'DROP INDEX "{index_name}"')
        for part in parts:
            await connection.copy_records_to_table("workflows", records=copy_records(part), columns=COPY_COLUMNS)
            if on_part is not None:
                await on_part(part)
        for _, definition in definitions:
            await connection.execute(definition)
        await connection.execute("VACUUM ANALYZE workflows")
    finally:
        await connection.close()
    return time.perf_counter() - started


NAIVE_TABLE_SQL = f"""
CREATE TABLE IF NOT EXISTS naive_workflows (
    id uuid NOT NULL,
    signal_type text NOT NULL,
    severity text[] NOT NULL,
    component text[] NOT NULL,
    environment text[] NOT NULL,
    priority text[] NOT NULL,
    searchable boolean NOT NULL,
    embedding vector({DIMENSION}) NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_naive_signal_type ON naive_workflows (signal_type);
"""

# The straightforward query: a B-tree on signal_type, the other labels tested row by row, then
# an exact sort by distance. List-valued labels are arrays (a value or "*" in the array), and a
# workflow with several signal types has one row per signal type, so the B-tree still applies.
NAIVE_SEARCH_SQL = """
SELECT id FROM naive_workflows
WHERE signal_type = $1
  AND ($2 = ANY(severity) OR '*' = ANY(severity))
  AND ($3 = ANY(component) OR '*' = ANY(component))
  AND ($4 = ANY(environment) OR '*' = ANY(environment))
  AND ($5 = ANY(priority) OR '*' = ANY(priority))
  AND searchable
ORDER BY embedding <=> $6, id
LIMIT 10
"""


def naive_parameters(search: Search) -> tuple[Any, ...]:
    labels = {label: value.lower() for label, value in search.labels.items()}
    return (*(labels[label] for label in MANDATORY_LABELS), search.vector)


async def store_naive_rows(database_url: str, part: Rows) -> float:
    """The naive reference table beside the service's, same rows and vectors."""
    started = time.perf_counter()
    connection = await asyncpg.connect(database_url)
    try:
        await _register_vector(connection)
        await connection.execute(NAIVE_TABLE_SQL)
        searchable = part.searchable

        def records() -> Iterator[tuple[Any, ...]]:
            for offset, labels in enumerate(part.labels):
                folded = {label: [v.lower() for v in label_values(labels[label])] for label in MANDATORY_LABELS}
                for signal in folded["signal_type"]:
                    yield (
                        part.ids[offset], signal, folded["severity"], folded["component"], folded["environment"],
                        folded["priority"], bool(searchable[offset]), part.vectors[offset],
                    )  # fmt: skip

        columns = ("id", "signal_type", "severity", "component", "environment", "priority", "searchable", "embedding")
        await connection.copy_records_to_table("naive_workflows", records=records(), columns=columns)
        await connection.execute("VACUUM ANALYZE naive_workflows")
    finally:
        await connection.close()
    return time.perf_counter() - started


async def vector_pool(database_url: str, size: int) -> asyncpg.Pool:
    """A pool whose connections speak pgvector, for the floors."""
    return await asyncpg.create_pool(database_url, min_size=size, max_size=size, init=_register_vector)
