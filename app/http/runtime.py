"""What the running service holds, in one typed object: ``app.state.runtime``.

The lifespan builds it once everything is open (``app.factory``);
its parts reach request handlers as dependencies of their own types (``RUNTIME_DEPENDENCIES``),
so the capability packages never import this wiring. Nothing else lives on ``app.state``.
It is frozen: a test that needs another store builds a copy with ``dataclasses.replace`` and
puts that in place, so what it swapped is typed and visible. ``workflow_search`` is built once
from the parts above it (it holds nothing per request), so a search costs no dependency graph.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.audit.self_audit import SearchAuditBuffer
from app.audit.writer import AuditWriter
from app.dlq.runtime import DeadLetterRuntime
from app.lib.lifecycle import Lifecycle
from app.lib.settings import Settings
from app.remediation.vector_store import VectorStore
from app.workflows.search_service import WorkflowSearch
from embeddings.runtime import EmbeddingRuntime


@dataclass(frozen=True, slots=True, kw_only=True)
class Runtime:
    settings: Settings
    lifecycle: Lifecycle
    embeddings: EmbeddingRuntime
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    dead_letters: DeadLetterRuntime
    audit_writer: AuditWriter
    search_audit: SearchAuditBuffer
    remediation_vectors: VectorStore
    workflow_search: WorkflowSearch


def runtime_of(app: Litestar) -> Runtime:
    """The app's runtime; only while its lifespan runs."""
    runtime: Runtime = app.state.runtime
    return runtime


def set_runtime(app: Litestar, runtime: Runtime) -> None:
    app.state.runtime = runtime


def provide_runtime(state: State) -> Runtime:
    runtime: Runtime = state.runtime
    return runtime


async def provide_db_session(runtime: NamedDependency[Runtime]) -> AsyncGenerator[AsyncSession, None]:
    """One session per request: committed when the handler succeeds, rolled back on any error.

    Litestar resumes this generator after the handler returns and before the response is
    sent, so a failed commit still becomes the client's error response.
    """
    async with runtime.sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()


def provide_settings(runtime: NamedDependency[Runtime]) -> Settings:
    return runtime.settings


def provide_engine(runtime: NamedDependency[Runtime]) -> AsyncEngine:
    return runtime.engine


def provide_embeddings(runtime: NamedDependency[Runtime]) -> EmbeddingRuntime:
    return runtime.embeddings


def provide_audit_writer(runtime: NamedDependency[Runtime]) -> AuditWriter:
    return runtime.audit_writer


def provide_search_audit(runtime: NamedDependency[Runtime]) -> SearchAuditBuffer:
    return runtime.search_audit


def provide_remediation_vectors(runtime: NamedDependency[Runtime]) -> VectorStore:
    return runtime.remediation_vectors


def provide_workflow_search(runtime: NamedDependency[Runtime]) -> WorkflowSearch:
    return runtime.workflow_search


# The app-level dependencies: the runtime, its parts, and a session per request.
RUNTIME_DEPENDENCIES = {
    "runtime": Provide(provide_runtime, sync_to_thread=False),
    "settings": Provide(provide_settings, sync_to_thread=False),
    "engine": Provide(provide_engine, sync_to_thread=False),
    "embeddings": Provide(provide_embeddings, sync_to_thread=False),
    "audit_writer": Provide(provide_audit_writer, sync_to_thread=False),
    "search_audit": Provide(provide_search_audit, sync_to_thread=False),
    "remediation_vectors": Provide(provide_remediation_vectors, sync_to_thread=False),
    "db_session": Provide(provide_db_session),
    "workflow_search": Provide(provide_workflow_search, sync_to_thread=False),
}
