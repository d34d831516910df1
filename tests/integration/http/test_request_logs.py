"""Structured logs: a request's id is on every line it writes and comes back in the response;
an error is logged once, without the request body."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from litestar import Litestar
from prometheus_client import REGISTRY

from app.http.runtime import runtime_of
from app.lib.logs import configure_logging
from tests.factories import workflow_body
from tests.faults import trigger_fault


@pytest.fixture
def read_log() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The JSON lines every logger has written since the test began (the production format)."""
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        configure_logging("INFO", "json")  # as the session had it (tests/conftest.py)


async def test_the_request_id_is_on_every_line_of_the_request_and_in_the_response(
    client: httpx.AsyncClient, app: Litestar, read_log: Callable[[], list[dict[str, Any]]]
) -> None:
    body = workflow_body(description="private-body-marker " * 20)
    fault = "RAISE EXCEPTION 'disk on fire';"
    async with trigger_fault(runtime_of(app).engine, "refuse_insert", table="workflows", event="INSERT", body=fault):
        response = await client.post("/api/v1/workflows", json=body, headers={"X-Request-ID": "req-42.a_b:c"})
    lines = read_log()

    assert response.status_code == 500
    assert response.headers["x-request-id"] == "req-42.a_b:c"
    from_request = [line for line in lines if line.get("logger") in {"app.lib.errors", "app.requests"}]
    assert [line["event"] for line in from_request] == [
        "unhandled error on POST /api/v1/workflows", "request completed",
    ]  # fmt: skip
    for line in from_request:
        assert (line["request_id"], line["route"], line["method"]) == ("req-42.a_b:c", "/api/v1/workflows", "POST")
    (error,) = [line for line in lines if "exception" in line]  # logged once, with its traceback
    assert error["logger"] == "app.lib.errors"
    assert from_request[-1]["status"] == 500
    assert "private-body-marker" not in json.dumps(lines)


@pytest.mark.parametrize("sent", [None, "", "has spaces", "x" * 129, "semi;colon", "<script>"])
async def test_a_missing_or_unfit_request_id_is_replaced_by_a_generated_one(
    client: httpx.AsyncClient, sent: str | None
) -> None:
    headers = {} if sent is None else {"X-Request-ID": sent}
    first = await client.get("/health/live", headers=headers)
    second = await client.get("/health/live", headers=headers)

    generated = first.headers["x-request-id"]
    assert len(generated) == 32 and int(generated, 16) >= 0  # noqa: PT018 - one property: 32 hex digits
    assert second.headers["x-request-id"] != generated


async def test_an_unknown_path_is_answered_with_its_id_logged_and_counted(
    client: httpx.AsyncClient, read_log: Callable[[], list[dict[str, Any]]]
) -> None:
    labels = {"method": "GET", "route": "unmatched", "status": "404"}
    before = REGISTRY.get_sample_value("http_requests_total", labels) or 0.0

    response = await client.get("/no/such/path", headers={"X-Request-ID": "lost-1"})

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["x-request-id"] == "lost-1"
    (line,) = [line for line in read_log() if line.get("request_id") == "lost-1"]
    assert (line["event"], line["route"], line["status"]) == ("request completed", "unmatched", 404)
    assert REGISTRY.get_sample_value("http_requests_total", labels) == before + 1
