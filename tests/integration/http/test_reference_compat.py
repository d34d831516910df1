"""Wire compatibility with the vendored kubernaut Data Storage v1 OpenAPI document.

Real responses are validated against the reference's component schemas. The reference leaves
``additionalProperties`` open, so the service's extension fields are allowed.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache
from typing import Any, cast
from uuid import uuid4

import httpx
import jsonschema
import pytest
import yaml

from tests.conftest import REFERENCE_SPEC
from tests.factories import audit_event_body, notification_audit_body, workflow_body

WORKFLOWS = "/api/v1/workflows"
IMPLEMENTED_OPERATIONS = (
    "searchWorkflows",
    "createWorkflow",
    "listWorkflows",
    "getWorkflowByID",
    "updateWorkflow",
    "disableWorkflow",
    "healthCheck",
    "readinessCheck",
    "livenessCheck",
    "createAuditEvent",
    "createAuditEventsBatch",
    "queryAuditEvents",
    "createNotificationAudit",
)
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")

# jsonschema checks date-time only with an optional extra installed: check it here, strictly.
# "uri" is left out on purpose: the reference's own examples give a relative `instance`.
FORMAT_CHECKER = jsonschema.FormatChecker(formats=("uuid", "email"))


@FORMAT_CHECKER.checks("date-time", raises=ValueError)
def is_rfc3339(value: object) -> bool:
    return not isinstance(value, str) or (RFC3339.fullmatch(value) is not None and bool(datetime.fromisoformat(value)))


@cache
def reference() -> dict[str, Any]:
    return cast("dict[str, Any]", yaml.safe_load(REFERENCE_SPEC.read_text()))


def as_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema objects as draft 4: ``nullable: true`` becomes a ``null`` type."""
    if isinstance(node, list):
        return [as_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: as_json_schema(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") is True and isinstance(node.get("type"), str):
        converted["type"] = [node["type"], "null"]
        if "enum" in converted:
            converted["enum"] = [*converted["enum"], None]
    return converted


@cache
def validator(schema_name: str) -> jsonschema.Draft4Validator:
    root = {
        "$ref": f"#/components/schemas/{schema_name}",
        "components": as_json_schema(reference()["components"]),
    }
    return jsonschema.Draft4Validator(root, format_checker=FORMAT_CHECKER)


def schema_errors(instance: Any, schema_name: str) -> list[str]:
    return sorted(
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator(schema_name).iter_errors(instance)
    )


def assert_matches(instance: Any, schema_name: str) -> None:
    assert schema_errors(instance, schema_name) == [], instance


def operations(document: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """operationId -> (path, method) of an OpenAPI document."""
    return {
        operation["operationId"]: (path, method)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS and "operationId" in operation
    }


async def created(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await client.post(WORKFLOWS, json=workflow_body(**overrides))
    assert response.status_code == 201, response.text
    return cast("dict[str, Any]", response.json())


# Every optional field of RemediationWorkflow filled, so each one's type and format is checked.
RICH = {
    "parameters": {"memory_limit": {"type": "string", "default": "512Mi"}},
    "custom_labels": {"constraint": ["cost-constrained"], "team": ["name=payments"]},
    "detected_labels": {"gitOpsManaged": True, "gitOpsTool": "argocd", "pdbProtected": True, "stateful": False},
    "previous_version": "v0.9.0",
    "deprecation_notice": "use v2",
    "version_notes": "first release",
    "change_summary": "initial",
    "approved_by": "lead",
    "approved_at": "2025-11-03T12:00:00Z",
    "expected_success_rate": 0.95,
    "expected_duration_seconds": 120,
    "actual_success_rate": 0.9,
    "total_executions": 10,
    "successful_executions": 9,
    "created_by": "ci",
    "updated_by": "ci",
}


# ---------------------------------------------------------------- operations


@pytest.mark.parametrize("operation_id", IMPLEMENTED_OPERATIONS)
async def test_operation_has_the_reference_path_method_and_id(client: httpx.AsyncClient, operation_id: str) -> None:
    own = (await client.get("/schema/openapi.json")).json()

    assert operations(own).get(operation_id) == operations(reference())[operation_id]


def test_implemented_operations_are_every_in_scope_reference_operation() -> None:
    out_of_scope = {"getMetrics"}  # served as plain Prometheus text, not part of the catalog contract
    in_scope = {
        operation_id
        for operation_id, (path, _) in operations(reference()).items()
        if path.startswith(("/api/v1/workflows", "/health", "/api/v1/audit/events", "/api/v1/audit/notifications"))
    }

    assert in_scope - out_of_scope == set(IMPLEMENTED_OPERATIONS)


# ---------------------------------------------------------------- the validator itself


async def test_the_validator_checks_types_enums_ranges_and_formats(client: httpx.AsyncClient) -> None:
    workflow = await created(client)
    broken = {
        **workflow,
        "workflow_id": "not-a-uuid",
        "created_at": "yesterday",
        "status": "retired",
        "expected_success_rate": 1.5,
        "maintainer": "nobody",
    }

    assert [error.split(":")[0] for error in schema_errors(broken, "RemediationWorkflow")] == [
        "created_at",
        "expected_success_rate",
        "maintainer",
        "status",
        "workflow_id",
    ]


# ---------------------------------------------------------------- responses


async def test_created_and_fetched_workflows_match_remediation_workflow(client: httpx.AsyncClient) -> None:
    workflow = await created(client, **RICH)
    fetched = (await client.get(f"{WORKFLOWS}/{workflow['workflow_id']}")).json()

    assert_matches(workflow, "RemediationWorkflow")
    assert_matches(fetched, "RemediationWorkflow")
    for key in RICH.keys() - {"approved_at"}:
        assert fetched[key] == RICH[key]


async def test_updated_and_disabled_workflows_match_remediation_workflow(client: httpx.AsyncClient) -> None:
    workflow = await created(client)
    path = f"{WORKFLOWS}/{workflow['workflow_id']}"

    updated = await client.patch(path, json={"status": "deprecated"})
    disabled = await client.patch(f"{path}/disable", json={"reason": "broken", "updated_by": "ops"})

    assert updated.status_code == 200
    assert_matches(updated.json(), "RemediationWorkflow")
    assert disabled.status_code == 200
    assert_matches(disabled.json(), "RemediationWorkflow")


async def test_list_matches_workflow_list_response(client: httpx.AsyncClient) -> None:
    first = await created(client, **RICH)
    await created(client, workflow_name=first["workflow_name"], version="v1.1.0", status="deprecated")
    await created(client, labels={"priority": "*", "environment": "*"})

    page = (await client.get(WORKFLOWS, params={"limit": 2})).json()

    assert_matches(page, "WorkflowListResponse")
    assert (len(page["workflows"]), page["total"]) == (2, 3)


async def test_versions_items_match_remediation_workflow(client: httpx.AsyncClient) -> None:
    first = await created(client, **RICH)
    await created(client, workflow_name=first["workflow_name"], version="v2.0.0")

    versions = (await client.get(f"{WORKFLOWS}/by-name/{first['workflow_name']}/versions")).json()["versions"]

    assert len(versions) == 2
    for version in versions:
        assert_matches(version, "RemediationWorkflow")


async def test_search_response_matches_workflow_search_response(client: httpx.AsyncClient) -> None:
    # Detected labels that boost (gitOpsManaged, pdbProtected) and penalise (gitOpsTool differs),
    # and a matching custom label, so every score field is non-trivial.
    await created(
        client,
        detected_labels={"gitOpsManaged": True, "gitOpsTool": "flux", "pdbProtected": True},
        custom_labels={"constraint": ["cost-constrained"]},
    )
    await created(client, labels={"environment": "*"})
    request = {
        "remediation_id": "rr-2025-001",
        "filters": {
            "signal_type": "OOMKilled",
            "severity": "critical",
            "component": "pod",
            "environment": "production",
            "priority": "P0",
            "detected_labels": {"gitOpsManaged": True, "gitOpsTool": "argocd", "pdbProtected": True},
            "custom_labels": {"constraint": ["cost-constrained"]},
        },
        "top_k": 5,
    }

    response = await client.post(f"{WORKFLOWS}/search", json=request)

    assert response.status_code == 200, response.text
    body = response.json()
    assert_matches(body, "WorkflowSearchResponse")
    best = body["workflows"][0]
    assert body["total_results"] == 2
    assert [w["rank"] for w in body["workflows"]] == [1, 2]
    assert best["label_boost"] == pytest.approx(0.15)
    assert best["label_penalty"] == pytest.approx(0.10)
    assert best["custom_label_boost"] == pytest.approx(0.15)
    assert best["final_score"] == pytest.approx(0.52)
    assert best["confidence"] == best["final_score"]


async def test_error_bodies_match_rfc7807_problem(client: httpx.AsyncClient) -> None:
    workflow = await created(client)
    bad_body = workflow_body(content_hash="0" * 64, status="retired")
    responses = [
        await client.post(WORKFLOWS, json=bad_body),
        await client.post(WORKFLOWS, content=b"{not json", headers={"content-type": "application/json"}),
        await client.post(WORKFLOWS, json=workflow_body(workflow_name=workflow["workflow_name"])),
        await client.post(WORKFLOWS, json=workflow_body(content="x" * (5 * 1024 * 1024 + 1))),
        await client.get(f"{WORKFLOWS}/{uuid4()}"),
        await client.get(f"{WORKFLOWS}/not-a-uuid"),
        await client.get(WORKFLOWS, params={"limit": 1001}),
        await client.patch(f"{WORKFLOWS}/{workflow['workflow_id']}", json={"labels": {}}),
        await client.patch(f"{WORKFLOWS}/{uuid4()}/disable"),
        await client.post(f"{WORKFLOWS}/search", json={"filters": {"signal_type": "OOMKilled"}}),
        await client.get("/api/v1/no-such-route"),
        await client.delete(WORKFLOWS),
    ]

    assert sorted(r.status_code for r in responses) == [400] * 6 + [404] * 3 + [405, 409, 413]
    for response in responses:
        assert response.headers["content-type"].startswith("application/problem+json")
        assert_matches(response.json(), "RFC7807Problem")


async def test_audit_responses_match_the_reference(client: httpx.AsyncClient) -> None:
    single = await client.post("/api/v1/audit/events", json=audit_event_body(parent_event_id=None))
    assert single.status_code == 201
    assert_matches(single.json(), "AuditEventResponse")
    batch = await client.post("/api/v1/audit/events/batch", json=[audit_event_body(), audit_event_body()])
    assert batch.status_code == 201
    assert_matches(batch.json(), "BatchAuditEventResponse")
    page = (await client.get("/api/v1/audit/events")).json()
    assert_matches(page, "AuditEventsQueryResponse")
    for stored in page["data"]:
        assert_matches(stored, "AuditEvent")


@pytest.mark.parametrize("example", ["successful_delivery", "failed_delivery"])
async def test_notification_audit_responses_match_the_reference(client: httpx.AsyncClient, example: str) -> None:
    operation = reference()["paths"]["/api/v1/audit/notifications"]["post"]
    sent = operation["requestBody"]["content"]["application/json"]["examples"][example]["value"]
    assert_matches(sent, "NotificationAudit")

    response = await client.post("/api/v1/audit/notifications", json=sent)

    assert response.status_code == 201, response.text
    assert_matches(response.json(), "NotificationAuditResponse")
    duplicate = await client.post("/api/v1/audit/notifications", json=sent)
    invalid = await client.post("/api/v1/audit/notifications", json=notification_audit_body(channel="sms"))
    assert (duplicate.status_code, invalid.status_code) == (409, 400)
    for problem in (duplicate, invalid):
        assert problem.headers["content-type"].startswith("application/problem+json")
        assert_matches(problem.json(), "RFC7807Problem")
