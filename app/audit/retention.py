"""Audit retention: events past their category's retention go, never a held one.

A whole monthly partition whose every event may go is dropped (one statement, no dead rows);
otherwise the events go in batched deletes. Only a prefix of each correlation's chain is ever
removed, and the newest event removed is marked on the chain's head, so what stays verifies
(``app.audit.verification`` starts after the mark). Months that may still receive events
(inside the 7-day acceptance window) are never dropped.

Holds are safe against races as well as by the plan: a drop locks the hold table and re-checks
the month in the transaction that drops it, and a delete of a held event is refused by the
database trigger (the batch is then skipped whole).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from typing import Any

import msgspec
import sqlalchemy.exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.audit.canonical import lock_key
from app.audit.partitions import ACCEPTANCE_WINDOW, month_end
from app.audit.repository import AuditRepository
from app.audit.retention_repository import RetentionRepository

DEFAULT_BATCH_SIZE = 1000


class RetentionReport(msgspec.Struct, kw_only=True):
    dry_run: bool
    today: date
    policies: dict[str, int]
    partitions_dropped: list[str]
    events_in_dropped_partitions: int
    events_deleted: int
    events_skipped_held: int
    chains_pruned: int


def partition_end(partition: str) -> date:
    """The day after the last day of ``audit_events_yYYYYmMM``."""
    return month_end(date(int(partition[-7:-3]), int(partition[-2:]), 1))


def _marks(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per chain, the newest chained event among ``rows`` (removed in chain order)."""
    newest: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["chain_sequence"] is not None:
            newest[row["correlation_id"]] = row
    return [
        {"correlation_id": c, "sequence": row["chain_sequence"], "hash": row["event_hash"]} for c, row in newest.items()
    ]


async def _lock_chains(connection: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    await AuditRepository(connection).lock_chains(sorted({lock_key(row["correlation_id"]) for row in rows}))


class Retention:
    def __init__(self, engine: AsyncEngine, *, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        self.engine = engine
        self.batch_size = batch_size

    async def run(self, today: date, *, dry_run: bool) -> RetentionReport:
        async with self.engine.connect() as connection:
            repository = RetentionRepository(connection)
            policies = await repository.policies()
            removable = await repository.removable(today) if policies else []
            by_partition: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for row in removable:
                by_partition[row["partition"]].append(row)
            whole = [
                name
                for name, rows in sorted(by_partition.items())
                if partition_end(name) <= today - ACCEPTANCE_WINDOW and await repository.count(name) == len(rows)
            ]
            await connection.rollback()
        report = RetentionReport(
            dry_run=dry_run, today=today, policies=policies, partitions_dropped=[], events_in_dropped_partitions=0,
            events_deleted=0, events_skipped_held=0, chains_pruned=len({row["correlation_id"] for row in removable}),
        )  # fmt: skip
        if dry_run:
            report.partitions_dropped = whole
            report.events_in_dropped_partitions = sum(len(by_partition[name]) for name in whole)
            report.events_deleted = len(removable) - report.events_in_dropped_partitions
            return report
        for name in whole:
            if await self._drop(name, by_partition[name]):
                report.partitions_dropped.append(name)
                report.events_in_dropped_partitions += len(by_partition.pop(name))
        rest = [row for rows in by_partition.values() for row in rows]
        rest.sort(key=lambda row: (row["correlation_id"], row["chain_sequence"] or 0))
        for start in range(0, len(rest), self.batch_size):
            deleted, skipped = await self._delete(rest[start : start + self.batch_size])
            report.events_deleted += deleted
            report.events_skipped_held += skipped
        return report

    async def _drop(self, partition: str, rows: list[dict[str, Any]]) -> bool:
        """Drop the month if it still holds exactly the planned events and none is held."""
        async with self.engine.begin() as connection:
            repository = RetentionRepository(connection)
            # Lock order: holds, chains, month (writers take chains, then the month; a hold
            # placement takes holds, then its chain): no cycle.
            await repository.lock_holds()
            await _lock_chains(connection, rows)
            await repository.lock_partition(partition)
            if await repository.count(partition) != len(rows) or await repository.holds_in(partition):
                await connection.rollback()
                return False  # changed since the plan: its events go by delete, if they still may
            await repository.move_pruned_marks(_marks(rows))
            await repository.drop(partition)
        return True

    async def _delete(self, rows: list[dict[str, Any]]) -> tuple[int, int]:
        """(deleted, skipped because held) for one batch, in a transaction of its own."""
        try:
            async with self.engine.begin() as connection:
                await _lock_chains(connection, rows)
                repository = RetentionRepository(connection)
                await repository.move_pruned_marks(_marks(rows))
                return await repository.delete_events(rows), 0
        except sqlalchemy.exc.IntegrityError as error:
            if "legal hold" not in str(error.orig):
                raise
            return 0, len(rows)  # a hold placed since the plan: the whole batch stays
