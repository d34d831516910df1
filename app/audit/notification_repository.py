"""The notification audit table and its SQL (no rules, no commits)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, String, Table, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

metadata = MetaData()

# Mirrors migrations/versions/0004 (the migration is the source of truth for DDL).
notification_audit = Table(
    "notification_audit",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("remediation_id", String(255), nullable=False),
    Column("notification_id", String(255), nullable=False, unique=True),
    Column("recipient", String(500), nullable=False),
    Column("channel", String(50), nullable=False),
    Column("message_summary", String(1000), nullable=False),
    Column("status", String(50), nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=False),
    Column("delivery_status", String(255)),
    Column("error_message", String(1000)),
    Column("escalation_level", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


class NotificationAuditRepository:
    """Queries only: no rules, no commits."""

    def __init__(self, session: AsyncSession | AsyncConnection) -> None:
        self.session = session

    async def insert(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The stored row, ``id`` and both timestamps assigned by the database."""
        result = await self.session.execute(
            insert(notification_audit).values(**values).returning(*notification_audit.c)
        )
        return {str(key): value for key, value in result.mappings().one().items()}

    async def insert_once(self, values: Mapping[str, Any]) -> bool:
        """Insert unless the ``notification_id`` is already stored; whether it inserted."""
        statement = (
            insert(notification_audit).values(**values).on_conflict_do_nothing(index_elements=["notification_id"])
        )
        result = await self.session.execute(statement.returning(notification_audit.c.id))
        return result.first() is not None

    async def by_notification_id(self, notification_id: str) -> dict[str, Any] | None:
        result = await self.session.execute(
            select(notification_audit).where(notification_audit.c.notification_id == notification_id)
        )
        row = result.mappings().first()
        return None if row is None else {str(key): value for key, value in row.items()}
