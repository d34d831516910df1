"""Audit writes with the hash chain on and off (``WORKFLOW_SEARCH_AUDIT_HASH_CHAIN``).

Two services, one per setting, each on its own embedded PostgreSQL, run side by side; the
rounds alternate between them so that drift of the (shared, small) machine hurts both alike.
Per round: single events from 64 closed-loop clients (group commit), then batches of 500 from
2 clients. The events are the corpus's: 27 events share each correlation, so concurrent
writers do contend for chain locks. A "hot" run sends every single event to one correlation,
the chain's worst case (every append waits for the one before).

    PYTHONPATH=$PWD .venv/bin/python -m benchmarks.chain_bench [--seconds 6] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.corpus import audit_event
from benchmarks.load import LoadResult, drive
from benchmarks.service import Service, running_service

Request = tuple[str, str, bytes | None]


def _singles(hot: bool) -> Callable[[int], Request]:
    now = datetime.now(UTC)

    def make(i: int) -> Request:
        event = audit_event(i, now)
        if hot:
            event["correlation_id"] = "rr-bench-hot"
        return "POST", "/api/v1/audit/events", json.dumps(event).encode()

    return make


def _batches() -> Callable[[int], Request]:
    now = datetime.now(UTC)

    def make(i: int) -> Request:
        body = [audit_event(i * 500 + n, now) for n in range(500)]
        return "POST", "/api/v1/audit/events/batch", json.dumps(body).encode()

    return make


async def _round(service: Service, seconds: float) -> dict[str, LoadResult]:
    return {
        "single events, 64 clients": await drive(service.url, _singles(hot=False), 64, seconds),
        "single events, 64 clients, one correlation": await drive(service.url, _singles(hot=True), 64, seconds),
        "batches of 500, 2 clients": await drive(service.url, _batches(), 2, seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    results: dict[tuple[str, str], list[LoadResult]] = {}
    with tempfile.TemporaryDirectory(prefix="chain-bench-") as scratch, ExitStack() as stack:
        services = {
            setting: stack.enter_context(
                running_service(Path(scratch) / setting, env={"WORKFLOW_SEARCH_AUDIT_HASH_CHAIN": setting})
            )
            for setting in ("true", "false")
        }
        for round_number in range(args.rounds):
            order = ["true", "false"] if round_number % 2 == 0 else ["false", "true"]
            for setting in order:
                for name, result in asyncio.run(_round(services[setting], args.seconds)).items():
                    if result.errors:
                        raise SystemExit(f"{name}, chain {setting}: {result.errors} errors: {result.first_error}")
                    results.setdefault((name, setting), []).append(result)
    lines = [
        "| load | chain | requests/s | events/s | p50 ms | p99 ms |",
        "|---|---|---|---|---|---|",
    ]
    for (name, setting), runs in sorted(results.items()):
        per_request = 500 if name.startswith("batches") else 1
        throughput = statistics.median(run.throughput for run in runs)
        p50, p99 = (statistics.median(getattr(run, key) for run in runs) for key in ("p50_ms", "p99_ms"))
        chain = "on" if setting == "true" else "off"
        lines.append(
            f"| {name} | {chain} | {throughput:.1f} | {throughput * per_request:.0f} | {p50:.1f} | {p99:.1f} |"
        )
    table = "\n".join(lines)
    print(table)
    print(
        f"(results/chain.md holds the committed runs; python -m benchmarks.chain_bench "
        f"--seconds {args.seconds:g} --rounds {args.rounds}, medians over the rounds)"
    )


if __name__ == "__main__":
    main()
