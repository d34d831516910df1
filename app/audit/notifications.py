"""Notification delivery audit (reference ``NotificationAudit``): wire types and SQL."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, String, Table, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

NotificationChannel = Literal["email", "slack", "pagerduty", "webhook"]
NotificationStatus = Literal["sent", "failed", "pending"]


# Required reference strings: present, not empty, at most so many characters.
Text255 = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
Text500 = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
Text1000 = Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]


class NotificationAudit(msgspec.Struct, kw_only=True):
    remediation_id: Text255
    notification_id: Text255
    recipient: Text500
    channel: NotificationChannel
    message_summary: Text1000
    status: NotificationStatus
    # RFC 3339 date-time: an offset (or Z) is part of the format.
    sent_at: Annotated[datetime, msgspec.Meta(tz=True)]
    delivery_status: Annotated[str, msgspec.Meta(max_length=255)] | None = None
    error_message: Annotated[str, msgspec.Meta(max_length=1000)] | None = None
    escalation_level: Annotated[int, msgspec.Meta(ge=0, le=5)] = 0


class NotificationAuditResponse(NotificationAudit, kw_only=True):
    id: int
    created_at: datetime
    updated_at: datetime


class NotificationAuditAccepted(msgspec.Struct, kw_only=True):
    """The reference's 202 body (DLQ fallback), plus the record's ``notification_id``."""

    status: Literal["accepted"] = "accepted"
    message: str = "audit record queued for processing"
    notification_id: str


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
