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


class LegalHoldRequest(msgspec.Struct, kw_only=True):
    correlation_id: CorrelationId = None
    reason: Reason = None


class LegalHoldRelease(msgspec.Struct, kw_only=True):
    reason: Reason = None


class LegalHold(msgspec.Struct, kw_only=True):
    """A hold as placed (and as listed: ``events_affected`` is what it holds now)."""

    correlation_id: str
    events_affected: int
    placed_by: str
    placed_at: datetime
    reason: str


class LegalHoldReleased(msgspec.Struct, kw_only=True):
    correlation_id: str
    events_affected: int
    released_by: str
    released_at: datetime
    reason: str


class LegalHolds(msgspec.Struct, kw_only=True):
    legal_holds: list[LegalHold]
    total: int
