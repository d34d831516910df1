"""Notification delivery audit (reference ``NotificationAudit``): wire types, SQL and rules."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, String, Table
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict

NotificationChannel = Literal["email", "slack", "pagerduty", "webhook"]
NotificationStatus = Literal["sent", "failed", "pending"]
UNIQUE_VIOLATION = "23505"


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

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def insert(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The stored row, ``id`` and both timestamps assigned by the database."""
        result = await self.session.execute(
            insert(notification_audit).values(**values).returning(*notification_audit.c)
        )
        return {str(key): value for key, value in result.mappings().one().items()}


def is_unique_violation(error: IntegrityError) -> bool:
    return getattr(error.orig, "sqlstate", None) == UNIQUE_VIOLATION


class NotificationAuditService:
    def __init__(self, repository: NotificationAuditRepository) -> None:
        self.repository = repository

    async def record(self, data: NotificationAudit) -> NotificationAuditResponse:
        """Store one delivery attempt; a ``notification_id`` already stored is a conflict.

        No look-up first: the unique constraint decides, so two concurrent writers of one
        ``notification_id`` cannot both succeed (the second waits for the first to commit).
        """
        try:
            row = await self.repository.insert(msgspec.structs.asdict(data))
        except IntegrityError as error:
            if not is_unique_violation(error):
                raise
            raise Conflict(
                f"notification_audit already exists with notification_id {data.notification_id!r}"
            ) from error
        return msgspec.convert(row, NotificationAuditResponse)
