"""Verifying a correlation's hash chain: every stored event recomputed, every link followed.

Each chained event is checked twice: its own hash against its content and its stored previous
hash (an edited row), and its link against the event before it in chain order (a row removed,
inserted or forked in between). One bad row is named without condemning the rows after it,
because each is recomputed from its own stored previous hash. The chain head (the newest event
the writers linked to) shows when events at the end were removed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from app.audit.canonical import ChainHasher
from app.audit.integrity_schemas import ChainVerification
from app.audit.repository import AuditRepository
from app.lib.errors import MissingCorrelationId


@dataclass(slots=True)
class _Tally:
    verified: int = 0
    unchained: int = 0
    unverifiable: int = 0
    tampered: list[UUID] = field(default_factory=list)


class ChainVerifier:
    def __init__(
        self,
        repository: AuditRepository,
        hasher: ChainHasher,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.repository = repository
        self.hasher = hasher
        self.clock = clock

    async def verify(self, correlation_id: str | None) -> ChainVerification:
        if not correlation_id:
            raise MissingCorrelationId("correlation_id is required and must not be empty")
        await self.repository.one_snapshot()  # the rows and the head as of one moment, even mid-append
        head = await self.repository.chain_head(correlation_id)
        pruned = 0 if head is None else head["pruned_through_sequence"]
        # Retention removed the chain's oldest events up to the mark: the rest starts after it.
        rows = [
            row
            for row in await self.repository.chain_of(correlation_id)
            if row["chain_sequence"] is None or row["chain_sequence"] > pruned
        ]
        tally = self._check(rows, None if head is None or not pruned else head["pruned_through_hash"], pruned + 1)
        chained = [row for row in rows if row["hash_algorithm"] is not None]
        tail_broken, missing = _tail(chained, head)
        if missing is not None and missing not in tally.tampered:
            tally.tampered.append(missing)
        valid = not tally.tampered and not tail_broken and tally.verified == len(rows)
        return ChainVerification(
            correlation_id=correlation_id,
            is_valid=valid,
            total_events=len(rows),
            verified_events=tally.verified,
            tampered_events=tally.tampered,
            verification_time=self.clock(),
            message=_message(len(rows), tally, tail_broken, pruned),
        )

    def _check(self, rows: list[dict[str, Any]], before: str | None, sequence: int) -> _Tally:
        """``before``: the event hash of the chained event before the first (None: it is the first)."""
        tally = _Tally()
        for row in rows:
            algorithm = row["hash_algorithm"]
            if algorithm is None:  # stored before the chain existed, or with it turned off
                tally.unchained += 1
                continue
            linked = row["previous_event_hash"] == before and row["chain_sequence"] == sequence
            recomputed = self.hasher.digest(row["previous_event_hash"], row, algorithm)
            before, sequence = row["event_hash"], (row["chain_sequence"] or 0) + 1
            if not linked or (recomputed is not None and recomputed != row["event_hash"]):
                tally.tampered.append(row["event_id"])
            elif recomputed is None:
                tally.unverifiable += 1
            else:
                tally.verified += 1
        return tally


def _tail(chained: list[dict[str, Any]], head: dict[str, Any] | None) -> tuple[bool, UUID | None]:
    """Whether the chain's end is not where the writers left it, and the newest event they
    linked to when it is no longer stored (None: the head record itself is gone)."""
    last = chained[-1] if chained else None
    if head is None:
        return last is not None, None
    if last is None and head["chain_sequence"] == head["pruned_through_sequence"]:
        return False, None  # every event was removed by retention
    if last is not None and (last["event_hash"], last["chain_sequence"]) == (
        head["event_hash"],
        head["chain_sequence"],
    ):
        return False, None
    event_id: UUID = head["event_id"]
    return True, event_id


def _message(total: int, tally: _Tally, tail_missing: bool, pruned: int) -> str:
    removed = f"; its oldest {pruned} events were removed by retention" if pruned else ""
    if total == 0 and not tail_missing:
        return "no events are stored for this correlation" + removed
    parts = []
    if tally.tampered:
        parts.append(f"{len(tally.tampered)} events fail verification (altered, removed or out of chain)")
    if tail_missing:
        parts.append("the chain does not end at the newest event its writers linked to (events removed)")
    if tally.unchained:
        parts.append(f"{tally.unchained} events were stored without a chain")
    if tally.unverifiable:
        parts.append(f"{tally.unverifiable} events are HMAC-signed and no key is configured")
    if not parts:
        return f"chain intact: {tally.verified} of {total} events verified" + removed
    return f"{tally.verified} of {total} events verified; " + "; ".join(parts) + removed
