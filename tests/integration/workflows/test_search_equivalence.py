"""Property: the SQL search behind the HTTP API ranks exactly like ``search.reference``.

Each example stores a small random catalog (small label pools, so matches, wildcards and
score ties are common), sends one random search over HTTP, and compares ids, order,
every score component and ``total_results`` with the pure reference scorer.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any, get_args
from uuid import UUID

import httpx
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from litestar import Litestar
from sqlalchemy import text

from app.http.runtime import runtime_of
from app.workflows.schemas import WorkflowCreate
from app.workflows.service import workflow_row_values
from search.labels import MANDATORY_LABELS, PRIORITIES, SEVERITIES, STATUSES, DetectedLabels, DetectionName
from search.query import SearchQuery
from search.reference import CatalogEntry, rank
from tests.factories import insert_workflow_rows

SIGNALS = ["OOMKilled", "oomkilled", "CrashLoopBackOff", "*"]
COMPONENTS = ["pod", "Pod", "node", "*"]
ENVIRONMENTS = ["production", "staging", "*"]
CUSTOM_KEYS = ["constraint", "team"]
CUSTOM_VALUES = ["cost-constrained", "Cost-Constrained", "gpu", "*"]
DETECTIONS = list(get_args(DetectionName))
TIMESTAMPS = [
    datetime(2026, 1, 1, tzinfo=UTC),
    datetime(2026, 1, 2, tzinfo=UTC),
    datetime(2026, 1, 2, 0, 0, 1, tzinfo=UTC),
]
MIN_SCORES = [0.0, 0.45, 0.5, 0.5025, 0.52]


def any_case(values: list[str] | tuple[str, ...]) -> st.SearchStrategy[str]:
    cases: list[Callable[[str], str]] = [str, str.upper, str.lower, str.capitalize]
    return st.builds(lambda value, case: case(value), st.sampled_from(values), st.sampled_from(cases))


def one_or_list(values: st.SearchStrategy[str]) -> st.SearchStrategy[str | list[str]]:
    return st.one_of(values, st.lists(values, min_size=1, max_size=3))


def some_of(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """A dict holding each of ``fields`` about half the time."""
    maybe = st.fixed_dictionaries({name: st.none() | value for name, value in fields.items()})
    return maybe.map(lambda drawn: {name: value for name, value in drawn.items() if value is not None})


def detected_labels(*, with_failed: bool) -> st.SearchStrategy[dict[str, Any]]:
    fields: dict[str, st.SearchStrategy[Any]] = {name: st.booleans() for name in DETECTIONS}
    fields["gitOpsTool"] = st.sampled_from(["argocd", "flux", "*"])
    fields["serviceMesh"] = st.sampled_from(["istio", "linkerd", "*"])
    if not with_failed:
        return some_of(fields)
    # each detection failed a third of the time (plain lists would mostly stay empty)
    failed = st.fixed_dictionaries({name: st.sampled_from([False, False, True]) for name in DETECTIONS})
    return st.builds(
        lambda labels, failed: {**labels, "failed_detections": [name for name, yes in failed.items() if yes]},
        some_of(fields),
        failed,
    )


custom_labels = some_of({key: st.lists(st.sampled_from(CUSTOM_VALUES), min_size=1, max_size=3) for key in CUSTOM_KEYS})

request_labels = st.fixed_dictionaries(
    {
        "signal_type": st.sampled_from(SIGNALS),
        "severity": st.sampled_from(SEVERITIES),
        "component": st.sampled_from(COMPONENTS),
        "environment": st.sampled_from(ENVIRONMENTS),
        "priority": st.sampled_from(PRIORITIES),
    }
)
POOLS: dict[str, st.SearchStrategy[str]] = {
    "signal_type": st.sampled_from(SIGNALS),
    "severity": any_case([*SEVERITIES, "*"]),
    "component": st.sampled_from(COMPONENTS),
    "environment": any_case(ENVIRONMENTS),
    "priority": any_case([*PRIORITIES, "*"]),
}


def workflow_labels(requested: dict[str, str]) -> st.SearchStrategy[dict[str, str | list[str]]]:
    """Each label: mostly the requested value in some case, else ``*`` or any pool value; one or a list."""
    return st.fixed_dictionaries(
        {
            label: one_or_list(st.one_of(*[any_case([requested[label]])] * 3, st.just("*"), pool))
            for label, pool in POOLS.items()
        }
    )


def stored_workflow(requested: dict[str, str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "workflow_id": st.uuids(),
            "created_at": st.sampled_from(TIMESTAMPS),
            "is_latest_version": st.sampled_from([True, True, True, False]),
            "status": st.sampled_from(["active", "active", *STATUSES]),
            "labels": workflow_labels(requested),
            "custom_labels": custom_labels,
            "detected_labels": detected_labels(with_failed=False),
        }
    )


@st.composite
def examples(draw: st.DrawFn) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A search request and a catalog of 0..12 workflows, many of them near that request."""
    size = draw(st.sampled_from(range(13)))  # drawn first, or hypothesis keeps most catalogs empty
    filters: dict[str, Any] = draw(request_labels)
    filters |= draw(
        some_of(
            {
                "custom_labels": custom_labels,
                "status": st.lists(st.sampled_from(STATUSES), min_size=1, max_size=4, unique=True),
            }
        )
    )
    if draw(st.sampled_from([True, True, False])):  # detected labels drive most score differences
        filters["detected_labels"] = draw(detected_labels(with_failed=True))
    request: dict[str, Any] = {
        "filters": filters,
        "top_k": draw(st.sampled_from(range(1, 16))),
        "min_score": draw(st.sampled_from(MIN_SCORES)),
    }
    request |= draw(some_of({"include_disabled": st.booleans()}))
    catalog = draw(
        st.lists(stored_workflow(filters), min_size=size, max_size=size, unique_by=lambda w: w["workflow_id"])
    )
    return catalog, request


