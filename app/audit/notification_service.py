"""Notification delivery audit rules: one record per ``notification_id``, stored or queued."""

from __future__ import annotations

import msgspec
from sqlalchemy.exc import IntegrityError

from app.audit.notification_schemas import NotificationAudit, NotificationAuditAccepted, NotificationAuditResponse
from app.audit.writer import AuditWriter
from app.lib.database_errors import is_unique_violation
from app.lib.errors import Conflict


class NotificationAuditService:
    def __init__(self, writer: AuditWriter) -> None:
        self.writer = writer

    async def record(self, data: NotificationAudit) -> NotificationAuditResponse | NotificationAuditAccepted:
        """Store one delivery attempt; a ``notification_id`` already stored is a conflict.

        No look-up first: the unique constraint decides, so two concurrent writers of one
        ``notification_id`` cannot both succeed (the second waits for the first to commit).
        When the database is unavailable the record is queued, and its replay applies the
        same rule.
        """
        try:
            row = await self.writer.store_notification(data)
        except IntegrityError as error:
            if not is_unique_violation(error):
                raise
            raise Conflict(
                f"notification_audit already exists with notification_id {data.notification_id!r}"
            ) from error
        if row is None:
            return NotificationAuditAccepted(notification_id=data.notification_id)
        return msgspec.convert(row, NotificationAuditResponse)
