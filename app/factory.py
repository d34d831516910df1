"""The application factory: wiring only; the lifespan opens and closes what the app holds."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from litestar import Litestar
from litestar.openapi import OpenAPIConfig

from app.audit.chain import chain_from_settings
from app.audit.controllers import AuditEventController
from app.audit.group_commit import GroupCommitter
from app.audit.integrity_controllers import AuditIntegrityController
from app.audit.notification_controllers import NotificationAuditController
from app.audit.partitions import PartitionKeeper
from app.audit.replay import AuditReplayer
from app.audit.self_audit import SearchAuditBuffer
from app.audit.writer import AuditWriter
from app.dlq.runtime import DeadLetterRuntime
from app.http.access import load_tokens
from app.http.api_docs import render_plugins, ui_asset
from app.http.body_checks import check_request_body
from app.http.edge import Edge, EdgeConfig
from app.http.health import HealthController
from app.http.observability import MetricsController
from app.http.openapi import document_problems
from app.http.ratelimit import TokenBuckets
from app.http.runtime import RUNTIME_DEPENDENCIES, Runtime, set_runtime
from app.lib.database import create_sessionmaker, open_database
from app.lib.errors import exception_handlers
from app.lib.lifecycle import Lifecycle
from app.lib.metrics import POOL
from app.lib.settings import Settings, load_settings
from app.mcp.server import McpEndpoint, mount
from app.remediation.controllers import RemediationAuditController
from app.remediation.resync import keep_in_sync
from app.remediation.vector_store import open_vector_store
from app.workflows.controllers import WorkflowController
from app.workflows.repository import SearchRepository
from app.workflows.search_service import WorkflowSearch
from embeddings.model import Encoder
from embeddings.runtime import EmbeddingRuntime

logger = logging.getLogger(__name__)


async def cancel_and_wait(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def open_runtime(
    settings: Settings,
    lifecycle: Lifecycle,
    embeddings: EmbeddingRuntime,
    encoder: Encoder | None,
    stack: AsyncExitStack,
) -> Runtime:
    """Open everything the service holds, each closer pushed on ``stack`` as it is acquired, so
    that closing the stack tears down in the reverse order, the one read here from the bottom up."""
    engine = await stack.enter_async_context(open_database(settings))
    POOL.engines.append(engine)
    stack.callback(POOL.engines.remove, engine)
    await embeddings.check_dimension(engine)

    partitions = PartitionKeeper(engine)
    chain = chain_from_settings(settings)
    await partitions.ensure_ahead()
    stack.push_async_callback(
        cancel_and_wait, asyncio.create_task(partitions.keep_ahead(), name="audit-partition-upkeep")
    )
    dead_letters = await DeadLetterRuntime.open(settings, AuditReplayer(engine, partitions, chain))
    stack.push_async_callback(dead_letters.close)
    group_commit = GroupCommitter(engine, partitions, commit_timeout=settings.audit_write_timeout_seconds, chain=chain)
    stack.push_async_callback(group_commit.close)
    audit_writer = AuditWriter(engine, partitions, group_commit, dead_letters.fallback)

    vectors = await open_vector_store(settings, engine, stack)
    if settings.remediation_resync_interval_seconds > 0:
        resync = keep_in_sync(engine, vectors, embeddings.current_encoder, settings.remediation_resync_interval_seconds)
        stack.push_async_callback(cancel_and_wait, asyncio.create_task(resync, name="remediation-vector-resync"))

    # Started last, stopped first: the drain stores what the writers above left queued.
    dead_letters.start()
    stack.push_async_callback(dead_letters.stop_and_drain)
    search_audit = SearchAuditBuffer(audit_writer)
    search_audit.start()
    stack.push_async_callback(search_audit.close)
    embeddings.start(engine, encoder)
    stack.push_async_callback(embeddings.close)
    return Runtime(
        settings=settings,
        lifecycle=lifecycle,
        embeddings=embeddings,
        engine=engine,
        sessionmaker=create_sessionmaker(engine),
        dead_letters=dead_letters,
        audit_writer=audit_writer,
        search_audit=search_audit,
        remediation_vectors=vectors,
        workflow_search=WorkflowSearch(SearchRepository(engine), embeddings, search_audit),
    )


def create_app(
    settings: Settings | None = None, *, encoder: Encoder | None = None, lifecycle: Lifecycle | None = None
) -> Litestar:
    """The service. ``encoder``: an already loaded model (tests load it once per session);
    without it the configured model loads in the background after start-up. ``lifecycle``: the
    phase the server that runs the app watches (``app.cli.server``)."""
    settings = settings or load_settings()
    lifecycle = lifecycle or Lifecycle()
    tokens = load_tokens(settings.auth_tokens, settings.auth_tokens_file)
    embeddings = EmbeddingRuntime(settings.embedding_config())
    mcp = McpEndpoint(
        access_control=bool(tokens),
        max_body_bytes=settings.max_request_body_bytes,
        problem_base_url=settings.problem_base_url,
    )

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            try:
                runtime = await open_runtime(settings, lifecycle, embeddings, encoder, stack)
                set_runtime(app, runtime)
                # Entered last, left first: tool calls end before what they use is closed.
                await stack.enter_async_context(mcp.running(runtime))
                # What start-up built lives as long as the process: out of the collector's sight,
                # a full collection does not walk it with the event loop stopped (issue #16).
                gc.freeze()
                lifecycle.phase = "serving"
                yield
            finally:
                # Requests are done (the server let in-flight ones finish); store what is left.
                lifecycle.phase = "shutting_down"

    application = Litestar(
        route_handlers=[
            WorkflowController,
            AuditEventController,
            AuditIntegrityController,
            NotificationAuditController,
            RemediationAuditController,
            HealthController,
            MetricsController,
            ui_asset,
            mount(mcp),
        ],
        dependencies=RUNTIME_DEPENDENCIES,
        before_request=check_request_body,
        exception_handlers=exception_handlers(settings.problem_base_url),  # type: ignore[arg-type]
        lifespan=[lifespan],
        request_max_body_size=settings.max_request_body_bytes,
        openapi_config=OpenAPIConfig(
            title="workflow-search",
            version="1.0.0",
            description="Workflow catalog and search, wire-compatible with the kubernaut Data Storage v1 API.",
            render_plugins=render_plugins(),
        ),
        logging_config=None,  # the process's logging is app.lib.logs (structlog); Litestar adds none of its own
        debug=False,
    )
    document_problems(application.openapi_schema)
    # Around the router, not per route: unmatched paths (404, 405) and refused tokens (401, 403)
    # get an id, a count and a log line too.
    edge = EdgeConfig(
        tokens=tokens,
        buckets=TokenBuckets(settings.rate_limit_per_second, settings.rate_limit_burst)
        if settings.rate_limit_per_second > 0
        else None,
        request_timeout_seconds=settings.request_timeout_seconds,
        problem_base_url=settings.problem_base_url,
    )
    application.asgi_handler = Edge(application.asgi_handler, edge)
    return application
