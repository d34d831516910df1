"""HTTP routes of the workflow catalog and search: parse, call the service, return."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.lib.errors import ValidationFailed
from app.lib.validation import MAX_LIMIT, page_window, register_body_rule
from app.workflows.repository import WorkflowRepository
from app.workflows.schemas import (
    SearchRequest,
    SearchResponse,
    Workflow,
    WorkflowCreate,
    WorkflowDisable,
    WorkflowList,
    WorkflowUpdate,
    WorkflowVersions,
)
from app.workflows.search_service import WorkflowSearch
from app.workflows.service import WorkflowService, create_errors, search_errors
from embeddings.runtime import EmbeddingRuntime
from search.labels import WorkflowStatus


def provide_workflow_service(
    db_session: NamedDependency[AsyncSession], embeddings: NamedDependency[EmbeddingRuntime]
) -> WorkflowService:
    return WorkflowService(WorkflowRepository(db_session), embeddings)


def parse_workflow_id(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise ValidationFailed({"workflow_id": "must be a UUID"}) from None


# The service's rules, run by the strict body check as well when a body also breaks its schema.
register_body_rule(WorkflowCreate, lambda document, _: create_errors(document))
register_body_rule(SearchRequest, lambda document, settings: search_errors(document, settings.embedding_dimension))

Service = NamedDependency[WorkflowService]
LabelQuery = Annotated[str | None, QueryParameter(max_length=255)]
DEFAULT_LIMIT = 100


class WorkflowController(Controller):
    path = "/api/v1/workflows"
    tags = ["Workflow Catalog API"]  # noqa: RUF012 - Litestar reads it as a class attribute
    dependencies = {"service": Provide(provide_workflow_service, sync_to_thread=False)}  # noqa: RUF012

    @post(
        "/search",
        operation_id="searchWorkflows",
        status_code=200,
        summary="Label-based workflow search",
    )
    async def search(
        self, data: JSONBody[SearchRequest], workflow_search: NamedDependency[WorkflowSearch]
    ) -> SearchResponse:
        return await workflow_search.run(data)

    @post(operation_id="createWorkflow", summary="Create workflow")
    async def create(self, data: JSONBody[WorkflowCreate], service: Service) -> Workflow:
        return await service.create(data)

    @get(operation_id="listWorkflows", summary="List workflows")
    async def list_workflows(
        self,
        service: Service,
        status: FromQuery[WorkflowStatus | None] = None,
        environment: LabelQuery = None,
        priority: LabelQuery = None,
        component: LabelQuery = None,
        workflow_name: LabelQuery = None,
        limit: Annotated[int, QueryParameter(le=MAX_LIMIT)] = DEFAULT_LIMIT,
        offset: FromQuery[int] = 0,
    ) -> WorkflowList:
        limit, offset = page_window(limit, offset, DEFAULT_LIMIT)
        return await service.page(
            status=status,
            labels={"environment": environment, "priority": priority, "component": component},
            workflow_name=workflow_name,
            limit=limit,
            offset=offset,
        )

    @get("/{workflow_id:str}", operation_id="getWorkflowByID", summary="Get workflow by UUID")
    async def get_workflow(self, workflow_id: FromPath[str], service: Service) -> Workflow:
        return await service.get(parse_workflow_id(workflow_id))

    @patch("/{workflow_id:str}", operation_id="updateWorkflow", summary="Update workflow mutable fields")
    async def update(
        self,
        workflow_id: FromPath[str],
        data: JSONBody[WorkflowUpdate],
        request: Request[Any, Any, Any],
        service: Service,
    ) -> Workflow:
        # The struct drops unknown keys; the raw keys tell whether an immutable field was named.
        given = msgspec.json.decode(await request.body())
        return await service.update(parse_workflow_id(workflow_id), given.keys(), data)

    @patch("/{workflow_id:str}/disable", operation_id="disableWorkflow", summary="Disable workflow")
    async def disable(
        self, workflow_id: FromPath[str], service: Service, data: JSONBody[WorkflowDisable | None] = None
    ) -> Workflow:
        return await service.disable(parse_workflow_id(workflow_id), data or WorkflowDisable())

    @get(
        "/by-name/{workflow_name:str}/versions",
        operation_id="listWorkflowVersions",
        summary="Every version of one workflow, newest first",
    )
    async def versions(self, workflow_name: FromPath[str], service: Service) -> WorkflowVersions:
        return await service.versions(workflow_name)
