"""SQL of the audit trail. Queries only: no rules, no commits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import BigInteger, Column, Date, DateTime, MetaData, String, Table, func, select, text
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
    # The hash chain (migrations/versions/0006; app.audit.chain): null on rows stored before it.
    Column("chain_sequence", BigInteger),
    Column("previous_event_hash", String(64)),
    Column("event_hash", String(64)),
    Column("hash_algorithm", String(20)),
)

# The newest event of each correlation's chain: what the next event links to.
audit_chain_heads = Table(
    "audit_chain_heads",
    metadata,
    Column("correlation_id", String(255), primary_key=True),
    Column("event_id", PgUUID(as_uuid=True), nullable=False),
    Column("event_hash", String(64), nullable=False),
    Column("chain_sequence", BigInteger, nullable=False),
    # Retention (0008): the newest event removed from the chain's start, where verification begins.
    Column("pruned_through_sequence", BigInteger, nullable=False, server_default="0"),
    Column("pruned_through_hash", String(64)),
)

CHAIN_COLUMNS = ("chain_sequence", "previous_event_hash", "event_hash", "hash_algorithm")


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

    async def insert_once(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Like ``insert_many``, skipping events already stored (a replay of a write that did commit)."""
        if rows:
            await self.session.execute(insert(audit_events).on_conflict_do_nothing(), list(rows))

    async def one_snapshot(self) -> None:
        """Every later read of this transaction sees the same committed state (its first statement)."""
        await self.session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))

    async def lock_chains(self, keys: Sequence[int]) -> None:
        """Transaction-scoped advisory locks on these chains, taken in the order given (sorted
        by every caller, so two transactions never wait on each other in a cycle)."""
        await self.session.execute(
            text("SELECT count(pg_advisory_xact_lock(key)) FROM unnest(CAST(:keys AS bigint[])) AS key"),
            {"keys": list(keys)},
        )

    async def chain_heads(self, correlation_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        result = await self.session.execute(
            select(audit_chain_heads).where(audit_chain_heads.c.correlation_id.in_(list(correlation_ids)))
        )
        return {row["correlation_id"]: dict(row) for row in result.mappings()}

    async def chain_head(self, correlation_id: str) -> dict[str, Any] | None:
        return (await self.chain_heads([correlation_id])).get(correlation_id)

    async def move_chain_heads(self, heads: Sequence[Mapping[str, Any]]) -> None:
        if heads:
            statement = insert(audit_chain_heads)
            update = {name: statement.excluded[name] for name in ("event_id", "event_hash", "chain_sequence")}
            await self.session.execute(
                statement.on_conflict_do_update(index_elements=["correlation_id"], set_=update), list(heads)
            )

    async def stored_keys(self, rows: Sequence[Mapping[str, Any]]) -> set[UUID]:
        """Which of these rows are stored already, by their key (each lookup pruned to its partition,
        planned afresh: a generic plan would lock every partition first, see ``page``)."""
        await self.session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        found: set[UUID] = set()
        for day in {row["event_date"] for row in rows}:
            ids = [row["event_id"] for row in rows if row["event_date"] == day]
            result = await self.session.execute(
                select(audit_events.c.event_id).where(
                    audit_events.c.event_date == day, audit_events.c.event_id.in_(ids)
                )
            )
            found.update(result.scalars())
        return found

    async def chain_of(self, correlation_id: str) -> list[dict[str, Any]]:
        """Every event of a correlation in chain order (unchained ones, older, first)."""
        result = await self.session.execute(
            select(audit_events)
            .where(audit_events.c.correlation_id == correlation_id)
            .order_by(
                audit_events.c.chain_sequence.asc().nulls_first(),
                audit_events.c.event_timestamp,
                audit_events.c.event_id,
            )
        )
        return [{str(key): value for key, value in row.items()} for row in result.mappings()]

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
