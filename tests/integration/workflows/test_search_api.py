"""``POST /api/v1/workflows/search`` over HTTP against shared/spec/search.md."""

from __future__ import annotations

import hashlib
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import msgspec
import pytest
from litestar import Litestar

from app.http.runtime import runtime_of
from app.workflows.schemas import WorkflowCreate
from app.workflows.service import workflow_row_values
from search.labels import MANDATORY_LABELS
from tests.factories import ALL_TRUE, insert_workflow_rows
from tests.problems import assert_problem

SEARCH = "/api/v1/workflows/search"
WORKFLOWS = "/api/v1/workflows"
PROBLEM_JSON = "application/problem+json"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
REQUEST_LABELS = {
    "signal_type": "OOMKilled",
    "severity": "critical",
    "component": "pod",
    "environment": "production",
    "priority": "P1",
}
_names = itertools.count(1)


# --- helpers --------------------------------------------------------------------------------------


def workflow_body(name: str | None = None, *, version: str = "1.0.0", **fields: Any) -> dict[str, Any]:
    """A valid ``WorkflowCreate`` body matching ``REQUEST_LABELS``; ``labels`` entries override one by one."""
    name = name or f"wf-{next(_names)}"
    content = f"apiVersion: tekton.dev/v1\nkind: Pipeline\nmetadata: {{name: {name}, version: {version}}}\n"
    labels = {**REQUEST_LABELS, **fields.pop("labels", {})}
    return {
        "workflow_name": name,
        "version": version,
        "name": f"{name} title",
        "description": f"remediates {name}",
        "content": content,
        "content_hash": hashlib.sha256(content.encode()).hexdigest(),
        "labels": labels,
        "execution_engine": "tekton",
        "container_image": f"quay.io/kubernaut/{name}:v{version}",
        **fields,
    }


def search_body(**filters: Any) -> dict[str, Any]:
    """A search for ``REQUEST_LABELS``; keyword arguments override or add ``filters`` entries."""
    return {"filters": {**REQUEST_LABELS, **filters}}


