"""Schemathesis against the service's own OpenAPI document, over real HTTP: whatever the schema
allows (and the edge values it generates around it), no answer is a 5xx and every error is
problem+json. Bounded examples, derandomized, so a CI run is repeatable."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeAlias

import httpx
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from schemathesis import APIOperation, Case
from schemathesis.checks import not_a_server_error
from schemathesis.core.errors import InvalidSchema
from schemathesis.core.result import Err, Ok
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.commands import command_env, serving

# schemathesis' own signatures (get_all_operations) use the bare generic: its parameters are Any there too.
Operation: TypeAlias = APIOperation[Any, Any, Any, Any]


@pytest.fixture(scope="module")
def fuzz_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("fuzz")
    env = {**command_env(), "DATABASE_URL": database_url, "WORKFLOW_SEARCH_DATA_DIR": str(data_dir),
           "WORKFLOW_SEARCH_EMBEDDING_BACKFILL_ON_START": "false",
           "WORKFLOW_SEARCH_SHUTDOWN_PROPAGATION_SECONDS": "0"}  # fmt: skip
    with serving([], Path(data_dir) / "serve.log", env=env) as (base_url, _):
        yield base_url


@pytest.fixture(scope="module")
def api_schema(fuzz_server: str) -> BaseSchema:
    return schemathesis.openapi.from_url(f"{fuzz_server}/schema/openapi.json")


# Documented status, documented content type, body valid against the documented schema.
CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]


def check_response(case: Case[Operation]) -> None:
    response = case.call(timeout=30)
    reproduce = f"{case.method} {case.formatted_path} query={case.query} body={str(case.body)[:300]}"
    assert response.status_code < 500, f"{reproduce}\n-> {response.status_code} {response.text[:500]}"
    if response.status_code >= 400:
        header: list[str] | str = response.headers["content-type"]
        content_type = header[0] if isinstance(header, list) else header  # schemathesis: lists
        assert content_type.startswith("application/problem+json"), reproduce
        assert response.json()["status"] == response.status_code
    case.validate_response(response, checks=CONFORMANCE)


def _operation(result: Ok[Operation] | Err[InvalidSchema]) -> Operation:
    """The operation, or the schema error that kept schemathesis from reading it, raised."""
    if isinstance(result, Err):
        raise result.err()
    return result.ok()


def test_no_generated_request_gets_a_server_error_and_every_response_matches_the_schema(
    api_schema: BaseSchema,
) -> None:
    # Hypothesis driven directly (schemathesis' pytest plugin predates this pytest): each operation in turn.
    operations = [_operation(result) for result in api_schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:
        run = settings(
            max_examples=15, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )(given(case=operation.as_strategy())(check_response))
        run()


@pytest.mark.parametrize(
    ("path", "field"),
    [("/api/v1/workflows?component=%00", "component"), ("/api/v1/audit/events?event_type=a%00b", "event_type"),
     ],
)  # fmt: skip
async def test_values_the_database_cannot_take_are_validation_errors(
    client: httpx.AsyncClient, path: str, field: str
) -> None:
    """What the fuzzer found: a NUL in a query value. (An offset past any bigint, once a 500, is
    now read as the largest: test_reference_leniency.)"""
    response = await client.get(path)
    assert response.status_code == 400, response.text
    assert field in response.json()["field_errors"]


# The kubernaut reference document, beside this repository in CI as here: the contract a
# generated client is built from, rather than the service's own (richer) document.
REFERENCE_DOCUMENT = (
    Path(__file__).resolve().parents[3] / ".." / "shared" / "reference" / "kubernaut-data-storage-v1.yaml"
)
REFERENCE_CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
REFERENCE_EXAMPLES = 60

# Statuses the reference document leaves out where this service answers them on purpose
# (docs/api.md, "Where this service is stricter than the reference"), each with the fields that
# may cause it: any other field, or any other status, is still checked against the document.
UNDOCUMENTED_BY_THE_REFERENCE: dict[tuple[str, int], frozenset[str] | None] = {
    # The document gives the batch only a 201, yet its single-event operation documents the 400
    # that the same bad event gets; an empty batch is a 400 by the contract (shared/spec/api.md).
    ("createAuditEventsBatch", 400): None,  # None: any field
    # The document gives the query only a 200: a window or detail filter that means nothing is
    # named rather than widened to "everything" (an empty value is absent, as the reference has it).
    ("queryAuditEvents", 400): frozenset({"since", "until", "detail_key", "detail_value"}),
}


def reference_document() -> dict[str, Any]:
    """The reference as published, but for what it contradicts itself on (each said why)."""
    document: dict[str, Any] = yaml.safe_load(REFERENCE_DOCUMENT.read_text())
    # `instance` is "format: uri", yet its own example is a path ("/api/v1/audit/notifications"),
    # as RFC 9457 allows ("a URI reference") and as this service answers: checked as one.
    document["components"]["schemas"]["RFC7807Problem"]["properties"]["instance"]["format"] = "uri-reference"
    return document


def deliberately_undocumented(operation_id: str, status: int, body: Any) -> bool:
    if (operation_id, status) not in UNDOCUMENTED_BY_THE_REFERENCE:
        return False
    allowed = UNDOCUMENTED_BY_THE_REFERENCE[(operation_id, status)]
    named = set(body.get("field_errors") or {})
    return allowed is None or (bool(named) and named <= allowed)


def test_requests_the_reference_document_allows_get_answers_it_documents(fuzz_server: str) -> None:
    schema = schemathesis.openapi.from_dict(reference_document())
    # A NUL in a string is refused on purpose (PostgreSQL text cannot hold it; docs/api.md, "Where
    # this service is stricter"): test_values_the_database_cannot_take_are_validation_errors has it.
    schema.config.generation.update(allow_x00=False)
    operations = [_operation(result) for result in schema.get_all_operations()]
    assert {operation.definition.raw["operationId"] for operation in operations} >= {
        "searchWorkflows", "createWorkflow", "listWorkflows", "getWorkflowByID", "updateWorkflow", "disableWorkflow",
        "createAuditEvent", "createAuditEventsBatch", "queryAuditEvents", "createNotificationAudit",
        "healthCheck", "readinessCheck", "livenessCheck", "getMetrics",
    }  # fmt: skip

    def check(case: Case[Any]) -> None:
        response = case.call(base_url=fuzz_server, timeout=30)
        operation_id = case.operation.definition.raw["operationId"]
        body = response.json() if response.headers.get("content-type", [""])[0].endswith("json") else {}
        if deliberately_undocumented(operation_id, response.status_code, body):
            case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
        else:
            case.validate_response(response, checks=REFERENCE_CHECKS)

    for operation in operations:
        run = settings(
            max_examples=REFERENCE_EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )(given(case=operation.as_strategy())(check))
        run()
