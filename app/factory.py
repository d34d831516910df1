"""The application factory: wiring only; the lifespan opens and closes what the app holds."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import anyio.to_thread
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from sqlalchemy.ext.asyncio import AsyncEngine

from app.audit.controllers import AuditEventController
from app.audit.notification_controllers import NotificationAuditController
from app.audit.partitions import PartitionKeeper
from app.audit.self_audit import SearchAuditWriter
from app.body_checks import check_request_body
from app.database import asyncpg_url, create_engine, create_sessionmaker, locate_database, provide_db_session
from app.deadlines import deadline_middleware
from app.embedding_runtime import EmbeddingRuntime
from app.errors import exception_handlers
from app.health import HealthController
from app.lifecycle import Lifecycle
from app.remediation.controllers import RemediationAuditController
from app.remediation.vector_store import PgVectorStore
from app.settings import Settings, load_settings
from app.workflows.controllers import WorkflowController
from embeddings.model import Encoder

logger = logging.getLogger(__name__)


async def open_vector_store(settings: Settings, engine: AsyncEngine, stack: AsyncExitStack) -> PgVectorStore:
    """The remediation vector store: this database, or the one at VECTOR_DATABASE_URL."""
    if not settings.vector_database_url:
        return PgVectorStore(engine, same_database=True)
    vector_engine = create_engine(asyncpg_url(settings.vector_database_url), settings)
    stack.push_async_callback(vector_engine.dispose)
    store = PgVectorStore(vector_engine, same_database=False)
    await store.ensure_schema(settings.embedding_dimension)
    return store


def create_app(settings: Settings | None = None, *, encoder: Encoder | None = None) -> Litestar:
    """The service. ``encoder``: an already loaded model (tests load it once per session);
    without it the configured model loads in the background after start-up."""
    settings = settings or load_settings()
    embeddings = EmbeddingRuntime(settings)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        lifecycle: Lifecycle = app.state.lifecycle
        location = await anyio.to_thread.run_sync(locate_database, settings)
        engine = create_engine(location.url, settings)
        upkeep: asyncio.Task[None] | None = None
        stack = AsyncExitStack()
        search_audit: SearchAuditWriter | None = None
        try:
            await embeddings.check_dimension(engine)
            partitions = PartitionKeeper(engine)
            await partitions.ensure_ahead()
            upkeep = asyncio.create_task(partitions.keep_ahead(), name="audit-partition-upkeep")
            app.state.audit_partitions = partitions
            app.state.engine = engine
            app.state.sessionmaker = create_sessionmaker(engine)
            app.state.remediation_vectors = await open_vector_store(settings, engine, stack)
            search_audit = SearchAuditWriter(app.state.sessionmaker, partitions)
            search_audit.start()
            app.state.search_audit = search_audit
            embeddings.start(engine, encoder)
            lifecycle.phase = "serving"
            yield
        finally:
            lifecycle.phase = "shutting_down"
            if upkeep is not None:
                upkeep.cancel()
            if search_audit is not None:
                await search_audit.close()
            await embeddings.close()
            await stack.aclose()
            await engine.dispose()
            await anyio.to_thread.run_sync(location.close)

    return Litestar(
        route_handlers=[
            WorkflowController,
            AuditEventController,
            NotificationAuditController,
            RemediationAuditController,
            HealthController,
        ],
        dependencies={"db_session": Provide(provide_db_session)},
        before_request=check_request_body,
        middleware=[deadline_middleware(settings)],
        exception_handlers=exception_handlers(),  # type: ignore[arg-type]
        lifespan=[lifespan],
        state=State({"settings": settings, "lifecycle": Lifecycle(), "embeddings": embeddings}),
        request_max_body_size=settings.max_request_body_bytes,
        openapi_config=OpenAPIConfig(
            title="workflow-search",
            version="1.0.0",
            description="Workflow catalog and search, wire-compatible with the kubernaut Data Storage v1 API.",
        ),
        debug=False,
    )