async def create(client: httpx.AsyncClient, name: str | None = None, **fields: Any) -> dict[str, Any]:
    response = await client.post(WORKFLOWS, json=workflow_body(name, **fields))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def search(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(SEARCH, json=body)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def search_one(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    found = await search(client, body)
    assert found["total_results"] == 1
    assert len(found["workflows"]) == 1
    result: dict[str, Any] = found["workflows"][0]
    return result


def ids(found: dict[str, Any]) -> list[str]:
    return [w["workflow_id"] for w in found["workflows"]]


def scores(result: dict[str, Any]) -> dict[str, Any]:
    keys = ("final_score", "confidence", "label_boost", "label_penalty", "custom_label_boost", "label_specificity")
    return {key: result[key] for key in keys}


def expected_scores(
    final: float, boost: float = 0.0, penalty: float = 0.0, custom: float = 0.0, specificity: int = 5
) -> dict[str, Any]:
    return {
        "final_score": final,
        "confidence": final,
        "label_boost": boost,
        "label_penalty": penalty,
        "custom_label_boost": custom,
        "label_specificity": specificity,
    }


async def insert_rows(app: Litestar, *rows: dict[str, Any]) -> None:
    """Store catalog rows as they are (explicit ids and timestamps), bypassing the API."""
    async with runtime_of(app).sessionmaker() as session, session.begin():
        await insert_workflow_rows(session, list(rows))


def row(workflow_id: UUID, created_at: datetime, **fields: Any) -> dict[str, Any]:
    values = workflow_row_values(msgspec.convert(workflow_body(**fields), WorkflowCreate), None)
    return {**values, "workflow_id": workflow_id, "created_at": created_at, "updated_at": created_at}


async def assert_bad_request(response: httpx.Response, slug: str) -> dict[str, Any]:
    return assert_problem(response, 400, slug)


# --- section 7: worked examples -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_detected", "workflow_detected", "final", "boost", "penalty"),
    [
        pytest.param(None, ALL_TRUE, 0.5, 0.0, 0.0, id="none-vs-anything"),
        pytest.param(
            {"gitOpsManaged": True, "gitOpsTool": "argocd"},
            {"gitOpsManaged": True, "gitOpsTool": "argocd"},
            0.52,
            0.2,
            0.0,
            id="gitops-argocd-both",
        ),
        pytest.param({"gitOpsManaged": True, "gitOpsTool": "argocd"}, {}, 0.48, 0.0, 0.2, id="gitops-argocd-vs-empty"),
        pytest.param(
            {"gitOpsManaged": True, "gitOpsTool": "argocd"},
            {"gitOpsManaged": True, "gitOpsTool": "flux"},
            0.5,
            0.1,
            0.1,
            id="argocd-vs-flux",
        ),
        pytest.param({"gitOpsTool": "argocd"}, {"gitOpsTool": "*"}, 0.505, 0.05, 0.0, id="argocd-vs-star"),
        pytest.param({"serviceMesh": "*"}, {"serviceMesh": "istio"}, 0.5025, 0.025, 0.0, id="star-vs-istio"),
    ],
)
async def test_detected_labels_worked_example(
    client: httpx.AsyncClient,
    request_detected: dict[str, Any] | None,
    workflow_detected: dict[str, Any],
    final: float,
    boost: float,
    penalty: float,
) -> None:
    created = await create(client, detected_labels=workflow_detected)
    filters = {} if request_detected is None else {"detected_labels": request_detected}
    result = await search_one(client, search_body(**filters))
    assert result["workflow_id"] == created["workflow_id"]
    assert result["rank"] == 1
    assert scores(result) == expected_scores(final, boost, penalty)
    assert result["detected_labels"] == workflow_detected


@pytest.mark.parametrize(
    ("workflow_custom", "final", "custom"),
    [
        pytest.param({"constraint": ["cost-constrained"]}, 0.515, 0.15, id="exact"),
        pytest.param({"constraint": ["*"]}, 0.5075, 0.075, id="wildcard"),
    ],
)
async def test_custom_labels_worked_example(
    client: httpx.AsyncClient, workflow_custom: dict[str, list[str]], final: float, custom: float
) -> None:
    await create(client, custom_labels=workflow_custom)
    result = await search_one(client, search_body(custom_labels={"constraint": ["cost-constrained"]}))
    assert scores(result) == expected_scores(final, custom=custom)
    assert result["custom_labels"] == workflow_custom


async def test_tie_exact_label_ranks_before_wildcard(client: httpx.AsyncClient) -> None:
    exact = await create(client, labels={"component": "pod"})
    wildcard = await create(client, labels={"component": "*"})  # newer: only specificity puts it second
    found = await search(client, search_body())
    assert ids(found) == [exact["workflow_id"], wildcard["workflow_id"]]
    assert [scores(w) for w in found["workflows"]] == [expected_scores(0.5), expected_scores(0.5, specificity=4)]
    assert [w["rank"] for w in found["workflows"]] == [1, 2]


async def test_tie_equal_specificity_newer_created_at_first(app: Litestar, client: httpx.AsyncClient) -> None:
    older, newer = UUID(int=1), UUID(int=2)  # the newer one has the larger id: created_at must decide
    await insert_rows(app, row(older, T0), row(newer, T0 + timedelta(microseconds=1)))
    found = await search(client, search_body())
    assert ids(found) == [str(newer), str(older)]
    assert [scores(w) for w in found["workflows"]] == [expected_scores(0.5)] * 2
    assert [w["rank"] for w in found["workflows"]] == [1, 2]


async def test_tie_equal_created_at_smaller_workflow_id_first(app: Litestar, client: httpx.AsyncClient) -> None:
    workflow_ids = [UUID("f0000000-0000-0000-0000-000000000000"), UUID(int=7), UUID(int=300)]
    await insert_rows(app, *(row(workflow_id, T0) for workflow_id in workflow_ids))
    found = await search(client, search_body())
    assert ids(found) == [str(UUID(int=7)), str(UUID(int=300)), "f0000000-0000-0000-0000-000000000000"]
    assert [w["rank"] for w in found["workflows"]] == [1, 2, 3]
    assert {w["final_score"] for w in found["workflows"]} == {0.5}


async def test_higher_score_ranks_before_higher_specificity(client: httpx.AsyncClient) -> None:
    exact = await create(client)
    boosted = await create(client, labels={"component": "*"}, custom_labels={"constraint": ["*"]})
    found = await search(client, search_body(custom_labels={"constraint": ["cost-constrained"]}))
    assert ids(found) == [boosted["workflow_id"], exact["workflow_id"]]
    assert [w["final_score"] for w in found["workflows"]] == [0.5075, 0.5]


# --- section 1: candidates ----------------------------------------------------------------------


async def test_zero_candidates_is_an_empty_200(client: httpx.AsyncClient) -> None:
    await create(client, labels={"signal_type": "CrashLoopBackOff"})
    body = search_body(custom_labels={"constraint": ["cost-constrained"]})
    found = await search(client, body)
    assert found == {"workflows": [], "total_results": 0, "filters": body["filters"]}


@pytest.mark.parametrize(
    ("label", "workflow_value", "requested", "specificity"),
    [
        pytest.param("signal_type", "oomkilled", "OOMKILLED", 5, id="signal-case-insensitive"),
        pytest.param("signal_type", "*", "*", 5, id="signal-star-literal"),
        pytest.param("severity", "CRITICAL", "critical", 5, id="severity-case"),
        pytest.param("severity", "*", "critical", 4, id="severity-wildcard"),
        pytest.param("severity", ["low", "critical"], "critical", 5, id="severity-list"),
        pytest.param("component", "Pod", "pod", 5, id="component-case"),
        pytest.param("component", "*", "pod", 4, id="component-wildcard"),
        pytest.param("component", "*", "*", 5, id="component-star-literal"),
        pytest.param("component", ["node", "*"], "pod", 4, id="component-list-wildcard"),
        pytest.param("environment", "*", "staging", 4, id="environment-wildcard"),
        pytest.param("environment", ["Staging", "Production"], "production", 5, id="environment-list"),
        pytest.param("priority", "*", "P3", 4, id="priority-wildcard"),
        pytest.param("priority", "p1", "P1", 5, id="priority-case"),
    ],
)
async def test_label_matches(
    client: httpx.AsyncClient, label: str, workflow_value: str | list[str], requested: str, specificity: int
) -> None:
    await create(client, labels={label: workflow_value})
    result = await search_one(client, search_body(**{label: requested}))
    assert scores(result) == expected_scores(0.5, specificity=specificity)


@pytest.mark.parametrize(
    ("label", "workflow_value", "requested"),
    [
        pytest.param("signal_type", "*", "OOMKilled", id="signal-has-no-wildcard"),
        pytest.param("signal_type", ["CrashLoopBackOff", "*"], "OOMKilled", id="signal-list-no-wildcard"),
        pytest.param("signal_type", "CrashLoopBackOff", "OOMKilled", id="signal-differs"),
        pytest.param("severity", "high", "critical", id="severity-differs"),
        pytest.param("component", "pod", "*", id="request-star-is-literal"),
        pytest.param("component", ["node", "deployment"], "pod", id="component-list-differs"),
        pytest.param("environment", "production", "*", id="environment-request-star"),
        pytest.param("priority", "P2", "P1", id="priority-differs"),
    ],
)
async def test_label_mismatches(
    client: httpx.AsyncClient, label: str, workflow_value: str | list[str], requested: str
) -> None:
    await create(client, labels={label: workflow_value})
    found = await search(client, search_body(**{label: requested}))
    assert (found["workflows"], found["total_results"]) == ([], 0)


async def test_signal_type_of_a_list_valued_workflow_is_the_matched_one(client: httpx.AsyncClient) -> None:
    await create(client, labels={"signal_type": ["CrashLoopBackOff", "OOMKilled"]})
    result = await search_one(client, search_body(signal_type="oomkilled"))
    assert result["signal_type"] == "OOMKilled"


async def test_older_versions_never_match(client: httpx.AsyncClient) -> None:
    await create(client, "restart-pod", version="1.0.0")
    v2 = await create(client, "restart-pod", version="2.0.0", labels={"environment": "staging"})
    assert (await search(client, search_body()))["total_results"] == 0
    result = await search_one(client, search_body(environment="staging"))
    assert (result["workflow_id"], result["version"]) == (v2["workflow_id"], "2.0.0")
    v3 = await create(client, "restart-pod", version="3.0.0", labels={"environment": "staging"})
    result = await search_one(client, search_body(environment="staging", include_disabled=True))
    assert (result["workflow_id"], result["version"]) == (v3["workflow_id"], "3.0.0")


async def test_include_disabled_and_status_filter(client: httpx.AsyncClient) -> None:
    active = await create(client)
    disabled = await create(client)
    deprecated = await create(client, status="deprecated")
    response = await client.patch(f"{WORKFLOWS}/{disabled['workflow_id']}/disable", json={"reason": "flaky"})
    assert response.status_code == 200, response.text

    async def found_ids(**options: Any) -> set[str]:
        filters = {"status": options.pop("status")} if "status" in options else {}
        return set(ids(await search(client, {**search_body(**filters), **options})))

    assert await found_ids() == {active["workflow_id"]}
    everything = {active["workflow_id"], disabled["workflow_id"], deprecated["workflow_id"]}
    assert await found_ids(include_disabled=True) == everything
    assert await found_ids(status=["disabled"]) == {disabled["workflow_id"]}
    assert await found_ids(status=["disabled", "deprecated"]) == {disabled["workflow_id"], deprecated["workflow_id"]}
    assert await found_ids(status=["archived"]) == set()
    assert await found_ids(status=["active"], include_disabled=True) == {active["workflow_id"]}


async def test_failed_detections_are_ignored(client: httpx.AsyncClient) -> None:
    await create(client, detected_labels={})
    detected = {**ALL_TRUE, "failed_detections": list(ALL_TRUE)}
    result = await search_one(client, search_body(detected_labels=detected))
    assert scores(result) == expected_scores(0.5)


async def test_false_request_booleans_and_request_star_never_penalise(client: httpx.AsyncClient) -> None:
    await create(client, detected_labels={})
    detected = {"gitOpsManaged": False, "gitOpsTool": "*", "pdbProtected": False, "serviceMesh": "*"}
    result = await search_one(client, search_body(detected_labels=detected))
    assert scores(result) == expected_scores(0.5)


# --- section 6: order, limits and the response --------------------------------------------------


async def test_top_k_truncates_and_total_counts_every_candidate(client: httpx.AsyncClient) -> None:
    for _ in range(5):
        await create(client)
    await create(client, labels={"signal_type": "CrashLoopBackOff"})
    found = await search(client, {**search_body(), "top_k": 2})
    assert len(found["workflows"]) == 2
    assert found["total_results"] == 5
    assert [w["rank"] for w in found["workflows"]] == [1, 2]
    default = await search(client, search_body())
    assert len(default["workflows"]) == 5
    assert ids(default)[:2] == ids(found)


async def test_min_score_is_inclusive(client: httpx.AsyncClient) -> None:
    exact = await create(client, custom_labels={"constraint": ["cost-constrained"]})
    wildcard = await create(client, custom_labels={"constraint": ["*"]})
    await create(client)
    custom = {"constraint": ["cost-constrained"]}
    found = await search(client, {**search_body(custom_labels=custom), "min_score": 0.5075})
    assert ids(found) == [exact["workflow_id"], wildcard["workflow_id"]]
    assert found["total_results"] == 2
    found = await search(client, {**search_body(custom_labels=custom), "min_score": 0.515})
    assert (ids(found), found["total_results"]) == ([exact["workflow_id"]], 1)
    found = await search(client, {**search_body(custom_labels=custom), "min_score": 1.0})
    assert (found["workflows"], found["total_results"]) == ([], 0)


async def test_score_is_capped_at_one(client: httpx.AsyncClient) -> None:
    values = [f"v{i}" for i in range(40)]
    await create(client, custom_labels={"k": values})
    result = await search_one(client, search_body(custom_labels={"k": values}))
    assert result["final_score"] == result["confidence"] == 1.0
    assert result["custom_label_boost"] == 6.0


async def test_result_fields_and_ranges(client: httpx.AsyncClient) -> None:
    created = [
        await create(client, detected_labels=ALL_TRUE, custom_labels={"constraint": ["*"]}),
        await create(client, detected_labels={}, labels={"severity": "*"}),
        await create(client, detected_labels={"gitOpsManaged": True, "gitOpsTool": "flux", "serviceMesh": "*"}),
        await create(client, container_digest="sha256:" + "a" * 64),
    ]
    body = search_body(detected_labels=ALL_TRUE, custom_labels={"constraint": ["cost-constrained"]})
    found = await search(client, body)
    assert found["total_results"] == 4
    assert found["filters"] == body["filters"]
    by_id = {c["workflow_id"]: c for c in created}
    results = found["workflows"]
    assert [w["rank"] for w in results] == [1, 2, 3, 4]
    assert [w["final_score"] for w in results] == sorted((w["final_score"] for w in results), reverse=True)
    assert results[0] == {
        "workflow_id": created[0]["workflow_id"],
        "workflow_name": created[0]["workflow_name"],
        "version": "1.0.0",
        "title": created[0]["name"],
        "description": created[0]["description"],
        "signal_type": "OOMKilled",
        "container_image": created[0]["container_image"],
        "confidence": 0.5465,
        "label_boost": 0.39,
        "label_penalty": 0.0,
        "custom_label_boost": 0.075,
        "final_score": 0.5465,
        "label_specificity": 5,
        "rank": 1,
        "custom_labels": {"constraint": ["*"]},
        "detected_labels": ALL_TRUE,
    }
    for result in results:
        stored = by_id[result["workflow_id"]]
        assert (result["title"], result["workflow_name"]) == (stored["name"], stored["workflow_name"])
        assert result.get("container_digest") == stored.get("container_digest")
        assert 0 <= result["label_boost"] <= 0.39
        assert 0 <= result["label_penalty"] <= 0.20
        assert 0 <= result["final_score"] <= 1
        assert result["confidence"] == result["final_score"]
        assert 0 <= result["label_specificity"] <= 5


# --- request validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value"),
    [("top_k", 0), ("top_k", 101), ("top_k", -1), ("min_score", -0.01), ("min_score", 1.01), ("min_score", 2)],
)
async def test_out_of_range_options_are_400(client: httpx.AsyncClient, option: str, value: float) -> None:
    response = await client.post(SEARCH, json={**search_body(), option: value})
    problem = await assert_bad_request(response, "validation-error")
    assert option in problem["field_errors"]


