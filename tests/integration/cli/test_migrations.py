"""The schema comes only from Alembic, and both directions work."""

import asyncio

import asyncpg
import pytest

from app.cli import migrate

SCRATCH = "workflow_search_migrations"


def _libpq(url: str, database: str) -> str:
    base, _, query = url.replace("postgresql+asyncpg://", "postgresql://").partition("?")
    return f"{base.rsplit('/', 1)[0]}/{database}?{query}"


async def _tables(url: str) -> set[str]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "UNION SELECT 'ext:' || extname FROM pg_extension WHERE extname = 'vector'"
        )
        return {row[0] for row in rows}
    finally:
        await connection.close()


@pytest.fixture
async def scratch_url(database_url: str) -> str:
    admin = await asyncpg.connect(_libpq(database_url, "postgres"))
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {SCRATCH}")
        await admin.execute(f"CREATE DATABASE {SCRATCH}")
    finally:
        await admin.close()
    return _libpq(database_url, SCRATCH)


async def test_upgrade_downgrade_and_upgrade_again(scratch_url: str) -> None:
    url = scratch_url.replace("postgresql://", "postgresql+asyncpg://")
    await asyncio.to_thread(migrate.upgrade, url)
    assert {"workflows", "alembic_version", "ext:vector"} <= await _tables(scratch_url)

    await asyncio.to_thread(migrate.downgrade, url, "base")
    assert await _tables(scratch_url) == {"alembic_version"}

    await asyncio.to_thread(migrate.upgrade, url)
    assert "workflows" in await _tables(scratch_url)
