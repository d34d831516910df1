"""The MCP tools against the live app, through the SDK's client: each answers what its HTTP twin
answers for the same request, and explains a search's ranking."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar
from mcp.shared.exceptions import MCPError
from prometheus_client import REGISTRY

from app.audit.schemas import AuditEventRequest
from app.http.runtime import runtime_of
from app.mcp.tools import TOOLS
from app.remediation.schemas import RemediationSearchRequest
from app.workflows.schemas import SearchRequest
from tests.factories import audit_event_body, remediation_body, workflow_body
from tests.integration.http.test_request_logs import read_log
from tests.integration.mcp.clients import ERAS, answer, mcp_session, problem

__all__ = ["read_log"]  # the fixture: the JSON log lines written since the test began

LABELS = {"signal_type": "OOMKilled", "severity": "critical", "component": "pod",
          "environment": "production", "priority": "P0"}  # fmt: skip


async def created(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/workflows", json=workflow_body(**fields))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def without_explanations(document: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key != "explanations"}


async def test_the_tools_are_listed_with_the_http_apis_schemas(app: Litestar) -> None:
    async with mcp_session(app) as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
    assert set(tools) == set(TOOLS)
    for struct in (SearchRequest, RemediationSearchRequest, AuditEventRequest):
        # The schema the OpenAPI document is built from (msgspec's), with the struct at the root.
        schema = msgspec.json.schema(struct)
        definitions = schema["$defs"]
        root = definitions.pop(struct.__name__)
        tool = next(spec.name for spec in TOOLS.values() if spec.arguments is struct)
        assert tools[tool].input_schema == ({**root, "$defs": definitions} if definitions else root)
    assert tools["record_remediation_outcome"].annotations.read_only_hint is False  # type: ignore[union-attr]
    assert tools["search_workflows"].annotations.read_only_hint is True  # type: ignore[union-attr]


@pytest.mark.parametrize("era", ERAS)
async def test_search_answers_as_http_does_and_explains_each_rank(
    app: Litestar, client: httpx.AsyncClient, era: str
) -> None:
    exact = await created(client, detected_labels={"gitOpsManaged": True}, custom_labels={"team": ["payments"]})
    wildcard = await created(client, labels={"severity": "*"}, custom_labels={"team": ["*"]})
    request = {
        "filters": {**LABELS, "detected_labels": {"gitOpsManaged": True}, "custom_labels": {"team": ["payments"]}}
    }
    over_http = (await client.post("/api/v1/workflows/search", json=request)).json()
    async with mcp_session(app, era=era) as session:
        found = await answer(session, "search_workflows", request)
    assert without_explanations(found) == over_http
    assert [r["workflow_id"] for r in found["workflows"]] == [exact["workflow_id"], wildcard["workflow_id"]]
    first, second = found["explanations"]
    assert (first["workflow_id"], first["rank"]) == (exact["workflow_id"], 1)
    texts = {factor["name"]: factor["text"] for factor in second["factors"]}
    assert texts["severity"] == "severity: requested \"critical\", matched through the workflow's '*' (less specific)"
    assert texts["gitOpsManaged"] == "gitOpsManaged: requested true, workflow has null: penalty -0.10"
    assert texts["team=payments"] == "custom label team=payments: matched through '*', boost +0.075"
    assert "final score 0.4975 = min(1, (5 + detected 0 + custom 0.075 - penalty 0.1) / 10)" in second["summary"]
    assert "4 of 5 mandatory labels matched exactly, the others through the workflow's '*'." in second["summary"]
    assert first["summary"].endswith("5 of 5 mandatory labels matched exactly.")
    for result, explanation in zip(found["workflows"], found["explanations"], strict=True):
        # The factors add up to the score the search gave (below 1, no clamp here).
        assert sum(f["effect"] for f in explanation["factors"]) == pytest.approx(result["final_score"])


async def test_a_semantic_search_explains_by_similarity(app: Litestar, client: httpx.AsyncClient) -> None:
    await created(client, description="raises the memory limit of a pod killed for running out of memory")
    request = {"filters": LABELS, "query": "pod out of memory"}
    over_http = (await client.post("/api/v1/workflows/search", json=request)).json()
    async with mcp_session(app) as session:
        found = await answer(session, "search_workflows", request)
    assert without_explanations(found) == over_http
    (explanation,) = found["explanations"]
    similarity = explanation["factors"][0]
    assert (similarity["kind"], similarity["effect"]) == ("similarity", over_http["workflows"][0]["similarity"])
    assert "clamp(similarity" in explanation["summary"]


async def test_a_search_by_tool_is_audited_as_the_mcp_clients(app: Litestar, client: httpx.AsyncClient) -> None:
    async with mcp_session(app) as session:
        await answer(session, "search_workflows", {"filters": LABELS, "remediation_id": "rr-mcp-1"})
    await runtime_of(app).search_audit.flush()
    events = (await client.get("/api/v1/audit/events", params={"correlation_id": "rr-mcp-1"})).json()["data"]
    assert [(e["event_type"], e["actor_type"], e["actor_id"]) for e in events] == [
        ("workflow.catalog.search_completed", "mcp-client", "loopback")
    ]


@pytest.mark.parametrize("era", ERAS)
async def test_get_workflow_and_its_versions_answer_as_http_does(
    app: Litestar, client: httpx.AsyncClient, era: str
) -> None:
    first = await created(client)
    second = await created(client, workflow_name=first["workflow_name"], version="v2.0.0")
    async with mcp_session(app, era=era) as session:
        workflow = await answer(session, "get_workflow", {"workflow_id": second["workflow_id"]})
        versions = await answer(session, "list_workflow_versions", {"workflow_name": first["workflow_name"]})
        missing = await problem(session, "list_workflow_versions", {"workflow_name": "no-such"}, "not-found")
    assert workflow == (await client.get(f"/api/v1/workflows/{second['workflow_id']}")).json()
    path = f"/api/v1/workflows/by-name/{first['workflow_name']}/versions"
    assert versions == (await client.get(path)).json()
    assert [v["version"] for v in versions["versions"]] == ["v2.0.0", "v1.0.0"]
    assert missing["detail"] == "no workflow is named 'no-such'"


async def test_similar_remediations_answer_as_http_does(app: Litestar, client: httpx.AsyncClient) -> None:
    for action in ("scale_memory", "restart_pod"):
        response = await client.post("/api/v1/audit/remediations", json=remediation_body(action_type=action))
        assert response.status_code == 201, response.text
    request = {
        "query": "pod killed for exceeding its memory limit",
        "filters": {"namespace": "payments"},
        "since": "1h",
    }
    over_http = (await client.post("/api/v1/audit/remediations/search", json=request)).json()
    async with mcp_session(app) as session:
        found = await answer(session, "find_similar_remediations", request)
    assert found == over_http
    assert found["total_results"] == 2


async def test_an_outcome_is_recorded_as_an_audit_event(app: Litestar, client: httpx.AsyncClient) -> None:
    event = audit_event_body(event_type="aiagent.remediation.outcome", event_category="aiagent",
                             correlation_id="rr-mcp-2")  # fmt: skip
    async with mcp_session(app) as session:
        recorded = await answer(session, "record_remediation_outcome", event)
    over_http = await client.post("/api/v1/audit/events", json=event)
    assert over_http.status_code == 201
    # The same answer but for the id the server gave each.
    assert {**recorded, "event_id": None} == {**over_http.json(), "event_id": None}
    assert (recorded["status"], recorded["message"]) == ("created", "audit event stored")
    stored = (await client.get("/api/v1/audit/events", params={"correlation_id": "rr-mcp-2"})).json()["data"]
    assert {e["event_id"] for e in stored} == {recorded["event_id"], over_http.json()["event_id"]}


async def test_an_unknown_tool_is_a_protocol_error(app: Litestar) -> None:
    async with mcp_session(app) as session:
        with pytest.raises(MCPError, match="unknown tool: 'drop_tables'"):
            await session.call_tool("drop_tables", {})


BAD_ARGUMENTS = [
    ("search_workflows", "/api/v1/workflows/search",
     {"filters": {**LABELS, "severity": "dire", "priority": 1}, "top_k": 0, "min_similarity": 0.5}),
    ("find_similar_remediations", "/api/v1/audit/remediations/search", {"since": "yesterday", "top_k": "3"}),
    ("record_remediation_outcome", "/api/v1/audit/events",
     audit_event_body(event_timestamp="2020-01-01T00:00:00Z", event_category="nowhere", correlation_id="")),
]  # fmt: skip


@pytest.mark.parametrize(("tool", "path", "arguments"), BAD_ARGUMENTS, ids=[t for t, *_ in BAD_ARGUMENTS])
async def test_bad_arguments_are_a_tool_error_naming_the_fields_as_http_does(
    app: Litestar, client: httpx.AsyncClient, tool: str, path: str, arguments: dict[str, Any]
) -> None:
    over_http = await client.post(path, json=arguments)
    assert over_http.status_code == 400
    async with mcp_session(app) as session:
        body = await problem(session, tool, arguments, "validation-error")
    assert body["field_errors"] == over_http.json()["field_errors"]
    assert len(body["field_errors"]) >= 2


async def test_a_bad_workflow_id_names_the_field(app: Litestar) -> None:
    async with mcp_session(app) as session:
        body = await problem(session, "get_workflow", {"workflow_id": "nope"}, "validation-error")
        missing = await problem(session, "get_workflow", {}, "validation-error")
    assert body["field_errors"] == {"workflow_id": "must be a UUID"}
    assert missing["field_errors"] == {"workflow_id": "is required"}


async def test_each_call_is_counted_by_tool_and_outcome(app: Litestar, client: httpx.AsyncClient) -> None:
    def count(tool: str, outcome: str) -> float:
        return REGISTRY.get_sample_value("mcp_tool_calls_total", {"tool": tool, "outcome": outcome}) or 0.0

    before = (count("get_workflow", "ok"), count("get_workflow", "validation-error"))
    workflow = await created(client)
    async with mcp_session(app) as session:
        await answer(session, "get_workflow", {"workflow_id": workflow["workflow_id"]})
        await problem(session, "get_workflow", {"workflow_id": "nope"}, "validation-error")
    assert (count("get_workflow", "ok"), count("get_workflow", "validation-error")) == (before[0] + 1, before[1] + 1)


async def test_the_request_log_names_the_tool_and_the_route(
    app: Litestar, read_log: Callable[[], list[dict[str, Any]]]
) -> None:
    def requests(route: str) -> float:
        return (
            REGISTRY.get_sample_value("http_requests_total", {"method": "POST", "route": route, "status": "200"}) or 0
        )

    before = requests("/mcp")
    async with mcp_session(app) as session:
        await problem(session, "list_workflow_versions", {"workflow_name": "none-such"}, "not-found")
    completed = [line for line in read_log() if line["event"] == "request completed"]
    assert [(line["route"], line.get("mcp_tool")) for line in completed] == [
        ("/mcp", None),  # initialize
        ("/mcp", None),  # notifications/initialized (202)
        ("/mcp", "list_workflow_versions"),
    ]
    assert requests("/mcp") == before + 2


async def test_the_endpoint_is_not_in_the_openapi_document(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    assert "/api/v1/workflows/search" in paths
    assert not [path for path in paths if path.startswith("/mcp")]


async def test_an_unexpected_failure_is_an_internal_error_that_says_nothing(
    app: Litestar, monkeypatch: pytest.MonkeyPatch, read_log: Callable[[], list[dict[str, Any]]]
) -> None:
    async def fail(*_: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setitem(TOOLS, "get_workflow", dataclasses.replace(TOOLS["get_workflow"], run=fail))
    async with mcp_session(app) as session:
        body = await problem(
            session, "get_workflow", {"workflow_id": "0" * 8 + "-0000-0000-0000-" + "0" * 12}, "internal-error"
        )
    assert body["detail"] == "the server could not complete the request"
    (logged,) = [line for line in read_log() if line["event"] == "tool get_workflow failed"]
    assert "secret internals" in json.dumps(logged["exception"])
