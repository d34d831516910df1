"""``workflow-search retention run [--dry-run] [--json]``: remove audit events past retention."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime

import msgspec

from app.audit.retention import Retention, RetentionReport
from app.lib.database import open_database
from app.lib.settings import Settings


def run_retention_command(settings: Settings, args: argparse.Namespace) -> int:
    report = asyncio.run(_run(settings, dry_run=args.dry_run, batch_size=args.batch_size))
    print(msgspec.json.encode(report).decode() if args.json else _summary(report))
    return 0


async def _run(settings: Settings, *, dry_run: bool, batch_size: int) -> RetentionReport:
    async with open_database(settings) as engine:
        return await Retention(engine, batch_size=batch_size).run(datetime.now(UTC).date(), dry_run=dry_run)


def _summary(report: RetentionReport) -> str:
    if not report.policies:
        return "no retention policies (audit_retention_policies is empty): nothing is removed"
    verb = "would drop" if report.dry_run else "dropped"
    policies = ", ".join(f"{category} {days} d" for category, days in report.policies.items())
    dropped = ", ".join(report.partitions_dropped) or "no partition"
    lines = [
        f"policies: {policies}",
        f"{verb} {dropped} ({report.events_in_dropped_partitions} events)",
        f"{'would delete' if report.dry_run else 'deleted'} {report.events_deleted} more events "
        f"from {report.chains_pruned} chains",
    ]
    if report.events_skipped_held:
        lines.append(f"kept {report.events_skipped_held} events placed under legal hold during the run")
    return "\n".join(lines)
