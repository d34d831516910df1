"""No request value is spliced into SQL: classic injection strings in every free-text filter and
label field are stored and matched literally, and JSONB keys from requests follow strict patterns."""

from __future__ import annotations

import httpx
import pytest

from tests.factories import audit_event_body, workflow_body

INJECTIONS = [
    "'; DROP TABLE workflows; --",
    "' OR '1'='1",
    '" OR 1=1 --',
    "%' OR '%'='",
    "x'); SELECT pg_sleep(5); --",
    "$1::text",
    "\\'; --",
    "* OR *",
]
FILTERS = {"severity": "critical", "component": "pod", "environment": "production", "priority": "P0"}


@pytest.mark.parametrize("text", INJECTIONS)
async def test_audit_fields_and_filters_are_literal(client: httpx.AsyncClient, text: str) -> None:
    event = audit_event_body(correlation_id=text, event_type=text[:100], event_data={"note": text})
    assert (await client.post("/api/v1/audit/events", json=event)).status_code == 201
    assert (await client.post("/api/v1/audit/events", json=audit_event_body(correlation_id="other"))).status_code == 201

    by_correlation = (await client.get("/api/v1/audit/events", params={"correlation_id": text})).json()
    by_type = (await client.get("/api/v1/audit/events", params={"event_type": text[:100]})).json()
    by_detail = (await client.get("/api/v1/audit/events", params={"detail_key": "note", "detail_value": text})).json()
    for page in (by_correlation, by_type, by_detail):
        assert [e["correlation_id"] for e in page["data"]] == [text]
    assert (await client.get("/api/v1/audit/events")).json()["pagination"]["total"] == 2


@pytest.mark.parametrize("text", INJECTIONS)
async def test_workflow_labels_and_search_filters_are_literal(client: httpx.AsyncClient, text: str) -> None:
    labels = {"signal_type": text, **FILTERS}
    body = workflow_body(workflow_name="literal", labels=labels, custom_labels={"team": [text]})
    created = await client.post("/api/v1/workflows", json=body)
    assert created.status_code == 201, created.text
    decoy = workflow_body(workflow_name="decoy", labels={"signal_type": "OOMKilled", **FILTERS})
    assert (await client.post("/api/v1/workflows", json=decoy)).status_code == 201

    search = {"filters": {"signal_type": text, **FILTERS, "custom_labels": {"team": [text]}}}
    found = (await client.post("/api/v1/workflows/search", json=search)).json()
    assert [w["workflow_name"] for w in found["workflows"]] == ["literal"]
    assert found["workflows"][0]["custom_label_boost"] > 0  # the value matched as text
    listed = (await client.get("/api/v1/workflows", params={"component": "pod"})).json()
    assert listed["total"] == 2  # both tables intact


@pytest.mark.parametrize("key", ["a'; DROP TABLE workflows; --", "team name", 'x"y', "-lead", "k" * 101])
async def test_custom_label_keys_from_requests_follow_a_strict_pattern(client: httpx.AsyncClient, key: str) -> None:
    search = {"filters": {"signal_type": "OOMKilled", **FILTERS, "custom_labels": {key: ["v"]}}}
    response = await client.post("/api/v1/workflows/search", json=search)
    assert response.status_code == 400
    assert any(field.startswith("filters.custom_labels") for field in response.json()["field_errors"])
    created = await client.post("/api/v1/workflows", json=workflow_body(custom_labels={key: ["v"]}))
    assert created.status_code == 400
    assert (await client.get("/api/v1/workflows")).json()["total"] == 0


@pytest.mark.parametrize("key", ["note'--", "a b", "x->>y", ""])
async def test_audit_detail_keys_follow_a_strict_pattern(client: httpx.AsyncClient, key: str) -> None:
    response = await client.get("/api/v1/audit/events", params={"detail_key": key, "detail_value": "v"})
    assert response.status_code == 400
    assert "detail_key" in response.json()["field_errors"]


TOO_MANY = [f"v{i}" for i in range(51)]


@pytest.mark.parametrize(
    ("labels", "custom_labels", "field"),
    [
        ({"component": "c" * 256}, None, "labels.component"),
        ({"severity": TOO_MANY}, None, "labels.severity"),
        ({}, {f"k{i}": ["v"] for i in range(51)}, "custom_labels"),
        ({}, {"team": TOO_MANY}, "custom_labels"),
        ({}, {"team": ["v" * 256]}, "custom_labels"),
    ],
)
async def test_labels_per_request_are_bounded(
    client: httpx.AsyncClient, labels: dict[str, object], custom_labels: dict[str, list[str]] | None, field: str
) -> None:
    """Label values up to 255 characters, lists and custom labels up to 50 entries; past that a 400
    naming the field, on create and on search alike, and nothing stored."""
    created = await client.post("/api/v1/workflows", json=workflow_body(labels=labels, custom_labels=custom_labels))
    assert created.status_code == 400, created.text
    assert any(name.startswith(field) for name in created.json()["field_errors"]), created.json()
    filters: dict[str, object] = {"signal_type": "OOMKilled", **FILTERS, **labels}
    if custom_labels is not None:
        filters["custom_labels"] = custom_labels
    searched = await client.post("/api/v1/workflows/search", json={"filters": filters})
    assert searched.status_code == 400, searched.text
    assert searched.headers["content-type"].startswith("application/problem+json")
    assert (await client.get("/api/v1/workflows")).json()["total"] == 0
