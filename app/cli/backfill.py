"""``workflow-search backfill``: embed pending and stale workflows, with progress or JSON."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from contextlib import AsyncExitStack

from tqdm import tqdm

from app.lib.database import open_database
from app.lib.settings import Settings
from app.remediation.resync import resync_pending
from app.remediation.vector_store import open_vector_store
from embeddings.backfill import BackfillReport, count_stale, run_backfill
from embeddings.model import SentenceEncoder
from embeddings.runtime import EmbeddingRuntime


def run_backfill_command(settings: Settings, args: argparse.Namespace) -> int:
    if args.model and args.model != settings.embedding_model_id:
        print(
            f"workflow-search: unknown model {args.model!r}; the configured model is {settings.embedding_model_id!r}"
            " (set WORKFLOW_SEARCH_EMBEDDING_MODEL_ID/_PATH/_SHA256 to use another)",
            file=sys.stderr,
        )
        return 2
    if args.batch_size < 1 or (args.limit is not None and args.limit < 1):
        print("workflow-search: --batch-size and --limit must be positive", file=sys.stderr)
        return 2
    report, resynced = asyncio.run(_backfill(settings, args))
    if args.json:
        print(json.dumps(report.as_dict() | {"remediations_resynced": resynced}))
    else:
        print(
            f"embedded {report.embedded} workflows in {report.seconds:.1f} s "
            f"({report.rate:.1f}/s, {report.batches} batches); {report.remaining} still stale; "
            f"{resynced} pending remediation audits re-synced to the vector store"
        )
    return 0


async def _backfill(settings: Settings, args: argparse.Namespace) -> tuple[BackfillReport, int]:
    runtime = EmbeddingRuntime(settings.embedding_config())
    async with open_database(settings) as engine:
        await runtime.check_dimension(engine)
        encoder = await asyncio.to_thread(SentenceEncoder.load, runtime.model_spec())
        total = await count_stale(engine, encoder.model_id)
        if args.limit is not None:
            total = min(total, args.limit)
        show_progress = not args.json and sys.stderr.isatty()
        with tqdm(total=total, unit="workflow", disable=not show_progress, file=sys.stderr) as progress:
            report = await run_backfill(
                engine, encoder, batch_size=args.batch_size, limit=args.limit, on_batch=progress.update
            )
        async with AsyncExitStack() as stack:
            store = await open_vector_store(settings, engine, stack)
            resynced = await resync_pending(engine, store, encoder, batch_size=args.batch_size)
        return report, resynced
