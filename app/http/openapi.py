"""The OpenAPI document says what the service really answers: every error is problem+json.

Litestar documents its own error shape (``status_code``, ``detail``) for validation errors and
nothing for the statuses that middleware produces (401, 403, 413, 429, 504). Clients and the
schemathesis run in the tests read this document, so the error responses are rewritten here,
once, after the routes are known.
"""

from __future__ import annotations

from http import HTTPStatus

from litestar.openapi.spec import (
    Components,
    OpenAPI,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Reference,
    RequestBody,
    Schema,
)
from litestar.openapi.spec.security_scheme import SecurityScheme
from prometheus_client import CONTENT_TYPE_LATEST

from app.lib.problems import CATALOGUE, PROBLEM_JSON

PROBLEM_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    required=["type", "title", "status", "detail", "instance"],
    properties={
        "type": Schema(type=OpenAPIType.STRING, description="URI naming the problem, ending in its slug"),
        "title": Schema(type=OpenAPIType.STRING),
        "status": Schema(type=OpenAPIType.INTEGER),
        "detail": Schema(type=OpenAPIType.STRING),
        "instance": Schema(type=OpenAPIType.STRING, description="the request path"),
        "field_errors": Schema(
            type=OpenAPIType.OBJECT,
            additional_properties=Schema(type=OpenAPIType.STRING),
            description="one message per invalid field, keyed by its path",
        ),
    },
    description="RFC 7807 problem details",
)

# Any API operation can be refused by validation, access control, the rate limit, its deadline,
# an unavailable dependency or an unexpected failure.
EVERY_API_OPERATION = (400, 401, 403, 429, 500, 503, 504)
WITH_A_BODY = (413,)
OPERATION_SPECIFIC: dict[str, tuple[int, ...]] = {
    "createWorkflow": (409,),
    "createNotificationAudit": (409,),
    "getWorkflowByID": (404,),
    "updateWorkflow": (404,),
    "disableWorkflow": (404,),
    "listWorkflowVersions": (404,),
    "placeLegalHold": (409,),
    "releaseLegalHold": (404,),
}
# Bodies that may be left out (Litestar marks every declared body required).
OPTIONAL_BODIES = frozenset({"releaseLegalHold"})
# Probes answer 503 in their own (reference) shape, not as problems.
PROBES_THAT_FAIL = ("/health", "/health/ready")
BEARER = "BearerAuth"


def document_problems(openapi: OpenAPI) -> None:
    components = openapi.components if isinstance(openapi.components, Components) else Components()
    components.schemas = {**(components.schemas or {}), "Problem": PROBLEM_SCHEMA}
    components.security_schemes = {
        **(components.security_schemes or {}),
        BEARER: SecurityScheme(type="http", scheme="bearer", description="needed once tokens are configured"),
    }
    openapi.components = components
    for path, item in (openapi.paths or {}).items():
        for method in ("get", "post", "patch", "put", "delete"):
            operation: Operation | None = getattr(item, method)
            if operation is None:
                continue
            if path.startswith("/api/"):
                _document_api_errors(operation, has_body=method in {"post", "patch", "put"})
            elif path in PROBES_THAT_FAIL:
                _document_probe_failure(operation)
            elif path == "/metrics":
                _document_metrics(operation)


def _document_api_errors(operation: Operation, *, has_body: bool) -> None:
    statuses = {
        *EVERY_API_OPERATION,
        *(WITH_A_BODY if has_body else ()),
        *OPERATION_SPECIFIC.get(operation.operation_id or "", ()),
    }
    kept = {code: response for code, response in (operation.responses or {}).items() if int(code) < 400}
    for status in sorted(statuses):
        kept[str(status)] = _problem_response(status)
    operation.responses = kept
    operation.security = [{BEARER: []}, {}]  # {}: no token needed until tokens are configured
    if operation.operation_id in OPTIONAL_BODIES and isinstance(operation.request_body, RequestBody):
        operation.request_body.required = False


def _problem_response(status: int) -> OpenAPIResponse:
    headers: dict[str, OpenAPIHeader | Reference] | None = None
    if status in {429, 503}:
        headers = {"Retry-After": OpenAPIHeader(schema=Schema(type=OpenAPIType.INTEGER), description="seconds")}
    slugs = ", ".join(problem.slug for problem in CATALOGUE if problem.status == status)
    return OpenAPIResponse(
        description=f"{HTTPStatus(status).phrase} (problem types: {slugs})",
        content={PROBLEM_JSON: OpenAPIMediaType(schema=Reference("#/components/schemas/Problem"))},
        headers=headers,
    )


def _document_probe_failure(operation: Operation) -> None:
    responses = operation.responses or {}
    ok = responses.get("200")
    if isinstance(ok, OpenAPIResponse):
        responses["503"] = OpenAPIResponse(description="not healthy or not ready", content=ok.content)
    operation.responses = responses


def _document_metrics(operation: Operation) -> None:
    text = OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING))
    operation.responses = {
        "200": OpenAPIResponse(description="Prometheus text format", content={CONTENT_TYPE_LATEST: text})
    }
