"""Every bad field of a body in one response: schema errors, NUL characters and the services'
own rules (digest, label vocabularies, timestamps, vector shape) together, on every JSON
endpoint, and in a batch across its items. A rejected request writes nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import text

from app.http.runtime import runtime_of
from tests.factories import audit_event_body, notification_audit_body, remediation_body, workflow_body

NUL = "must not contain NUL (\\u0000) characters"
TABLES = ("workflows", "audit_events", "notification_audit", "remediation_audits")


async def stored_rows(app: Litestar) -> dict[str, int]:
    await runtime_of(app).search_audit.flush()  # a search's own audit event would count as a write
    async with runtime_of(app).engine.connect() as connection:
        return {table: int(await connection.scalar(text(f"SELECT count(*) FROM {table}")) or 0) for table in TABLES}


async def assert_named_at_once(
    app: Litestar, client: httpx.AsyncClient, method: str, path: str, body: Any, expected: set[str]
) -> dict[str, str]:
    before = await stored_rows(app)
    response = await client.request(method, path, json=body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"].endswith("/validation-error")
    assert set(problem["field_errors"]) == expected, problem
    assert await stored_rows(app) == before, "a rejected request wrote something"
    return dict(problem["field_errors"])


async def test_create_workflow_names_a_schema_error_and_both_label_rules(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    """The issue's example: status was named alone, the labels only once it was fixed."""
    body = workflow_body(status="zombie", labels={"severity": "urgent", "priority": "P9"})
    errors = await assert_named_at_once(
        app, client, "POST", "/api/v1/workflows", body, {"status", "labels.severity", "labels.priority"}
    )
    assert "critical" in errors["labels.severity"]
    assert "p0" in errors["labels.priority"]