@pytest.mark.parametrize(("option", "value"), [("top_k", 1), ("top_k", 100), ("min_score", 0), ("min_score", 1)])
async def test_boundary_options_are_accepted(client: httpx.AsyncClient, option: str, value: float) -> None:
    await search(client, {**search_body(), option: value})


@pytest.mark.parametrize("label", MANDATORY_LABELS)
@pytest.mark.parametrize("how", ["missing", "empty", "null"])
async def test_missing_or_empty_mandatory_label_is_400(client: httpx.AsyncClient, label: str, how: str) -> None:
    body = search_body()
    if how == "missing":
        del body["filters"][label]
    else:
        body["filters"][label] = "" if how == "empty" else None
    problem = await assert_bad_request(await client.post(SEARCH, json=body), "validation-error")
    assert list(problem["field_errors"]) == [f"filters.{label}"]


async def test_several_bad_mandatory_labels_are_named_together(client: httpx.AsyncClient) -> None:
    body = search_body()
    del body["filters"]["signal_type"]
    del body["filters"]["priority"]
    body["filters"]["component"] = ""
    problem = await assert_bad_request(await client.post(SEARCH, json=body), "validation-error")
    assert set(problem["field_errors"]) == {"filters.signal_type", "filters.component", "filters.priority"}


async def test_empty_filters_name_all_five(client: httpx.AsyncClient) -> None:
    problem = await assert_bad_request(await client.post(SEARCH, json={"filters": {}}), "validation-error")
    assert set(problem["field_errors"]) == {f"filters.{label}" for label in MANDATORY_LABELS}


