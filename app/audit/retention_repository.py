"""SQL of audit retention (migrations/versions/0008). Queries only: no rules, no commits."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.audit.repository import audit_events

# Every event that may go: of a correlation with something past its category's retention and
# no active hold, in the prefix of its chain (in chain order) whose events are all past it.
# Removing only a prefix keeps what stays a verifiable chain (verification starts after it).
REMOVABLE_SQL = text(
    """
    WITH candidates AS (
        SELECT DISTINCT e.correlation_id
        FROM audit_events e JOIN audit_retention_policies p USING (event_category)
        WHERE e.event_date < CAST(:today AS date) - p.retention_days
    ), events AS (
        SELECT e.event_id, e.event_date, e.event_timestamp, e.correlation_id, e.chain_sequence, e.event_hash,
               e.tableoid::regclass::text AS partition,
               coalesce(e.event_date < CAST(:today AS date) - p.retention_days, false) AS expired
        FROM audit_events e
        JOIN candidates USING (correlation_id)
        LEFT JOIN audit_retention_policies p USING (event_category)
        WHERE NOT EXISTS (
            SELECT 1 FROM audit_legal_holds h WHERE h.correlation_id = e.correlation_id AND h.released_at IS NULL
        )
    ), prefixes AS (
        SELECT *, bool_and(expired) OVER (
            PARTITION BY correlation_id ORDER BY chain_sequence NULLS FIRST, event_timestamp, event_id
            ROWS UNBOUNDED PRECEDING
        ) AS removable
        FROM events
    )
    SELECT event_id, event_date, correlation_id, chain_sequence, event_hash, partition
    FROM prefixes WHERE removable
    ORDER BY correlation_id, chain_sequence NULLS FIRST, event_timestamp, event_id
    """
)


PARTITION_NAME = re.compile(r"^audit_events_y\d{4}m\d{2}$")


def _table(partition: str) -> str:
    """A partition's quoted name; only ever one that ensure_audit_events_partition() names."""
    if not PARTITION_NAME.match(partition):
        raise ValueError(f"not an audit_events partition: {partition!r}")
    return f'"{partition}"'


class RetentionRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def policies(self) -> dict[str, int]:
        result = await self.connection.execute(
            text("SELECT event_category, retention_days FROM audit_retention_policies ORDER BY event_category")
        )
        return {str(category): int(days) for category, days in result}

    async def removable(self, today: date) -> list[dict[str, Any]]:
        return [dict(row) for row in (await self.connection.execute(REMOVABLE_SQL, {"today": today})).mappings()]

    async def count(self, partition: str) -> int:
        counted = await self.connection.scalar(text(f"SELECT count(*) FROM {_table(partition)}"))  # noqa: S608 - a checked partition name
        return int(counted or 0)

    async def lock_holds(self) -> None:
        """No hold can be placed or released until this transaction ends."""
        await self.connection.execute(text("LOCK TABLE audit_legal_holds IN SHARE MODE"))

    async def lock_partition(self, partition: str) -> None:
        """No event can be written into, or read from, the month until this transaction ends."""
        await self.connection.execute(text(f"LOCK TABLE {_table(partition)} IN ACCESS EXCLUSIVE MODE"))

    async def holds_in(self, partition: str) -> bool:
        held = await self.connection.scalar(
            text(
                f"SELECT EXISTS (SELECT 1 FROM {_table(partition)} e JOIN audit_legal_holds h "  # noqa: S608 - a checked partition name
                "ON h.correlation_id = e.correlation_id AND h.released_at IS NULL)"
            )
        )
        return bool(held)

    async def drop(self, partition: str) -> None:
        await self.connection.execute(text(f"DROP TABLE {_table(partition)}"))

    async def delete_events(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Delete these events (the legal hold trigger refuses the whole statement if one is held)."""
        ids = [row["event_id"] for row in rows]
        days = {row["event_date"] for row in rows}
        result = await self.connection.execute(
            delete(audit_events).where(audit_events.c.event_id.in_(ids), audit_events.c.event_date.in_(days))
        )
        return int(result.rowcount)

    async def move_pruned_marks(self, marks: Sequence[Mapping[str, Any]]) -> None:
        """Record, per chain, the newest event removed (never moving a mark back)."""
        if marks:
            await self.connection.execute(
                text(
                    "UPDATE audit_chain_heads SET pruned_through_sequence = :sequence, pruned_through_hash = :hash "
                    "WHERE correlation_id = :correlation_id AND pruned_through_sequence < :sequence"
                ),
                list(marks),
            )
