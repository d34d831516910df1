"""The workflow catalog over HTTP (api.md "Workflow catalog" and "Errors")."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, cast
from urllib.parse import quote
from uuid import UUID, uuid4

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import text

from app.http.runtime import runtime_of
from tests.factories import workflow_body
from tests.faults import trigger_fault
from tests.problems import assert_problem, field_errors

WORKFLOWS = "/api/v1/workflows"
GENERIC_500_DETAIL = "the server could not complete the request"


async def create(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await client.post(WORKFLOWS, json=workflow_body(**overrides))
    assert response.status_code == 201, response.text
    return cast("dict[str, Any]", response.json())


async def fetch(client: httpx.AsyncClient, workflow_id: str) -> dict[str, Any]:
    response = await client.get(f"{WORKFLOWS}/{workflow_id}")
    assert response.status_code == 200, response.text
    return cast("dict[str, Any]", response.json())


async def listed(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await client.get(WORKFLOWS, params=params)
    assert response.status_code == 200, response.text
    return cast("dict[str, Any]", response.json())


async def listed_ids(client: httpx.AsyncClient, **params: Any) -> list[str]:
    return [w["workflow_id"] for w in (await listed(client, **params))["workflows"]]


async def total(client: httpx.AsyncClient) -> int:
    return int((await listed(client))["total"])


def parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None
    return parsed


# ---------------------------------------------------------------- create


async def test_create_returns_the_stored_workflow_with_server_fields(client: httpx.AsyncClient) -> None:
    body = workflow_body(expected_success_rate=0.9, parameters={"memory": "512Mi"})
    client_id = str(uuid4())
    # Server-owned fields sent by the client are ignored.
    response = await client.post(
        WORKFLOWS, json={**body, "workflow_id": client_id, "is_latest_version": False, "created_at": "2000-01-01"}
    )

    assert response.status_code == 201, response.text
    created = response.json()
    assert str(UUID(created["workflow_id"])) == created["workflow_id"]
    assert created["workflow_id"] != client_id
    assert created["is_latest_version"] is True
    assert created["status"] == "active"
    assert parse_time(created["created_at"]).year > 2000
    assert parse_time(created["updated_at"]) >= parse_time(created["created_at"])
    assert "previous_version" not in created
    assert {k: created[k] for k in body} == body
    assert await fetch(client, created["workflow_id"]) == created


async def test_unknown_fields_are_ignored(client: httpx.AsyncClient) -> None:
    response = await client.post(WORKFLOWS, json={**workflow_body(), "future_field": {"x": 1}, "risk": "low"})

    assert response.status_code == 201, response.text
    assert "future_field" not in response.json()
    assert "risk" not in response.json()


async def test_a_new_version_becomes_latest_and_the_previous_one_stops_being_latest(
    client: httpx.AsyncClient,
) -> None:
    first = await create(client)
    second = await create(client, workflow_name=first["workflow_name"], version="v1.1.0")

    assert second["is_latest_version"] is True
    assert second["previous_version"] == "v1.0.0"
    assert (await fetch(client, first["workflow_id"]))["is_latest_version"] is False
    assert (await fetch(client, second["workflow_id"]))["is_latest_version"] is True


async def test_an_explicit_previous_version_is_kept(client: httpx.AsyncClient) -> None:
    first = await create(client)
    second = await create(client, workflow_name=first["workflow_name"], version="v2.0.0", previous_version="v0.9.0")

    assert second["previous_version"] == "v0.9.0"


async def test_concurrent_versions_leave_exactly_one_latest(client: httpx.AsyncClient) -> None:
    name = workflow_body()["workflow_name"]
    responses = await asyncio.gather(
        *(client.post(WORKFLOWS, json=workflow_body(workflow_name=name, version=f"v1.{i}.0")) for i in range(6))
    )

    assert [r.status_code for r in responses] == [201] * 6
    versions = (await client.get(f"{WORKFLOWS}/by-name/{name}/versions")).json()["versions"]
    assert [v["is_latest_version"] for v in versions] == [True] + [False] * 5
    # Each version names the one stored just before it.
    assert [v.get("previous_version") for v in versions[:-1]] == [v["version"] for v in versions[1:]]


async def test_duplicate_name_and_version_is_a_conflict_that_writes_nothing(client: httpx.AsyncClient) -> None:
    original = await create(client)
    duplicate = workflow_body(workflow_name=original["workflow_name"], content="another definition")

    body = assert_problem(await client.post(WORKFLOWS, json=duplicate), 409, "conflict")

    assert original["workflow_name"] in body["detail"]
    assert await total(client) == 1
    assert await fetch(client, original["workflow_id"]) == original


async def test_concurrent_duplicates_store_one(client: httpx.AsyncClient) -> None:
    body = workflow_body()
    responses = await asyncio.gather(*(client.post(WORKFLOWS, json=body) for _ in range(5)))

    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409, 409]
    assert await total(client) == 1


async def test_content_hash_mismatch_is_a_validation_error_that_writes_nothing(client: httpx.AsyncClient) -> None:
    body = workflow_body(content_hash="0" * 64)

    errors = field_errors(await client.post(WORKFLOWS, json=body))

    assert set(errors) == {"content_hash"}
    assert await total(client) == 0


async def test_content_hash_must_be_64_hex_digits(client: httpx.AsyncClient) -> None:
    errors = field_errors(await client.post(WORKFLOWS, json=workflow_body(content_hash="abc")))

    assert "content_hash" in errors
    assert await total(client) == 0


@pytest.mark.parametrize(
    ("labels", "bad"),
    [
        ({"severity": "urgent"}, {"labels.severity"}),
        ({"priority": "P9"}, {"labels.priority"}),
        ({"severity": ["critical", "urgent"]}, {"labels.severity"}),
        ({"severity": "severe", "priority": "high"}, {"labels.severity", "labels.priority"}),
    ],
)
async def test_invalid_severity_or_priority_labels_are_named(
    client: httpx.AsyncClient, labels: dict[str, Any], bad: set[str]
) -> None:
    errors = field_errors(await client.post(WORKFLOWS, json=workflow_body(labels=labels)))

    assert set(errors) == bad
    assert await total(client) == 0


async def test_enum_labels_accept_any_case_and_the_wildcard(client: httpx.AsyncClient) -> None:
    created = await create(client, labels={"severity": "High", "priority": "*", "environment": "*"})

    assert created["labels"]["severity"] == "High"
    assert created["labels"]["priority"] == "*"


async def test_every_bad_field_is_named_at_once(client: httpx.AsyncClient) -> None:
    body = workflow_body(version="v" * 51, status="retired", expected_success_rate=1.5, maintainer="nobody")
    del body["name"]
    body["labels"] = {"severity": "critical"}

    errors = field_errors(await client.post(WORKFLOWS, json=body))

    assert {
        "name",
        "version",
        "status",
        "expected_success_rate",
        "maintainer",
        "labels.signal_type",
        "labels.component",
        "labels.environment",
        "labels.priority",
    } <= set(errors)
    assert await total(client) == 0


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"a string"'])
async def test_a_body_that_is_not_a_json_object_is_an_invalid_request(client: httpx.AsyncClient, raw: bytes) -> None:
    response = await client.post(WORKFLOWS, content=raw, headers={"content-type": "application/json"})

    assert_problem(response, 400, "invalid-request")


async def test_a_body_over_5_mib_is_too_large(client: httpx.AsyncClient) -> None:
    body = workflow_body(content="x" * (5 * 1024 * 1024 + 1))

    assert_problem(await client.post(WORKFLOWS, json=body), 413, "request-too-large")
    assert await total(client) == 0


# Input the validation lets through but PostgreSQL refuses: the client gets a 500 today.
DATABASE_REJECTED_INPUT = [
    pytest.param({"description": "nul \x00 byte"}, "description", id="nul-in-text"),
    pytest.param({"parameters": {"key": "nul \x00 byte"}}, "parameters.key", id="nul-in-jsonb"),
    pytest.param({"expected_duration_seconds": 2**31}, "expected_duration_seconds", id="int32-overflow"),
    pytest.param({"total_executions": 2**31}, "total_executions", id="int32-overflow-count"),
]


@pytest.mark.parametrize(("overrides", "field"), DATABASE_REJECTED_INPUT)
async def test_input_the_database_cannot_store_is_a_validation_error(
    client: httpx.AsyncClient, overrides: dict[str, Any], field: str
) -> None:
    errors = field_errors(await client.post(WORKFLOWS, json=workflow_body(**overrides)))

    # the error names the field, or the exact place inside it (parameters.key)
    assert any(name == field or name.startswith(f"{field}.") for name in errors), errors
    assert await total(client) == 0


async def test_a_database_failure_is_a_generic_500_that_leaks_nothing_and_writes_nothing(
    client: httpx.AsyncClient, app: Litestar
) -> None:
    # A real failure inside PostgreSQL: a trigger that refuses every insert.
    body = "RAISE EXCEPTION 'secret-marker: disk on fire';"
    async with trigger_fault(runtime_of(app).engine, "refuse_insert", table="workflows", event="INSERT", body=body):
        response = await client.post(WORKFLOWS, json=workflow_body())

    problem = assert_problem(response, 500, "internal-error")
    assert problem["detail"] == GENERIC_500_DETAIL
    for leak in ("secret-marker", "INSERT", "SELECT", "workflows (", "Traceback", "sqlalchemy", "asyncpg", 'File "'):
        assert leak not in response.text
    assert await total(client) == 0


# ---------------------------------------------------------------- get


async def test_get_unknown_id_is_not_found(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get(f"{WORKFLOWS}/{uuid4()}"), 404, "not-found")


@pytest.mark.parametrize(
    ("method", "suffix"), [("GET", ""), ("PATCH", ""), ("PATCH", "/disable")], ids=["get", "patch", "disable"]
)
async def test_a_malformed_workflow_id_is_a_validation_error(
    client: httpx.AsyncClient, method: str, suffix: str
) -> None:
    response = await client.request(method, f"{WORKFLOWS}/not-a-uuid{suffix}", json={"status": "active"})

    assert "workflow_id" in field_errors(response)


# ---------------------------------------------------------------- list


async def test_list_defaults_to_100_newest_first(client: httpx.AsyncClient) -> None:
    ids = [(await create(client))["workflow_id"] for _ in range(101)]

    page = await listed(client)

    assert (page["limit"], page["offset"], page["total"]) == (100, 0, 101)
    assert [w["workflow_id"] for w in page["workflows"]] == ids[::-1][:100]


async def test_list_of_an_empty_catalog(client: httpx.AsyncClient) -> None:
    assert await listed(client) == {"workflows": [], "limit": 100, "offset": 0, "total": 0}


async def test_list_filters(client: httpx.AsyncClient) -> None:
    prod = await create(client, labels={"environment": "production", "priority": "P0", "component": "pod"})
    staging = await create(client, labels={"environment": "staging", "priority": "P2", "component": "node"})
    disabled = await create(client, status="disabled", labels={"environment": "staging", "component": "node"})

    assert await listed_ids(client, status="disabled") == [disabled["workflow_id"]]
    assert await listed_ids(client, status="active") == [staging["workflow_id"], prod["workflow_id"]]
    assert await listed_ids(client, environment="production") == [prod["workflow_id"]]
    assert await listed_ids(client, priority="P2") == [staging["workflow_id"]]
    assert await listed_ids(client, component="node", status="active") == [staging["workflow_id"]]
    assert await listed_ids(client, workflow_name=prod["workflow_name"]) == [prod["workflow_id"]]
    assert await listed_ids(client, environment="development") == []
    assert (await listed(client, component="node"))["total"] == 2


async def test_list_filter_matches_a_wildcard_label_under_any_value(client: httpx.AsyncClient) -> None:
    anywhere = await create(client, labels={"environment": "*", "priority": "*", "component": "*"})
    prod = await create(client, labels={"environment": "production", "priority": "P0", "component": "pod"})

    assert await listed_ids(client, environment="qa") == [anywhere["workflow_id"]]
    assert await listed_ids(client, priority="P3") == [anywhere["workflow_id"]]
    assert await listed_ids(client, component="deployment") == [anywhere["workflow_id"]]
    assert await listed_ids(client, environment="production") == [prod["workflow_id"], anywhere["workflow_id"]]


async def test_list_label_filter_is_case_insensitive(client: httpx.AsyncClient) -> None:
    mixed = await create(client, labels={"environment": "Production", "component": "Pod"})

    for value in ("production", "PRODUCTION", "Production"):
        assert await listed_ids(client, environment=value) == [mixed["workflow_id"]]
    assert await listed_ids(client, component="POD") == [mixed["workflow_id"]]


async def test_list_filter_matches_any_element_of_a_list_label(client: httpx.AsyncClient) -> None:
    multi = await create(client, labels={"environment": ["staging", "qa"]})

    assert await listed_ids(client, environment="qa") == [multi["workflow_id"]]
    assert await listed_ids(client, environment="staging") == [multi["workflow_id"]]
    assert await listed_ids(client, environment="production") == []


async def test_list_order_breaks_created_at_ties_by_workflow_id(client: httpx.AsyncClient, app: Litestar) -> None:
    ids = [(await create(client))["workflow_id"] for _ in range(4)]
    async with runtime_of(app).engine.begin() as connection:
        await connection.execute(text("UPDATE workflows SET created_at = '2025-01-01T00:00:00Z'"))
    newest = (await create(client))["workflow_id"]

    assert await listed_ids(client) == [newest, *sorted(ids)]


async def test_list_pagination(client: httpx.AsyncClient) -> None:
    for _ in range(5):
        await create(client)
    everything = await listed_ids(client)

    pages = [await listed(client, limit=2, offset=offset) for offset in (0, 2, 4, 6)]

    assert [p["total"] for p in pages] == [5, 5, 5, 5]
    assert [(p["limit"], p["offset"]) for p in pages] == [(2, 0), (2, 2), (2, 4), (2, 6)]
    assert [w["workflow_id"] for p in pages for w in p["workflows"]] == everything
    assert pages[3]["workflows"] == []
    assert len((await listed(client, limit=1000))["workflows"]) == 5


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"limit": 1001}, "limit"),  # limit=0 and offset=-1 fall back to the defaults (test_reference_leniency)
        ({"limit": "ten"}, "limit"),
        ({"offset": "first"}, "offset"),
        ({"status": "retired"}, "status"),
    ],
)
async def test_list_rejects_bad_parameters(client: httpx.AsyncClient, params: dict[str, Any], name: str) -> None:
    assert name in field_errors(await client.get(WORKFLOWS, params=params))


# ---------------------------------------------------------------- update


async def test_patch_changes_mutable_fields(client: httpx.AsyncClient) -> None:
    created = await create(client)
    changes = {"status": "disabled", "disabled_by": "alice", "disabled_reason": "superseded"}

    response = await client.patch(f"{WORKFLOWS}/{created['workflow_id']}", json=changes)

    assert response.status_code == 200, response.text
    updated = response.json()
    assert {k: updated[k] for k in changes} == changes
    assert parse_time(updated["disabled_at"]) >= parse_time(created["created_at"])
    assert parse_time(updated["updated_at"]) > parse_time(created["updated_at"])
    unchanged = set(created) - {*changes, "updated_at"}
    assert {k: updated.get(k) for k in unchanged} == {k: created[k] for k in unchanged}
    assert await fetch(client, created["workflow_id"]) == updated


async def test_patch_back_to_active_clears_the_disabled_fields(client: httpx.AsyncClient) -> None:
    created = await create(client)
    await client.patch(f"{WORKFLOWS}/{created['workflow_id']}/disable", json={"reason": "r", "updated_by": "u"})

    response = await client.patch(f"{WORKFLOWS}/{created['workflow_id']}", json={"status": "active"})

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "active"
    assert not {"disabled_at", "disabled_by", "disabled_reason"} & set(response.json())


async def test_patch_keeps_explicit_values_given_with_a_status(client: httpx.AsyncClient) -> None:
    created = await create(client)
    changes = {"status": "deprecated", "disabled_by": "alice", "disabled_reason": "superseded by v2"}

    response = await client.patch(f"{WORKFLOWS}/{created['workflow_id']}", json=changes)

    assert response.status_code == 200, response.text
    assert {k: response.json().get(k) for k in changes} == changes


async def test_patch_disabled_by_and_reason_alone(client: httpx.AsyncClient) -> None:
    created = await create(client)

    response = await client.patch(
        f"{WORKFLOWS}/{created['workflow_id']}", json={"disabled_by": "bob", "disabled_reason": "flaky"}
    )

    assert response.status_code == 200, response.text
    assert (response.json()["disabled_by"], response.json()["disabled_reason"]) == ("bob", "flaky")
    assert response.json()["status"] == "active"


@pytest.mark.parametrize(
    "changes",
    [
        {"labels": {"signal_type": "CrashLoopBackOff"}},
        {"description": "rewritten"},
        {"content": "other"},
        {"content_hash": "0" * 64},
        {"workflow_name": "renamed"},
        {"version": "v9.9.9"},
        {"name": "Renamed"},
        {"execution_engine": "tekton"},
        {"workflow_id": "00000000-0000-0000-0000-000000000000"},
        {"is_latest_version": False},
        {"created_at": "2020-01-01T00:00:00Z"},
        {"status": "disabled", "description": "mutable and immutable together"},
    ],
    ids="+".join,
)
async def test_patch_of_an_immutable_field_is_rejected_and_changes_nothing(
    client: httpx.AsyncClient, changes: dict[str, Any]
) -> None:
    created = await create(client)

    response = await client.patch(f"{WORKFLOWS}/{created['workflow_id']}", json=changes)

    errors = field_errors(response, slug="immutable-field-violation")
    immutable = set(changes) - {"status"}
    assert set(errors) == immutable
    assert all(name in response.json()["detail"] for name in immutable)
    assert await fetch(client, created["workflow_id"]) == created


@pytest.mark.parametrize("changes", [{"colour": "blue"}, {}], ids=["unknown-only", "empty"])
async def test_patch_without_any_mutable_field_is_rejected(client: httpx.AsyncClient, changes: dict[str, Any]) -> None:
    created = await create(client)

    field_errors(await client.patch(f"{WORKFLOWS}/{created['workflow_id']}", json=changes))

    assert await fetch(client, created["workflow_id"]) == created


async def test_patch_with_a_bad_status_names_it(client: httpx.AsyncClient) -> None:
    created = await create(client)

    errors = field_errors(await client.patch(f"{WORKFLOWS}/{created['workflow_id']}", json={"status": "retired"}))

    assert "status" in errors


async def test_patch_with_a_null_status_is_a_validation_error(client: httpx.AsyncClient) -> None:
    created = await create(client)

    errors = field_errors(await client.patch(f"{WORKFLOWS}/{created['workflow_id']}", json={"status": None}))

    assert "status" in errors
    assert await fetch(client, created["workflow_id"]) == created


@pytest.mark.parametrize("suffix", ["", "/disable"], ids=["patch", "disable"])
async def test_patch_of_an_unknown_workflow_is_not_found(client: httpx.AsyncClient, suffix: str) -> None:
    response = await client.patch(f"{WORKFLOWS}/{uuid4()}{suffix}", json={"status": "disabled"})

    assert_problem(response, 404, "not-found")


# ---------------------------------------------------------------- disable


async def test_disable_sets_status_time_who_and_why(client: httpx.AsyncClient) -> None:
    created = await create(client)

    response = await client.patch(
        f"{WORKFLOWS}/{created['workflow_id']}/disable", json={"reason": "causes outages", "updated_by": "dave"}
    )

    assert response.status_code == 200, response.text
    disabled = response.json()
    assert disabled["status"] == "disabled"
    assert disabled["disabled_by"] == "dave"
    assert disabled["disabled_reason"] == "causes outages"
    assert parse_time(disabled["disabled_at"]) >= parse_time(created["created_at"])
    assert await fetch(client, created["workflow_id"]) == disabled
    assert await listed_ids(client, status="active") == []


async def test_disable_without_a_body(client: httpx.AsyncClient) -> None:
    created = await create(client)

    response = await client.patch(f"{WORKFLOWS}/{created['workflow_id']}/disable")

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "disabled"
    assert parse_time(response.json()["disabled_at"]) >= parse_time(created["created_at"])


# ---------------------------------------------------------------- versions


async def test_versions_of_a_name_newest_first(client: httpx.AsyncClient) -> None:
    first = await create(client)
    name = first["workflow_name"]
    second = await create(client, workflow_name=name, version="v1.1.0")
    third = await create(client, workflow_name=name, version="v2.0.0")
    await create(client)  # another name

    response = await client.get(f"{WORKFLOWS}/by-name/{name}/versions")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["workflow_name"] == name
    assert body["total"] == 3
    assert [v["workflow_id"] for v in body["versions"]] == [w["workflow_id"] for w in (third, second, first)]
    assert [v["is_latest_version"] for v in body["versions"]] == [True, False, False]


async def test_versions_of_an_unknown_name_is_not_found(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get(f"{WORKFLOWS}/by-name/no-such-workflow/versions"), 404, "not-found")


@pytest.mark.parametrize("name", ["with space", "ünïcode", "percent%sign", "question?mark", "dot.name"])
async def test_versions_by_a_name_that_needs_escaping(client: httpx.AsyncClient, name: str) -> None:
    created = await create(client, workflow_name=name)

    response = await client.get(f"{WORKFLOWS}/by-name/{quote(name, safe='')}/versions")

    assert response.status_code == 200, response.text
    assert response.json()["workflow_name"] == name
    assert [v["workflow_id"] for v in response.json()["versions"]] == [created["workflow_id"]]


async def test_a_workflow_name_with_a_slash_is_refused(client: httpx.AsyncClient) -> None:
    """The name is a path segment of /by-name/{workflow_name}/versions, so it may not hold "/"."""
    response = await client.post(WORKFLOWS, json=workflow_body(workflow_name="team/restart-pod"))

    assert "workflow_name" in field_errors(response)
    assert await total(client) == 0


# ---------------------------------------------------------------- routing


async def test_unknown_route_is_a_not_found_problem(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/api/v1/no-such-thing"), 404, "not-found")


async def test_unsupported_method_is_a_problem(client: httpx.AsyncClient) -> None:
    assert_problem(await client.delete(WORKFLOWS), 405, "method-not-allowed")


async def test_a_broken_constraint_other_than_a_duplicate_is_not_called_a_conflict(
    client: httpx.AsyncClient, app: Litestar
) -> None:
    """Only a duplicate key is 409 "already exists"; a CHECK that fails (here injected) is the
    server's error, and nothing is stored."""
    body = "RAISE EXCEPTION 'injected check' USING ERRCODE = '23514';"  # check_violation
    async with trigger_fault(runtime_of(app).engine, "refuse_check", table="workflows", event="INSERT", body=body):
        response = await client.post("/api/v1/workflows", json=workflow_body(workflow_name="check-refused"))
    assert_problem(response, 500, "internal-error")
    async with runtime_of(app).engine.connect() as connection:
        assert await connection.scalar(text("SELECT count(*) FROM workflows")) == 0
