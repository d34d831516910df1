"""Injected faults inside the real PostgreSQL: a trigger that sleeps, refuses, or fails at COMMIT."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


@asynccontextmanager
async def trigger_fault(
    engine: AsyncEngine, name: str, *, table: str, event: str, body: str, at_commit: bool = False
) -> AsyncIterator[None]:
    """Run ``body`` (PL/pgSQL) for each row on ``event`` ("INSERT", "UPDATE") of ``table``;
    ``at_commit`` defers it to COMMIT (a constraint trigger). Removed again on exit."""
    timing = (
        f"CONSTRAINT TRIGGER {name} AFTER {event} ON {table} DEFERRABLE INITIALLY DEFERRED"
        if at_commit
        else f"TRIGGER {name} BEFORE {event} ON {table}"
    )
    async with engine.begin() as connection:
        await connection.execute(
            text(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body} END $$")
        )
        await connection.execute(text(f"CREATE {timing} FOR EACH ROW EXECUTE FUNCTION {name}()"))
    try:
        yield
    finally:
        await remove_trigger_fault(engine, name, table=table)


async def remove_trigger_fault(engine: AsyncEngine, name: str, *, table: str) -> None:
    """End a fault early (safe to repeat)."""
    async with engine.begin() as connection:
        await connection.execute(text(f"DROP TRIGGER IF EXISTS {name} ON {table}"))
        await connection.execute(text(f"DROP FUNCTION IF EXISTS {name}()"))
