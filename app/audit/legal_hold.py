"""Legal holds: a correlation's audit events kept from deletion until the hold is released.

The database enforces the hold (a trigger refuses to delete a held event, whoever asks); this
service places, lists and releases holds, and records each placement and release as an audit
event of the held correlation, in the same transaction as the hold itself, linked into its chain.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.chain import ChainAppender
from app.audit.integrity_schemas import LegalHold, LegalHoldReleased, LegalHolds
from app.audit.legal_hold_repository import LegalHoldRepository
from app.audit.partitions import PartitionKeeper
from app.lib.errors import Conflict, MissingCorrelationId, NotFound, ValidationFailed


def _required_reason(reason: str | None) -> str:
    if reason is None or not reason.strip():
        raise ValidationFailed({"reason": "is required and must not be empty"})
    return reason


class LegalHoldService:
    def __init__(
        self,
        session: AsyncSession,
        chain: ChainAppender,
        partitions: PartitionKeeper,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.session = session
        self.repository = LegalHoldRepository(session)
        self.chain = chain
        self.partitions = partitions
        self.clock = clock

    async def place(self, correlation_id: str | None, reason: str | None, placed_by: str) -> LegalHold:
        if not correlation_id:
            raise MissingCorrelationId("correlation_id is required and must not be empty")
        reason = _required_reason(reason)
        now = self.clock()
        hold = {"hold_id": uuid.uuid4(), "correlation_id": correlation_id, "reason": reason}
        if not await self.repository.place({**hold, "placed_by": placed_by, "placed_at": now}):
            raise Conflict(f"correlation_id {correlation_id!r} is already under legal hold")
        await self._record("placed", correlation_id, placed_by, now, hold)
        affected = await self.repository.events_of(correlation_id)  # the hold's own event included
        return LegalHold(
            correlation_id=correlation_id, events_affected=affected, placed_by=placed_by, placed_at=now, reason=reason
        )

    async def release(self, correlation_id: str, reason: str | None, released_by: str) -> LegalHoldReleased:
        reason = _required_reason(reason)
        now = self.clock()
        released = await self.repository.release(correlation_id, released_by, now, reason)
        if released is None:
            raise NotFound(f"correlation_id {correlation_id!r} is not under legal hold")
        details = {"hold_id": released["hold_id"], "correlation_id": correlation_id, "reason": reason}
        await self._record("released", correlation_id, released_by, now, details)
        affected = await self.repository.events_of(correlation_id)
        return LegalHoldReleased(
            correlation_id=correlation_id,
            events_affected=affected,
            released_by=released_by,
            released_at=now,
            reason=reason,
        )

    async def active(self) -> LegalHolds:
        holds = [
            LegalHold(
                correlation_id=row["correlation_id"],
                events_affected=row["events_affected"],
                placed_by=row["placed_by"],
                placed_at=row["placed_at"],
                reason=row["reason"],
            )
            for row in await self.repository.active()
        ]
        return LegalHolds(legal_holds=holds, total=len(holds))

    async def _record(
        self, action: Literal["placed", "released"], correlation_id: str, actor: str, at: datetime, data: dict[str, Any]
    ) -> None:
        """The hold's own audit event, in the request's transaction: stored if and only if the hold is."""
        row: dict[str, Any] = {
            "event_id": uuid.uuid4(), "version": "1.0", "event_type": f"audit.legal_hold.{action}",
            "event_timestamp": at, "event_date": at.astimezone(UTC).date(), "event_category": "audit",
            "event_action": action, "event_outcome": "success", "correlation_id": correlation_id,
            "actor_type": "user", "actor_id": actor, "resource_type": "legal_hold",
            "resource_id": str(data["hold_id"]), "parent_event_id": None, "namespace": None, "cluster_name": None,
            "severity": None, "duration_ms": None, "event_data": {**data, "hold_id": str(data["hold_id"])},
        }  # fmt: skip
        await self.partitions.ensure([row["event_date"]])
        await self.chain.append(await self.session.connection(), [row])
