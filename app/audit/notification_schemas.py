"""Notification delivery audit (reference ``NotificationAudit``): its wire types."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

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
