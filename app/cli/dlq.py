"""``workflow-search dlq status|replay``: what waits in the dead letter queue, and storing it now."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from app.audit.chain import chain_from_settings
from app.audit.partitions import PartitionKeeper
from app.audit.replay import AuditReplayer
from app.dlq.backends import chosen_backend, open_dead_letter_queue
from app.dlq.queue import STREAMS, DeadLetterQueue, QueueError
from app.dlq.runtime import replay_worker
from app.lib.database import open_database
from app.lib.settings import Settings, mask_url


def run_dlq_command(settings: Settings, args: argparse.Namespace) -> int:
    try:
        return _run(settings, args)
    except QueueError as error:
        print(f"workflow-search: dead letter queue at {_location(settings)} unavailable: {error}", file=sys.stderr)
        return 1


def _run(settings: Settings, args: argparse.Namespace) -> int:
    if args.dlq_command == "status":
        status = asyncio.run(_status(settings, args.show))
        print(json.dumps(status) if args.json else _status_table(status))
        return 0
    result = asyncio.run(_replay(settings, dead_letters=args.dead_letter))
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"revived {result['revived']} dead letters; replayed {result['replayed']}, "
            f"{result['failed']} failed, {result['buried']} moved to the dead letters; "
            f"still queued: {result['queued']}"
        )
    return 0 if result["failed"] == 0 else 1


def _location(settings: Settings) -> str:
    if chosen_backend(settings) == "redis" and settings.redis_url:
        return mask_url(settings.redis_url)
    return str(settings.dlq_sqlite_path)


async def _status(settings: Settings, show: int) -> dict[str, Any]:
    queue = await open_dead_letter_queue(settings)
    try:
        streams: dict[str, Any] = {}
        for stream in STREAMS:
            depth = await queue.depth(stream)
            streams[stream] = {
                "queued": depth,
                "capacity_ratio": round(depth / queue.max_length, 4),
                "dead_letters": await queue.dead_depth(stream),
                "dead_letter_samples": [
                    {"id": dead.record_id, "attempts": dead.attempts, "reason": dead.reason, "bytes": len(dead.payload)}
                    for dead in await queue.dead_letters(stream, show)
                ]
                if show
                else [],
            }
    finally:
        await queue.close()
    return {
        "backend": queue.backend,
        "location": _location(settings),
        "max_length": queue.max_length,
        "streams": streams,
    }


def _status_table(status: dict[str, Any]) -> str:
    lines = [
        f"dead letter queue: {status['backend']} at {status['location']} (max {status['max_length']} per stream)",
        f"{'stream':<15}{'queued':>8}{'full':>8}{'dead letters':>14}",
    ]
    for name, stream in status["streams"].items():
        lines.append(f"{name:<15}{stream['queued']:>8}{stream['capacity_ratio']:>8.1%}{stream['dead_letters']:>14}")
        lines += [
            f"  dead letter {dead['id']}: {dead['attempts']} attempts; {dead['reason']}"
            for dead in stream["dead_letter_samples"]
        ]
    return "\n".join(lines)


async def _replay(settings: Settings, *, dead_letters: bool) -> dict[str, int]:
    async with open_database(settings) as engine:
        queue: DeadLetterQueue = await open_dead_letter_queue(settings)
        try:
            revived = sum([await queue.revive(stream) for stream in STREAMS]) if dead_letters else 0
            replayer = AuditReplayer(engine, PartitionKeeper(engine), chain_from_settings(settings))
            report = await replay_worker(settings, queue, replayer).replay_due(drain=True)
            queued = sum([await queue.depth(stream) for stream in STREAMS])
        finally:
            await queue.close()
    return {
        "revived": revived, "replayed": report.replayed, "failed": report.failed,
        "buried": report.buried, "queued": queued,
    }  # fmt: skip
