"""Where the database is (embedded pgserver or ``DATABASE_URL``), the engine, and sessions."""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import msgspec
from platformdirs import RuntimeDirWarning
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from app.lib.database_errors import is_outage
from app.lib.errors import DatabaseUnavailable
from app.lib.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DatabaseLocation:
    """A SQLAlchemy URL and, for the embedded default, the server handle that keeps it running."""

    url: str
    embedded_server: Any = None

    def close(self) -> None:
        if self.embedded_server is not None:
            self.embedded_server.cleanup()


def start_embedded(pgdata: Path) -> Any:
    """Start (or join) the pgserver PostgreSQL 16 + pgvector instance in ``pgdata``.

    Blocking; callers on the event loop run it in a worker thread.
    """
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    # Importing pgserver asks platformdirs for a runtime directory (its lock file). Without
    # XDG_RUNTIME_DIR (containers, cron, CI) platformdirs falls back to /tmp/runtime-<uid> and
    # warns with a traceback line on every start; the fallback is fine, the warning is noise.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeDirWarning)
        from pgserver.postgres_server import get_server  # noqa: PLC0415 - heavy, and only the embedded default needs it

        return get_server(pgdata, cleanup_mode="stop")


def asyncpg_url(url: str) -> str:
    """``postgresql://`` (any libpq-style form) as SQLAlchemy's ``postgresql+asyncpg://``."""
    parts = urlsplit(url)
    if parts.scheme not in {"postgresql", "postgres", "postgresql+asyncpg"}:
        raise ValueError(f"DATABASE_URL must be a postgresql:// URL, not {parts.scheme}://")
    return urlunsplit(parts._replace(scheme="postgresql+asyncpg"))


def locate_database(settings: Settings) -> DatabaseLocation:
    if settings.database_url:
        return DatabaseLocation(url=asyncpg_url(settings.database_url))
    server = start_embedded(settings.embedded_pgdata)
    logger.info("embedded PostgreSQL running in %s", settings.embedded_pgdata)
    return DatabaseLocation(url=asyncpg_url(server.get_uri()), embedded_server=server)


def _json_text(value: object) -> str:
    return msgspec.json.encode(value).decode()


def create_engine(url: str, settings: Settings) -> AsyncEngine:
    return create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=0,
        pool_timeout=settings.db_pool_timeout_seconds,
        # No pre-ping: with asyncpg it is three round trips (BEGIN, ping, ROLLBACK) on every checkout.
        # A connection lost to a restart fails one statement instead, and that failure drops the
        # whole pool (SQLAlchemy invalidates every older connection), so the next checkout is fresh.
        pool_pre_ping=False,
        hide_parameters=True,  # errors and logs name the SQL, never the values (request data, secrets)
        # JSON and JSONB values (every audit event's event_data) through msgspec, not the standard
        # library: several times faster, and what it writes for a value the API accepted is the same JSON.
        json_serializer=_json_text,
        json_deserializer=msgspec.json.decode,
    )


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """The engine on the configured database (the embedded one started if need be), disposed
    and the embedded server released on exit: what every command and the service open first."""
    location = await asyncio.to_thread(locate_database, settings)
    try:
        engine = create_engine(location.url, settings)
        try:
            yield engine
        finally:
            await engine.dispose()
    finally:
        await asyncio.to_thread(location.close)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def driver_connection(engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection's asyncpg connection itself, for a read path that is one statement.

    No SQL layer: no compile, no parameter processing, no cursor or result wrappers, and outside
    any transaction, since nothing goes through SQLAlchemy to begin one (asyncpg prepares and caches
    the statement per connection). The pool, its size and its wait are the engine's. What
    SQLAlchemy would do for a lost connection is done here: the pool drops every connection as old
    as the lost one, and the request answers 503.
    """
    async with engine.connect() as connection:
        fairy = await connection.get_raw_connection()
        try:
            yield fairy.driver_connection
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as error:
            if not is_outage(error):
                raise
            # The pool's own response to a disconnect (private, as SQLAlchemy calls it itself).
            engine.sync_engine.pool._invalidate(fairy, error)
            logger.warning("database unavailable on a read (%s)", type(error).__name__)
            raise DatabaseUnavailable("the database is unavailable; retry shortly") from error
