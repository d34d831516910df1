"""Where the service's time goes under one kind of load: py-spy on the serve process.

``python -m benchmarks.profile label|semantic|events|batches [--concurrency N]`` starts the
service on a fresh 2k catalog, drives one kind of request at it while py-spy samples the serve
process, and writes the hottest frames (own time and inclusive time) to
``benchmarks/results/profiles/<kind>.txt``. py-spy is in the bench extra.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import catalog
from benchmarks.corpus import audit_event
from benchmarks.load import drive
from benchmarks.service import REPO, running_service

OUT = REPO / "benchmarks" / "results" / "profiles"
PY_SPY = Path(sys.executable).parent / "py-spy"
SECONDS = 12
SEARCH = "/api/v1/workflows/search"


def _bodies(kind: str) -> tuple[str, list[bytes]]:
    now = datetime.now(UTC)
    if kind == "label":
        return SEARCH, [s.encoded(with_vector=False) for s in catalog.searches(100)]
    if kind == "semantic":
        return SEARCH, [s.encoded(with_vector=True, boosted=False) for s in catalog.searches(100)]
    if kind == "events":
        return "/api/v1/audit/events", [json.dumps(audit_event(i, now), default=str).encode() for i in range(5_000)]
    batches = [json.dumps([audit_event(b * 500 + i, now) for i in range(500)], default=str).encode() for b in range(20)]
    return "/api/v1/audit/events/batch", batches


def _summary(raw: Path, top: int = 30) -> str:
    """Collapsed stacks (``frame;frame;... count``) as the frames with the most samples."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        total += count
        frames = stack.split(";")
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    lines = [f"{total} samples", "", "own time:"]
    lines += [f"{n / total:6.1%}  {frame}" for frame, n in own.most_common(top)]
    lines += ["", "inclusive time:"]
    lines += [f"{n / total:6.1%}  {frame}" for frame, n in inclusive.most_common(2 * top)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile")
    parser.add_argument("kind", choices=["label", "semantic", "events", "batches"])
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args(argv)
    path, bodies = _bodies(args.kind)

    def request(i: int) -> tuple[str, str, bytes | None]:
        return "POST", path, bodies[i % len(bodies)]

    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="profile-") as scratch:
        raw = Path(scratch) / "stacks.txt"
        with running_service(Path(scratch) / "data") as service:
            asyncio.run(catalog.store_rows(service.database_url, catalog.chunks(0, 2_000)))
            spy = subprocess.Popen(
                [str(PY_SPY), "record", "-p", str(service.process.pid), "-d", str(SECONDS), "-r", "200",
                 "-f", "raw", "-o", str(raw), "--nonblocking"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            result = asyncio.run(drive(service.url, request, args.concurrency, SECONDS, 0.5))
            spy.wait()
        header = (
            f"{args.kind} at concurrency {args.concurrency}: {result.throughput:.0f} req/s, "
            f"p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, {result.errors} errors\n"
        )
        text = header + _summary(raw)
    (OUT / f"{args.kind}.txt").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