async def test_create_workflow_names_a_nul_a_schema_error_and_a_digest_mismatch(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    body = workflow_body(owner="own\u0000er", expected_success_rate=2.0, content_hash="ab" * 32)
    errors = await assert_named_at_once(
        app, client, "POST", "/api/v1/workflows", body, {"owner", "expected_success_rate", "content_hash"}
    )
    assert errors["owner"] == NUL
    assert errors["content_hash"] == "must be the SHA-256 hex digest of content"


async def test_search_names_schema_errors_and_the_vector_rule(app: Litestar, client: httpx.AsyncClient) -> None:
    body = {
        "filters": {"signal_type": "OOMKilled", "severity": "urgent", "component": "pod", "environment": "prod"},
        "top_k": 0,
        "embedding": [1.0, 2.0],  # the model has 384 dimensions
    }
    errors = await assert_named_at_once(
        app, client, "POST", "/api/v1/workflows/search", body,
        {"filters.severity", "filters.priority", "top_k", "embedding"},
    )  # fmt: skip
    assert errors["embedding"] == "must have exactly 384 numbers"


async def test_search_names_a_nul_beside_the_text_or_vector_rules(app: Litestar, client: httpx.AsyncClient) -> None:
    filters = {"signal_type": "OOM\u0000", "severity": "critical", "component": "pod", "environment": "prod"}
    body = {"filters": filters | {"priority": "P0"}, "query": "memory", "embedding": [1.0] * 384}
    errors = await assert_named_at_once(
        app, client, "POST", "/api/v1/workflows/search", body, {"filters.signal_type", "query", "embedding"}
    )
    assert errors["filters.signal_type"] == NUL


async def test_update_workflow_names_three_bad_fields(app: Litestar, client: httpx.AsyncClient) -> None:
    created = await client.post("/api/v1/workflows", json=workflow_body())
    assert created.status_code == 201, created.text
    body = {"status": "zombie", "disabled_by": "x" * 256, "disabled_reason": "nul\u0000"}
    path = f"/api/v1/workflows/{created.json()['workflow_id']}"
    await assert_named_at_once(app, client, "PATCH", path, body, {"status", "disabled_by", "disabled_reason"})
    assert (await client.get(path)).json()["status"] == "active"


async def test_disable_workflow_names_both_of_its_fields(app: Litestar, client: httpx.AsyncClient) -> None:
    """The disable body has two fields only: both bad, both named."""
    created = await client.post("/api/v1/workflows", json=workflow_body())
    path = f"/api/v1/workflows/{created.json()['workflow_id']}"
    body = {"reason": "nul\u0000", "updated_by": "x" * 256}
    await assert_named_at_once(app, client, "PATCH", f"{path}/disable", body, {"reason", "updated_by"})
    assert (await client.get(path)).json()["status"] == "active"


async def test_audit_event_names_a_schema_error_a_nul_and_the_timestamp_rule(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    body = audit_event_body(
        event_outcome="maybe",
        event_data={"note": "nul\u0000"},
        event_timestamp=(datetime.now(UTC) + timedelta(hours=1)).isoformat(),
    )
    del body["event_type"]
    errors = await assert_named_at_once(
        app, client, "POST", "/api/v1/audit/events", body,
        {"event_type", "event_outcome", "event_data.note", "event_timestamp"},
    )  # fmt: skip
    assert errors["event_timestamp"] == "is more than 5 minutes in the future"


async def test_audit_event_names_an_unknown_parent_beside_a_rule_error(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    body = audit_event_body(
        parent_event_id=str(uuid.uuid4()),
        event_timestamp=(datetime.now(UTC) - timedelta(days=8)).isoformat(),
        event_data={"deep": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": {}}}}}}}}}}},
    )
    await assert_named_at_once(
        app, client, "POST", "/api/v1/audit/events", body, {"parent_event_id", "event_timestamp", "event_data"}
    )


async def test_a_batch_names_a_schema_error_in_one_item_and_a_nul_in_another(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    """The issue's example: [1] missing event_type and a NUL in [5] named only [5]."""
    items = [audit_event_body() for _ in range(7)]
    del items[1]["event_type"]
    items[5]["actor_id"] = "gate\u0000way"
    items[3]["event_timestamp"] = (datetime.now(UTC) - timedelta(days=30)).isoformat()
    errors = await assert_named_at_once(
        app, client, "POST", "/api/v1/audit/events/batch", items,
        {"[1].event_type", "[5].actor_id", "[3].event_timestamp"},
    )  # fmt: skip
    assert errors["[5].actor_id"] == NUL
    assert errors["[1].event_type"] == "is required"


async def test_a_batch_names_three_errors_of_one_item(app: Litestar, client: httpx.AsyncClient) -> None:
    items = [audit_event_body(), audit_event_body(version="", duration_ms="12", namespace="ns\u0000")]
    await assert_named_at_once(
        app, client, "POST", "/api/v1/audit/events/batch", items,
        {"[1].version", "[1].duration_ms", "[1].namespace"},
    )  # fmt: skip


async def test_notification_audit_names_three_bad_fields(app: Litestar, client: httpx.AsyncClient) -> None:
    body = notification_audit_body(channel="carrier-pigeon", escalation_level=9, recipient="ops\u0000")
    del body["sent_at"]
    await assert_named_at_once(
        app, client, "POST", "/api/v1/audit/notifications", body,
        {"channel", "escalation_level", "recipient", "sent_at"},
    )  # fmt: skip


async def test_remediation_audit_names_three_bad_fields(app: Litestar, client: httpx.AsyncClient) -> None:
    body = remediation_body(phase="exploded", status=7, metadata={"k": "nul\u0000"})
    del body["namespace"]
    await assert_named_at_once(
        app, client, "POST", "/api/v1/audit/remediations", body, {"phase", "status", "metadata.k", "namespace"}
    )


async def test_remediation_search_names_three_bad_fields(app: Litestar, client: httpx.AsyncClient) -> None:
    body = {"query": "x" * 1001, "top_k": 0, "min_similarity": 2, "filters": {"phase": "exploded"}}
    await assert_named_at_once(
        app, client, "POST", "/api/v1/audit/remediations/search", body,
        {"query", "top_k", "min_similarity", "filters.phase"},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/workflows", workflow_body(labels={"severity": "urgent"}), "labels.severity"),
        ("/api/v1/audit/events", audit_event_body(event_timestamp="2020-01-01T00:00:00Z"), "event_timestamp"),
    ],
)
async def test_a_body_that_breaks_only_a_rule_is_refused_by_its_service(
    app: Litestar, client: httpx.AsyncClient, path: str, body: dict[str, Any], field: str
) -> None:
    """The body check adds rule errors beside schema errors; alone, the service names them."""
    await assert_named_at_once(app, client, "POST", path, body, {field})


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/api/v1/audit/events?since=soon&until=later&detail_key=a-b&detail_value=x", {"since", "until", "detail_key"}),
        ("/api/v1/audit/events?since=soon&detail_value=x", {"since", "detail_key"}),
        ("/api/v1/audit/remediations?since=soon&until=2026-11-22T10:00:00", {"since", "until"}),
    ],
)
async def test_a_query_names_every_bad_filter_at_once(client: httpx.AsyncClient, url: str, expected: set[str]) -> None:
    response = await client.get(url)
    assert response.status_code == 400, response.text
    assert set(response.json()["field_errors"]) == expected
