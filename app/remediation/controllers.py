"""HTTP routes of remediation audits."""

from __future__ import annotations

from litestar import Controller, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody

from app.remediation.dual_write import DualWriteCoordinator
from app.remediation.schemas import RemediationAuditRequest, RemediationAuditWritten


def provide_coordinator(state: State) -> DualWriteCoordinator:
    return DualWriteCoordinator(state.engine, state.remediation_vectors, state.embeddings.embedder)


class RemediationAuditController(Controller):
    path = "/api/v1/audit/remediations"
    tags = ["Remediation Audit API"]  # noqa: RUF012 - Litestar reads it as a class attribute
    dependencies = {"coordinator": Provide(provide_coordinator, sync_to_thread=False)}  # noqa: RUF012

    @post(operation_id="createRemediationAudit", summary="Record a remediation (PostgreSQL + vector store)")
    async def create(
        self, data: JSONBody[RemediationAuditRequest], coordinator: NamedDependency[DualWriteCoordinator]
    ) -> RemediationAuditWritten:
        return await coordinator.record(data)
