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
from litestar.types import ASGIApp
from sqlalchemy.ext.asyncio import AsyncEngine

from app.access import AccessToken, access_middleware, load_tokens
from app.audit.controllers import AuditEventController
from app.audit.group_commit import GroupCommitter
from app.audit.notification_controllers import NotificationAuditController
from app.audit.partitions import PartitionKeeper
from app.audit.self_audit import SearchAuditWriter
from app.audit.writer import AuditWriter
from app.body_checks import check_request_body
from app.database import create_engine, create_sessionmaker, locate_database, provide_db_session
from app.deadlines import deadline_middleware
from app.dlq.runtime import DeadLetterRuntime
from app.embedding_runtime import EmbeddingRuntime
from app.errors import exception_handlers
from app.health import HealthController
from app.lifecycle import Lifecycle
from app.metrics import POOL
from app.observability import MetricsController, request_context_middleware
from app.openapi import document_problems
from app.query_leniency import empty_query_values_absent
from app.ratelimit import TokenBuckets, rate_limit_middleware
from app.remediation.controllers import RemediationAuditController
from app.remediation.resync import keep_in_sync
from app.remediation.vector_store import open_vector_store
from app.settings import Settings, load_settings
from app.workflows.controllers import WorkflowController
from embeddings.model import Encoder

logger = logging.getLogger(__name__)


async def cancel_and_wait(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def open_audit_storage(
    state: State, settings: Settings, engine: AsyncEngine, partitions: PartitionKeeper, stack: AsyncExitStack
) -> DeadLetterRuntime:
    """The audit write path: group commit, the dead letter queue behind it, and the writer."""
    dead_letters = await DeadLetterRuntime.open(settings, engine)
    stack.push_async_callback(dead_letters.close)
    group_commit = GroupCommitter(engine, partitions, commit_timeout=settings.audit_write_timeout_seconds)
    stack.push_async_callback(group_commit.close)
    state.dead_letters = dead_letters
    state.audit_partitions = partitions
    state.audit_group_commit = group_commit
    state.audit_writer = AuditWriter(engine, partitions, group_commit, dead_letters.fallback)
    return dead_letters


def create_app(settings: Settings | None = None, *, encoder: Encoder | None = None) -> Litestar:
    """The service. ``encoder``: an already loaded model (tests load it once per session);
    without it the configured model loads in the background after start-up."""
    settings = settings or load_settings()
    tokens = load_tokens(settings.auth_tokens, settings.auth_tokens_file)
    embeddings = EmbeddingRuntime(settings)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        lifecycle: Lifecycle = app.state.lifecycle
        location = await anyio.to_thread.run_sync(locate_database, settings)
        engine = create_engine(location.url, settings)
        POOL.engines.append(engine)
        upkeep: asyncio.Task[None] | None = None
        stack = AsyncExitStack()
        search_audit: SearchAuditWriter | None = None
        dead_letters: DeadLetterRuntime | None = None
        try:
            await embeddings.check_dimension(engine)
            partitions = PartitionKeeper(engine)
            await partitions.ensure_ahead()
            upkeep = asyncio.create_task(partitions.keep_ahead(), name="audit-partition-upkeep")
            dead_letters = await open_audit_storage(app.state, settings, engine, partitions, stack)
            app.state.engine = engine
            app.state.sessionmaker = create_sessionmaker(engine)
            app.state.remediation_vectors = await open_vector_store(settings, engine, stack)
            if settings.remediation_resync_interval_seconds > 0:
                resync = asyncio.create_task(
                    keep_in_sync(
                        engine,
                        app.state.remediation_vectors,
                        embeddings.current_encoder,
                        settings.remediation_resync_interval_seconds,
                    ),
                    name="remediation-vector-resync",
                )
                stack.push_async_callback(cancel_and_wait, resync)
            search_audit = SearchAuditWriter(app.state.audit_writer)
            search_audit.start()
            app.state.search_audit = search_audit
            dead_letters.start()
            embeddings.start(engine, encoder)
            lifecycle.phase = "serving"
            yield
        finally:
            # Requests are done (the server let in-flight ones finish); store what is left.
            lifecycle.phase = "shutting_down"
            if upkeep is not None:
                upkeep.cancel()
            if search_audit is not None:
                await search_audit.close()
            await embeddings.close()
            if dead_letters is not None:
                await dead_letters.stop_and_drain()
            await stack.aclose()
            POOL.engines.remove(engine)
            await engine.dispose()
            await anyio.to_thread.run_sync(location.close)

    application = Litestar(
        route_handlers=[
            WorkflowController,
            AuditEventController,
            NotificationAuditController,
            RemediationAuditController,
            HealthController,
            MetricsController,
        ],
        dependencies={"db_session": Provide(provide_db_session)},
        before_request=check_request_body,
        middleware=[empty_query_values_absent, deadline_middleware(settings)],
        exception_handlers=exception_handlers(),  # type: ignore[arg-type]
        lifespan=[lifespan],
        state=State({"settings": settings, "lifecycle": Lifecycle(), "embeddings": embeddings}),
        request_max_body_size=settings.max_request_body_bytes,
        openapi_config=OpenAPIConfig(
            title="workflow-search",
            version="1.0.0",
            description="Workflow catalog and search, wire-compatible with the kubernaut Data Storage v1 API.",
        ),
        logging_config=None,  # the process's logging is app.logs (structlog); Litestar adds none of its own
        debug=False,
    )
    document_problems(application.openapi_schema)
    application.asgi_handler = _outer_middleware(application, tokens, settings)
    return application


def _outer_middleware(application: Litestar, tokens: tuple[AccessToken, ...], settings: Settings) -> ASGIApp:
    """Around the router, not per route: unmatched paths (404, 405) and refused tokens (401, 403)
    get an id, a count and a log line too."""
    buckets = (
        TokenBuckets(settings.rate_limit_per_second, settings.rate_limit_burst)
        if settings.rate_limit_per_second > 0
        else None
    )
    guarded = access_middleware(application.asgi_handler, tokens, settings.problem_base_url)
    return request_context_middleware(rate_limit_middleware(guarded, buckets, settings.problem_base_url))