def catalog_entry(workflow: dict[str, Any]) -> CatalogEntry:
    return CatalogEntry(
        workflow_id=workflow["workflow_id"],
        created_at=workflow["created_at"],
        status=workflow["status"],
        is_latest_version=workflow["is_latest_version"],
        labels=workflow["labels"],
        detected_labels=msgspec.convert(workflow["detected_labels"], DetectedLabels),
        custom_labels=workflow["custom_labels"],
    )


def catalog_row(index: int, workflow: dict[str, Any]) -> dict[str, Any]:
    """The stored row of ``workflow``, built by the service's own create path plus fixed id and times."""
    content = f"workflow {index}"
    body = {
        "workflow_name": f"wf-{index}",
        "version": "1.0.0",
        "name": f"Workflow {index}",
        "description": "generated",
        "content": content,
        "content_hash": hashlib.sha256(content.encode()).hexdigest(),
        "execution_engine": "tekton",
        "status": workflow["status"],
        "labels": workflow["labels"],
        "custom_labels": workflow["custom_labels"],
        "detected_labels": workflow["detected_labels"],
    }
    values = workflow_row_values(msgspec.convert(body, WorkflowCreate), None)
    return {
        **values,
        "workflow_id": workflow["workflow_id"],
        "is_latest_version": workflow["is_latest_version"],
        "created_at": workflow["created_at"],
        "updated_at": workflow["created_at"],
    }


def search_query(request: dict[str, Any]) -> SearchQuery:
    filters = request["filters"]
    detected = filters.get("detected_labels")
    return SearchQuery(
        labels={label: filters[label] for label in MANDATORY_LABELS},
        detected_labels=None if detected is None else msgspec.convert(detected, DetectedLabels),
        custom_labels=filters.get("custom_labels", {}),
        statuses=filters.get("status"),
        include_disabled=request.get("include_disabled", False),
        top_k=request["top_k"],
        min_score=request["min_score"],
    )


async def truncate(app: Litestar) -> None:
    async with runtime_of(app).sessionmaker() as session, session.begin():
        await session.execute(text("TRUNCATE workflows"))


async def store(app: Litestar, catalog: list[dict[str, Any]]) -> None:
    await truncate(app)
    async with runtime_of(app).sessionmaker() as session, session.begin():
        await insert_workflow_rows(session, [catalog_row(i, w) for i, w in enumerate(catalog)])


@pytest.fixture(scope="module")
async def truncate_afterwards(app: Litestar) -> AsyncIterator[None]:
    yield
    await truncate(app)


@pytest.mark.property
@pytest.mark.usefixtures("truncate_afterwards")
@settings(max_examples=300)
@given(example=examples())
async def test_sql_search_ranks_like_the_reference(
    app: Litestar, app_client: httpx.AsyncClient, example: tuple[list[dict[str, Any]], dict[str, Any]]
) -> None:
    catalog, search_request = example
    await store(app, catalog)

    response = await app_client.post("/api/v1/workflows/search", json=search_request)

    assert response.status_code == 200, response.text
    found = response.json()
    expected = rank([catalog_entry(w) for w in catalog], search_query(search_request))
    assert [
        (
            UUID(w["workflow_id"]),
            w["final_score"],
            w["label_boost"],
            w["label_penalty"],
            w["custom_label_boost"],
            w["label_specificity"],
        )
        for w in found["workflows"]
    ] == [
        (
            s.workflow_id,
            float(s.final_score),
            float(s.detected_boost),
            float(s.label_penalty),
            float(s.custom_boost),
            s.label_specificity,
        )
        for s in expected.results
    ]
    assert found["total_results"] == expected.total_results
    assert [w["rank"] for w in found["workflows"]] == list(range(1, len(expected.results) + 1))
    assert all(w["confidence"] == w["final_score"] for w in found["workflows"])
