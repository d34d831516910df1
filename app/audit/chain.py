"""Appending to the hash chains: every write path's INSERT of audit events goes through here.

Appends to one correlation are serialised by a transaction-scoped advisory lock on it, taken
before its chain head is read, and released by the COMMIT that makes the new head visible. A
write holding several correlations (a group, a batch) takes their locks in one statement in key
order, so two writers never wait on each other in a cycle. The head lives in a table of its own
(``audit_chain_heads``), not found by reading ``audit_events``: that read would touch every
monthly partition, and a lock on one month would then stall the writers of all the others.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from app.audit.canonical import MIN_KEY_BYTES, ChainHasher, lock_key
from app.audit.repository import AuditRepository
from app.lib.settings import Settings


class ChainAppender:
    def __init__(self, hasher: ChainHasher | None = None, *, enabled: bool = True) -> None:
        self.hasher = hasher or ChainHasher()
        self.enabled = enabled  # off: rows are stored without chain fields and without locks

    async def append(
        self, connection: AsyncConnection, rows: Sequence[Mapping[str, Any]], *, skip_stored: bool = False
    ) -> None:
        """Insert ``rows`` in the caller's transaction, each linked after the one before it in
        its correlation. ``skip_stored``: leave out rows already stored (a replay), so that only
        what is really inserted moves the chain on."""
        repository = AuditRepository(connection)
        if not rows:
            return
        if not self.enabled:
            await (repository.insert_once if skip_stored else repository.insert_many)(rows)
            return
        correlations = sorted({row["correlation_id"] for row in rows})
        await repository.lock_chains(sorted({lock_key(correlation) for correlation in correlations}))
        if skip_stored:
            stored = await repository.stored_keys(rows)
            rows = [row for row in rows if row["event_id"] not in stored]
            if not rows:
                return
        heads = await repository.chain_heads(correlations)
        chained = [self._link(row, heads) for row in rows]
        await repository.insert_many(chained)
        await repository.move_chain_heads(list(heads.values()))

    def _link(self, row: Mapping[str, Any], heads: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """``row`` with its chain fields; ``heads`` moves on to it."""
        correlation = row["correlation_id"]
        head = heads.get(correlation)
        previous = None if head is None else head["event_hash"]
        sequence = 1 if head is None else head["chain_sequence"] + 1
        event_hash = self.hasher.sign(previous, row)
        heads[correlation] = {
            "correlation_id": correlation,
            "event_id": row["event_id"],
            "event_hash": event_hash,
            "chain_sequence": sequence,
        }
        return {
            **row,
            "chain_sequence": sequence,
            "previous_event_hash": previous,
            "event_hash": event_hash,
            "hash_algorithm": self.hasher.algorithm,
        }


class ChainKeyError(ValueError):
    """The HMAC key setting cannot be used; the message names the variable, never the key."""


def load_chain_key(settings: Settings) -> bytes | None:
    """The HMAC key: the inline setting, or the file's content without its trailing newline."""
    inline, file = settings.audit_chain_hmac_key, settings.audit_chain_hmac_key_file
    if inline and file:
        raise ChainKeyError(
            "set WORKFLOW_SEARCH_AUDIT_CHAIN_HMAC_KEY or WORKFLOW_SEARCH_AUDIT_CHAIN_HMAC_KEY_FILE, not both"
        )
    if file:
        try:
            key = Path(file).expanduser().read_bytes().rstrip(b"\r\n")
        except OSError as error:
            raise ChainKeyError(
                f"WORKFLOW_SEARCH_AUDIT_CHAIN_HMAC_KEY_FILE: cannot read {file}: {error.strerror}"
            ) from None
        variable = "WORKFLOW_SEARCH_AUDIT_CHAIN_HMAC_KEY_FILE"
    elif inline:
        key, variable = inline.encode(), "WORKFLOW_SEARCH_AUDIT_CHAIN_HMAC_KEY"
    else:
        return None
    if len(key) < MIN_KEY_BYTES:
        raise ChainKeyError(f"{variable}: the key must be at least {MIN_KEY_BYTES} bytes")
    return key


def chain_from_settings(settings: Settings) -> ChainAppender:
    return ChainAppender(ChainHasher(load_chain_key(settings)), enabled=settings.audit_hash_chain)
