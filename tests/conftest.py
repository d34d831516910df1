"""Shared fixtures: one real PostgreSQL (pgserver) per test session, migrated once.

Set ``WORKFLOW_SEARCH_TEST_DATABASE_URL`` to run against another PostgreSQL with pgvector
instead; the suite drops and recreates its own database there.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from litestar import Litestar
from sqlalchemy import text

from app import migrate
from app.database import asyncpg_url, start_embedded
from app.factory import create_app
from app.settings import Settings
from embeddings.model import ModelSpec, SentenceEncoder

hypothesis_settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
hypothesis_settings.register_profile(
    "dev", deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile("ci" if os.environ.get("CI") else "dev")

TEST_DATABASE = "workflow_search_test"
REFERENCE_SPEC = Path(__file__).parent / "reference" / "kubernaut-data-storage-v1.yaml"


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    # Outside pytest's basetemp: pgserver runs PostgreSQL as another user and widens the
    # permissions of its parents, which a concurrent pytest run would narrow again.
    workdir = Path(tempfile.mkdtemp(prefix="workflow-search-pg-"))
    server = start_embedded(workdir / "pgdata")
    server.psql(f"DROP DATABASE IF EXISTS {TEST_DATABASE}; CREATE DATABASE {TEST_DATABASE};")
    url = asyncpg_url(server.get_uri(database=TEST_DATABASE))
    migrate.upgrade(url)
    yield url
    server.cleanup()
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=str(tmp_path_factory.mktemp("data")),
        embedding_backfill_on_start=False,
        remediation_resync_interval_seconds=0,  # tests re-sync explicitly; a timed round would race them
    )


@pytest.fixture(scope="session")
async def app(settings: Settings, sentence_encoder: SentenceEncoder) -> AsyncIterator[Litestar]:
    """The app, with the real model, its lifespan run on the tests' own event loop."""
    application = create_app(settings, encoder=sentence_encoder)
    started, stop = asyncio.Event(), asyncio.Event()

    async def hold_lifespan() -> None:
        # Entered and exited in this one task: the lifespan's cancel scope requires it.
        async with application.lifespan():
            started.set()
            await stop.wait()

    holder = asyncio.create_task(hold_lifespan())
    await asyncio.wait([holder, asyncio.create_task(started.wait())], return_when=asyncio.FIRST_COMPLETED)
    if holder.done():
        holder.result()  # start-up failed: raise its error here
    yield application
    stop.set()
    await holder


@pytest.fixture(scope="session")
async def app_client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def truncate_all(app: Litestar) -> None:
    # Searches leave audit events written in the background: store them before emptying the tables.
    await app.state.search_audit.flush()
    async with app.state.engine.begin() as connection:
        await connection.execute(
            text("TRUNCATE workflows, audit_events, notification_audit, remediation_audits, remediation_audit_vectors")
        )


@pytest.fixture
async def client(app: Litestar, app_client: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """The app over HTTP, on an empty catalog that is emptied again afterwards."""
    await truncate_all(app)
    yield app_client
    await truncate_all(app)


@pytest.fixture(scope="session")
def sentence_encoder() -> SentenceEncoder:
    """The real packaged all-MiniLM-L6-v2, loaded once for the whole session."""
    return SentenceEncoder.load(ModelSpec())