@pytest.mark.parametrize(
    ("label", "value"),
    [("severity", "urgent"), ("severity", "*"), ("severity", "Critical"), ("priority", "P4"), ("priority", "*")],
)
async def test_request_enums_are_enforced(client: httpx.AsyncClient, label: str, value: str) -> None:
    body = search_body(**{label: value})
    problem = await assert_bad_request(await client.post(SEARCH, json=body), "validation-error")
    assert f"filters.{label}" in problem["field_errors"]


async def test_body_that_is_not_json_is_invalid_request(client: httpx.AsyncClient) -> None:
    response = await client.post(SEARCH, content=b"{not json", headers={"content-type": "application/json"})
    await assert_bad_request(response, "invalid-request")


async def test_body_that_is_a_json_array_is_invalid_request(client: httpx.AsyncClient) -> None:
    response = await client.post(SEARCH, json=[search_body()])
    await assert_bad_request(response, "invalid-request")


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        pytest.param({"min_score": "0.5"}, "min_score", id="number-as-string"),
        pytest.param({"top_k": 5.5}, "top_k", id="fractional-top-k"),
        pytest.param({"top_k": "5"}, "top_k", id="integer-as-string"),
        pytest.param({"include_disabled": "true"}, "include_disabled", id="boolean-as-string"),
    ],
)
async def test_values_of_the_wrong_json_type_are_refused_not_converted(
    client: httpx.AsyncClient, extra: dict[str, object], field: str
) -> None:
    filters = {"signal_type": "OOMKilled", "severity": "critical", "component": "pod",
               "environment": "production", "priority": "P0"}  # fmt: skip
    response = await client.post("/api/v1/workflows/search", json={"filters": filters, **extra})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in response.json()["field_errors"]
