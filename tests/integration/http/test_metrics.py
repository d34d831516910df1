"""Prometheus metrics: each named metric moves with a varied workload, and series stay bounded."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from uuid import uuid4

import httpx
from litestar import Litestar
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncEngine

from app.http.runtime import runtime_of
from tests.factories import audit_event_body, notification_audit_body, remediation_body, workflow_body
from tests.faults import trigger_fault

FILTERS = {"signal_type": "OOMKilled", "severity": "critical", "component": "pod",
           "environment": "production", "priority": "P0"}  # fmt: skip
SERIES_CAP = 1500


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def snapshot() -> dict[str, Callable[[], float]]:
    """What the workload should move, each read as a function so it can be read before and after."""
    return {
        "http POST /api/v1/workflows/search 200": lambda: sample(
            "http_requests_total", method="POST", route="/api/v1/workflows/search", status="200"
        ),
        "http GET /api/v1/workflows/{workflow_id} 404": lambda: sample(
            "http_requests_total", method="GET", route="/api/v1/workflows/{workflow_id}", status="404"
        ),
        "http latency search": lambda: sample(
            "http_request_duration_seconds_count", method="POST", route="/api/v1/workflows/search"
        ),
        **{
            f"search {mode}": partial(sample, "search_duration_seconds_count", mode=mode)
            for mode in ("label", "semantic", "hybrid")
        },
        "search results label": lambda: sample("search_results_sum", mode="label"),
        "embedding duration": lambda: sample("embedding_duration_seconds_count"),
        "embedding batch size": lambda: sample("embedding_batch_size_count"),
        "embedding cache hits": lambda: sample("embedding_cache_hits_total"),
        "embedding cache misses": lambda: sample("embedding_cache_misses_total"),
        "write audit_events stored": lambda: sample("write_total", table="audit_events", status="stored"),
        "write notification_audit stored": lambda: sample("write_total", table="notification_audit", status="stored"),
        "write remediation_audits stored": lambda: sample("write_total", table="remediation_audits", status="stored"),
        "write duration audit_events": lambda: sample("write_duration_seconds_count", table="audit_events"),
        "dualwrite success": lambda: sample("dualwrite_success_total"),
        "dualwrite failure": lambda: sample("dualwrite_failure_total", reason="DBAPIError"),
        "fallback mode": lambda: sample("fallback_mode_total"),
        "audit traces gateway success": lambda: sample("audit_traces_total", service="gateway", status="success"),
        "audit traces notification success": lambda: sample(
            "audit_traces_total", service="notification", status="success"
        ),
        "audit lag gateway": lambda: sample("audit_lag_seconds_count", service="gateway"),
        "validation event_type": lambda: sample("validation_failures_total", field="event_type", reason="missing"),
        "validation custom labels": lambda: sample(
            "validation_failures_total", field="filters.custom_labels", reason="length"
        ),
    }


async def varied_workload(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    for name in ("metrics-a", "metrics-b"):
        assert (await client.post("/api/v1/workflows", json=workflow_body(workflow_name=name))).status_code == 201
    assert (await client.get(f"/api/v1/workflows/{uuid4()}")).status_code == 404
    label = await client.post("/api/v1/workflows/search", json={"filters": FILTERS})
    assert label.json()["total_results"] == 2
    text = f"pod killed for using too much memory {uuid4()}"
    for _ in range(2):  # the second time, the query embedding comes from the cache
        assert (
            await client.post("/api/v1/workflows/search", json={"query": text, "filters": FILTERS})
        ).status_code == 200
    hybrid = {"query": "memory", "filters": {**FILTERS, "detected_labels": {"gitOpsManaged": True}}}
    assert (await client.post("/api/v1/workflows/search", json=hybrid)).status_code == 200
    assert (await client.post("/api/v1/audit/events", json=audit_event_body())).status_code == 201
    batch = [audit_event_body() for _ in range(3)]
    assert (await client.post("/api/v1/audit/events/batch", json=batch)).status_code == 201
    assert (await client.post("/api/v1/audit/notifications", json=notification_audit_body())).status_code == 201
    assert (await client.post("/api/v1/audit/remediations", json=remediation_body())).status_code == 201
    refuse = "RAISE EXCEPTION 'vector store down';"
    async with trigger_fault(engine, "refuse_vector", table="remediation_audit_vectors", event="INSERT", body=refuse):
        fallback = await client.post("/api/v1/audit/remediations", json=remediation_body())
    assert fallback.json()["fallback_mode"] is True
    missing_type = {key: value for key, value in audit_event_body().items() if key != "event_type"}
    assert (await client.post("/api/v1/audit/events/batch", json=[missing_type] * 3)).status_code == 400


async def test_each_named_metric_moves_with_a_varied_workload(client: httpx.AsyncClient, app: Litestar) -> None:
    await runtime_of(app).search_audit.flush()
    readings = snapshot()
    before = {name: read() for name, read in readings.items()}

    await varied_workload(client, runtime_of(app).engine)
    # Client-chosen custom label keys must not become label values.
    for index in range(50):
        body = {"filters": {**FILTERS, "custom_labels": {f"key-{uuid4()}": ["x" * 300]}}, "top_k": 1}
        assert (await client.post("/api/v1/workflows/search", json=body)).status_code == 400, index

    await runtime_of(app).search_audit.flush()  # the searches' own audit events are written too
    moved = {name: read() - before[name] for name, read in readings.items()}
    assert [name for name, delta in moved.items() if delta <= 0] == []
    assert moved["search label"] == 1
    assert moved["embedding cache hits"] >= 1
    assert moved["write audit_events stored"] == 4 + 4  # 1 + 3 sent, 4 successful searches recorded
    assert moved["audit traces gateway success"] == 4
    assert moved["validation event_type"] == 3  # one per batch item, not one series per index
    assert moved["validation custom labels"] == 50


async def test_metrics_endpoint_serves_every_family_with_bounded_series(
    client: httpx.AsyncClient, app: Litestar
) -> None:
    await varied_workload(client, runtime_of(app).engine)
    for _ in range(100):  # many distinct ids in paths: one route template
        await client.get(f"/api/v1/workflows/{uuid4()}")

    response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = {family.name: family for family in text_string_to_metric_families(response.text)}
    expected = {
        "http_requests", "http_request_duration_seconds", "search_duration_seconds", "search_results",
        "embedding_duration_seconds", "embedding_batch_size", "embedding_cache_hits", "embedding_cache_misses",
        "write", "write_duration_seconds", "dualwrite_success", "dualwrite_failure", "fallback_mode",
        "audit_traces", "audit_lag_seconds", "validation_failures", "dlq_depth", "dlq_capacity_ratio",
        "dlq_warning", "dlq_critical", "dlq_overflow_imminent", "db_pool_size", "db_pool_in_use", "db_pool_waiting",
    }  # fmt: skip
    assert expected <= set(families)
    (pool_size,) = families["db_pool_size"].samples
    assert pool_size.value == runtime_of(app).settings.db_pool_size
    series = sum(len(family.samples) for family in families.values())
    assert series < SERIES_CAP, f"{series} series"
    routes = {s.labels["route"] for s in families["http_requests"].samples}
    assert all(route == "unmatched" or route.startswith("/") for route in routes)
    assert not any(len(route) > 80 for route in routes)


def validation_series(text: str) -> set[tuple[str, str]]:
    families = {family.name: family for family in text_string_to_metric_families(text)}
    return {(s.labels["field"], s.labels["reason"]) for s in families["validation_failures"].samples}


async def test_client_chosen_keys_never_become_label_values(client: httpx.AsyncClient) -> None:
    def rejected(key: str) -> list[tuple[str, object]]:
        bad = {key: "nul\u0000", f"n{key}": {key: "nul\u0000"}}
        return [
            ("/api/v1/audit/events", audit_event_body(event_data=bad)),
            ("/api/v1/audit/events/batch", [audit_event_body(event_data=bad)]),
            ("/api/v1/audit/remediations", remediation_body(metadata=bad)),
            ("/api/v1/workflows", workflow_body(parameters=bad)),
            ("/api/v1/workflows/search", {key: "nul\u0000"}),
        ]

    for path, body in rejected("first"):  # the first round creates the collapsed series themselves
        assert (await client.post(path, json=body)).status_code == 400, path
    before = validation_series((await client.get("/metrics")).text)
    for _ in range(20):  # 100 rejected requests, each with fresh keys
        key = f"k{uuid4().hex}"
        for path, body in rejected(key):
            response = await client.post(path, json=body)
            assert response.status_code == 400, path
            assert any(key in field for field in response.json()["field_errors"]), path  # the exact path
    after = validation_series((await client.get("/metrics")).text)

    assert after == before
    assert {("event_data.*", "length"), ("metadata.*", "length"), ("parameters.*", "length")} <= after
