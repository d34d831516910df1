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
