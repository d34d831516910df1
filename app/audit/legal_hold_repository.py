"""SQL of legal holds (migrations/versions/0007). Queries only: no rules, no commits."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, String, Table, Text, func, select, update
from sqlalchemy.dialects.postgresql import UUID as PgUUID  # noqa: N811 - the dialect's own name
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.repository import audit_events, metadata

legal_holds = Table(
    "audit_legal_holds",
    metadata,
    Column("hold_id", PgUUID(as_uuid=True), primary_key=True),
    Column("correlation_id", String(255), nullable=False),
    Column("reason", Text, nullable=False),
    Column("placed_by", String(255), nullable=False),
    Column("placed_at", DateTime(timezone=True), nullable=False),
    Column("released_by", String(255)),
    Column("released_at", DateTime(timezone=True)),
    Column("release_reason", Text),
)
ACTIVE = legal_holds.c.released_at.is_(None)


class LegalHoldRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def place(self, hold: Mapping[str, Any]) -> bool:
        """False when the correlation is already under an active hold (the partial unique index decides)."""
        statement = (
            insert(legal_holds)
            .values(dict(hold))
            .on_conflict_do_nothing(index_elements=["correlation_id"], index_where=ACTIVE)
            .returning(legal_holds.c.hold_id)
        )
        return (await self.session.execute(statement)).scalar() is not None

    async def release(self, correlation_id: str, by: str, at: datetime, reason: str) -> dict[str, Any] | None:
        """The released hold; None when there was no active one."""
        statement = (
            update(legal_holds)
            .where(legal_holds.c.correlation_id == correlation_id, ACTIVE)
            .values(released_by=by, released_at=at, release_reason=reason)
            .returning(*legal_holds.c)
        )
        row = (await self.session.execute(statement)).mappings().first()
        return None if row is None else dict(row)

    async def active(self) -> list[dict[str, Any]]:
        """Every active hold with the number of events it holds now, oldest first."""
        held = (
            select(func.count())
            .select_from(audit_events)
            .where(audit_events.c.correlation_id == legal_holds.c.correlation_id)
            .scalar_subquery()
        )
        result = await self.session.execute(
            select(legal_holds, held.label("events_affected")).where(ACTIVE).order_by(legal_holds.c.placed_at)
        )
        return [dict(row) for row in result.mappings()]

    async def events_of(self, correlation_id: str) -> int:
        total = await self.session.scalar(
            select(func.count()).select_from(audit_events).where(audit_events.c.correlation_id == correlation_id)
        )
        return int(total or 0)
