"""SQL of the audit trail. Queries only: no rules, no commits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import BigInteger, Column, Date, DateTime, MetaData, String, Table, delete, func, select, text
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.dialects.postgresql import UUID as PgUUID  # noqa: N811 - the dialect's own name
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

metadata = MetaData()

# Mirrors migrations/versions/0003 (the migration is the source of truth for DDL).
audit_events = Table(
    "audit_events",
    metadata,
    Column("event_id", PgUUID(as_uuid=True), primary_key=True),
    Column("event_date", Date, primary_key=True),
    Column("event_timestamp", DateTime(timezone=True), nullable=False),
    Column("version", String(20), nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("event_category", String(50), nullable=False),
    Column("event_action", String(50), nullable=False),
    Column("event_outcome", String(20), nullable=False),
    Column("actor_type", String(255)),
    Column("actor_id", String(255)),
    Column("resource_type", String(255)),
    Column("resource_id", String(255)),
    Column("correlation_id", String(255), nullable=False),
    Column("parent_event_id", PgUUID(as_uuid=True)),
    Column("namespace", String(255)),
    Column("cluster_name", String(255)),
    Column("severity", String(50)),
    Column("duration_ms", BigInteger),
    Column("event_data", JSONB, nullable=False),
)


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Which events a query wants: exact fields, a time window, one event_data key, a page."""

    equals: Mapping[str, str | None]
    since: datetime | None
    until: datetime | None
    detail: tuple[str, str] | None
    limit: int
    offset: int


class AuditRepository:
    def __init__(self, session: AsyncSession | AsyncConnection) -> None:
        self.session = session

    async def insert_many(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """One statement for the whole list (multi-row VALUES), in the caller's transaction."""
        if rows:
            await self.session.execute(insert(audit_events), list(rows))

    async def delete_rows(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Delete these rows again (in the caller's transaction, before it commits)."""
        ids = [row["event_id"] for row in rows]
        days = {row["event_date"] for row in rows}  # prunes to their partitions
        await self.session.execute(
            delete(audit_events).where(audit_events.c.event_id.in_(ids), audit_events.c.event_date.in_(days))
        )

    async def insert_once(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Like ``insert_many``, skipping events already stored (a replay of a write that did commit)."""
        if rows:
            await self.session.execute(insert(audit_events).on_conflict_do_nothing(), list(rows))

    async def existing_ids(self, event_ids: Sequence[UUID]) -> set[UUID]:
        if not event_ids:
            return set()
        result = await self.session.execute(
            select(audit_events.c.event_id).where(audit_events.c.event_id.in_(list(event_ids)))
        )
        return set(result.scalars())

    async def page(self, query: AuditQuery) -> tuple[list[dict[str, Any]], int]:
        """A page in ``event_timestamp DESC, event_id DESC`` order, and the filtered total.

        Planned afresh each time: a prepared statement's generic plan locks every partition
        before pruning, so a read of one month would wait for a lock held on another.
        """
        await self.session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        since, until, detail = query.since, query.until, query.detail
        conditions = [audit_events.c[name] == value for name, value in query.equals.items() if value is not None]
        if since is not None:
            conditions += [audit_events.c.event_timestamp >= since, audit_events.c.event_date >= since.date()]
        if until is not None:  # the event_date bounds let PostgreSQL skip whole partitions
            conditions += [audit_events.c.event_timestamp <= until, audit_events.c.event_date <= until.date()]
        if detail is not None:
            key, value = detail
            conditions.append(audit_events.c.event_data[key].astext == value)
        total = await self.session.scalar(select(func.count()).select_from(audit_events).where(*conditions))
        result = await self.session.execute(
            select(audit_events)
            .where(*conditions)
            .order_by(audit_events.c.event_timestamp.desc(), audit_events.c.event_id.desc())
            .limit(query.limit)
            .offset(query.offset)
        )
        rows = [{str(key): value for key, value in row.items()} for row in result.mappings()]
        return rows, int(total or 0)
