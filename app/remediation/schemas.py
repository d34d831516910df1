"""Wire types of remediation audits (api.md, "Remediation audit with dual write")."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec

Phase = Literal["pending", "processing", "completed", "failed"]
Status = Literal["success", "failure", "pending", "running"]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
Short = Annotated[str, msgspec.Meta(max_length=255)]


class RemediationAuditRequest(msgspec.Struct, kw_only=True):
    name: Name
    namespace: Name
    phase: Phase
    action_type: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    remediation_request_id: Name
    status: Status | None = None
    start_time: datetime | None = None  # the server's clock when not given
    end_time: datetime | None = None
    alert_fingerprint: Short | None = None
    severity: Annotated[str, msgspec.Meta(max_length=50)] | None = None
    environment: Short | None = None
    cluster_name: Short | None = None
    target_resource: Annotated[str, msgspec.Meta(max_length=500)] | None = None
    error_message: Annotated[str, msgspec.Meta(max_length=10_000)] | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)


class RemediationAuditWritten(msgspec.Struct):
    id: UUID
    vector_store: Literal["written", "pending"]
    fallback_mode: bool
