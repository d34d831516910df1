"""Shared fixtures: one real PostgreSQL (pgserver) per test session, migrated once.

Set ``WORKFLOW_SEARCH_TEST_DATABASE_URL`` to run against another PostgreSQL with pgvector
instead; the suite drops and recreates its own database there.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import redis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from litestar import Litestar
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from app.cli import migrate
from app.dlq.backends import open_dead_letter_queue
from app.dlq.queue import DeadLetterQueue
from app.factory import create_app
from app.http.runtime import runtime_of
from app.lib.database import asyncpg_url, start_embedded
from app.lib.logs import configure_logging
from app.lib.settings import Settings
from embeddings.model import ModelSpec, SentenceEncoder
from tests.servers import asgi_transport, redis_server, running

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


@pytest.fixture(scope="session", autouse=True)
def structured_logging() -> Iterator[None]:
    """The service's logging: structlog through the standard library, as ``workflow-search`` sets it up.
    Removed at the end: its stream is pytest's capture, closed before exit-time cleanups log."""
    configure_logging("INFO", "json")
    yield
    logging.getLogger().handlers.clear()


async def _recreate_database(server_url: str, name: str) -> None:
    admin = create_async_engine(asyncpg_url(server_url), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            await connection.execute(text(f"CREATE DATABASE {name}"))
    finally:
        await admin.dispose()


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    external = os.environ.get("WORKFLOW_SEARCH_TEST_DATABASE_URL")
    if external:  # another PostgreSQL with pgvector: the suite's own database on it
        asyncio.run(_recreate_database(external, TEST_DATABASE))
        url = make_url(asyncpg_url(external)).set(database=TEST_DATABASE).render_as_string(hide_password=False)
        migrate.upgrade(url)
        yield url
        return
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
        dlq_retry_delays_seconds=(0.1, 0.2, 0.3),
        dlq_poll_interval_seconds=0.1,
        # The DLQ gauges are per process: a worker of the shared app would overwrite the values
        # of the queue a test is looking at. Tests that need a worker turn it on.
        dlq_worker=False,
        shutdown_drain_seconds=5,
    )


@pytest.fixture(scope="session")
async def app(settings: Settings, sentence_encoder: SentenceEncoder) -> AsyncIterator[Litestar]:
    """The app, with the real model, its lifespan run on the tests' own event loop."""
    async with running(create_app(settings, encoder=sentence_encoder)) as application:
        yield application


@pytest.fixture(scope="session")
async def app_client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    transport = asgi_transport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def truncate_all(app: Litestar) -> None:
    # Searches leave audit events written in the background: store them before emptying the tables.
    await runtime_of(app).search_audit.flush()
    async with runtime_of(app).engine.begin() as connection:
        await connection.execute(
            text(
                "TRUNCATE workflows, audit_events, audit_chain_heads, audit_legal_holds, notification_audit, "
                "remediation_audits, remediation_audit_vectors"
            )
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


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real redis-server for the session; tests that use it flush it first."""
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(params=["redis", "sqlite"])
def dlq_backend(request: pytest.FixtureRequest) -> str:
    """Run the test once per dead letter queue backend."""
    return str(request.param)


@pytest.fixture
def dlq_settings(dlq_backend: str, request: pytest.FixtureRequest, settings: Settings, tmp_path: Path) -> Settings:
    """Settings for a fresh, empty queue of ``dlq_backend`` with a schedule of tenths of a second."""
    if dlq_backend == "redis":
        url = request.getfixturevalue("redis_url")
        redis.Redis.from_url(url).flushall()
        return settings.with_overrides(
            dlq_backend="redis", redis_url=url, dlq_retry_delays_seconds=(0.1, 0.2, 0.3), dlq_max_length=20
        )
    return settings.with_overrides(
        dlq_backend="sqlite", data_dir=str(tmp_path), dlq_retry_delays_seconds=(0.1, 0.2, 0.3), dlq_max_length=20
    )


@pytest.fixture
async def dead_letter_queue(dlq_settings: Settings) -> AsyncIterator[DeadLetterQueue]:
    queue = await open_dead_letter_queue(dlq_settings)
    yield queue
    await queue.close()
