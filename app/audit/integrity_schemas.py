"""Wire types of the audit trail's integrity routes: chain verification and legal holds."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

# Optional on the wire so that a missing or empty id gets its own problem type
# (missing-correlation-id), not a generic schema error.
CorrelationId = Annotated[str, msgspec.Meta(max_length=255)] | None
Reason = Annotated[str, msgspec.Meta(max_length=2000)] | None


class VerifyChainRequest(msgspec.Struct, kw_only=True):
    correlation_id: CorrelationId = None


class ChainVerification(msgspec.Struct, kw_only=True):
    correlation_id: str
    is_valid: bool
    total_events: int
    verified_events: int
    tampered_events: list[UUID]
    verification_time: datetime
    message: str
