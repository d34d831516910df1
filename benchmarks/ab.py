"""Before/after of a change: the same figures for two commits of the service, in one run.

``python -m benchmarks.ab BEFORE [AFTER]`` checks both commits out as git worktrees, runs each
as its own service (the harness and the virtualenv are this checkout's; only the service's code
comes from the commit, through ``PYTHONPATH``) and alternates them round by round, so both see
the same machine. Writes ``benchmarks/results/partial/ab.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import catalog
from benchmarks.corpus import audit_event
from benchmarks.load import LoadResult, drive
from benchmarks.service import REPO, Service, running_service

RESULTS = REPO / "benchmarks" / "results" / "partial"
CATALOG_SIZE = 2_000
SECONDS = 5.0
ROUNDS = 3
Request = Callable[[int], tuple[str, str, bytes | None]]


def _requests() -> dict[str, tuple[Request, int]]:
    """Each figure: the requests it cycles through, and its concurrency."""
    searches = [s.encoded(with_vector=False) for s in catalog.searches(100)]
    now = datetime.now(UTC)
    events = [json.dumps(audit_event(i, now), default=str).encode() for i in range(5_000)]
    batches = [json.dumps([audit_event(i * 500 + j, now) for j in range(500)], default=str).encode() for i in range(20)]
    return {
        "label search c1 (req/s)": (lambda i: ("POST", "/api/v1/workflows/search", searches[i % 100]), 1),
        "label search c8 (req/s)": (lambda i: ("POST", "/api/v1/workflows/search", searches[i % 100]), 8),
        "single events c64 (req/s)": (lambda i: ("POST", "/api/v1/audit/events", events[i % 5_000]), 64),
        "batches of 500 c2 (req/s)": (lambda i: ("POST", "/api/v1/audit/events/batch", batches[i % 20]), 2),
    }


async def _measure(service: Service, request: Request, concurrency: int) -> LoadResult:
    result = await drive(service.url, request, concurrency, SECONDS, 1.0)
    if result.errors:
        raise RuntimeError(f"{result.errors} errors: {result.first_error}")
    return result


def _worktree(ref: str, parent: Path) -> Path:
    path = parent / ref.replace("/", "_")
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(path), ref], check=True)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ab")
    parser.add_argument("before")
    parser.add_argument("after", nargs="?", default="HEAD")
    args = parser.parse_args(argv)
    figures = _requests()
    results: dict[str, dict[str, list[float]]] = {name: {args.before: [], args.after: []} for name in figures}
    with tempfile.TemporaryDirectory(prefix="ab-") as scratch:
        trees = {ref: _worktree(ref, Path(scratch)) for ref in (args.before, args.after)}
        try:
            for round_number in range(ROUNDS):
                order = list(trees) if round_number % 2 == 0 else list(reversed(trees))
                for ref in order:
                    data_dir = Path(scratch) / f"data-{round_number}-{ref.replace('/', '_')}"
                    with running_service(data_dir, env={"PYTHONPATH": str(trees[ref])}) as service:
                        asyncio.run(catalog.store_rows(service.database_url, catalog.chunks(0, CATALOG_SIZE)))
                        for name, (request, concurrency) in figures.items():
                            outcome = asyncio.run(_measure(service, request, concurrency))
                            results[name][ref].append(outcome.throughput)
        finally:
            for path in trees.values():
                subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(path)], check=False)
    rows = []
    for name, by_ref in results.items():
        before, after = (statistics.median(by_ref[ref]) for ref in (args.before, args.after))
        rows.append({"figure": name, "before": before, "after": after, "ratio": after / before, "rounds": by_ref})
        print(f"{name:28} {before:9.1f} -> {after:9.1f}  x{after / before:.2f}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ab.json").write_text(
        json.dumps({"before": args.before, "after": args.after, "figures": rows}, indent=2) + "\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
