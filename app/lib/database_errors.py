"""The rules on database errors: which mean "not now" (an outage that will pass) rather than
"not this", and which are a duplicate key."""

from __future__ import annotations

import asyncpg
import sqlalchemy.exc

# SQLSTATE classes and codes that say "not now" rather than "not this": connection exceptions,
# insufficient resources, operator intervention (shutdown, cannot connect now, cancelled).
OUTAGE_STATE_PREFIXES = ("08", "53", "57", "58")


def is_outage(error: BaseException) -> bool:
    """Whether ``error`` means the database could not take a write now (so it may later)."""
    if isinstance(error, TimeoutError | OSError | sqlalchemy.exc.TimeoutError):
        return True
    if isinstance(error, sqlalchemy.exc.DBAPIError):
        if error.connection_invalidated or isinstance(error, sqlalchemy.exc.InterfaceError):
            return True
        state = getattr(error.orig, "sqlstate", None) or ""
        if state.startswith(OUTAGE_STATE_PREFIXES):
            return True
        cause = error.orig.__cause__ if error.orig is not None else None
        return cause is not None and cause is not error and is_outage(cause)
    if isinstance(error, asyncpg.exceptions.InterfaceError):  # closed or lost connection
        return True
    state = getattr(error, "sqlstate", None)
    return isinstance(state, str) and state.startswith(OUTAGE_STATE_PREFIXES)


UNIQUE_VIOLATION = "23505"


def is_unique_violation(error: sqlalchemy.exc.IntegrityError) -> bool:
    """A duplicate key (a conflict the client can act on), not some other broken constraint."""
    return getattr(error.orig, "sqlstate", None) == UNIQUE_VIOLATION
