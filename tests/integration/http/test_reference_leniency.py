"""Requests the reference document allows and the reference serves: answered here too, the way
the reference answers them (an empty query value is absent, an out-of-range page is the default
page, any bigint duration is stored), rather than with an undocumented 400."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.factories import audit_event_body, remediation_body, workflow_body

WORKFLOWS = "/api/v1/workflows"
EVENTS = "/api/v1/audit/events"
REMEDIATIONS = "/api/v1/audit/remediations"
BIGINT_MAX = 2**63 - 1

# (path, default limit, where the page's limit and offset are in the body)
LISTS = [(WORKFLOWS, 100, ()), (EVENTS, 50, ("pagination",)), (REMEDIATIONS, 50, ("pagination",))]


def page_of(body: dict[str, Any], where: tuple[str, ...]) -> tuple[int, int]:
    for key in where:
        body = body[key]
    return body["limit"], body["offset"]


async def get_ok(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    response = await client.get(url)
    assert response.status_code == 200, f"{url}: {response.text}"
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
async def stored(client: httpx.AsyncClient) -> None:
    """Two of each kind of record, so that a filter on the empty string would be seen to drop them."""
    for n in range(2):
        assert (await client.post(WORKFLOWS, json=workflow_body())).status_code == 201
        event = audit_event_body(correlation_id=f"rr-{n}")
        assert (await client.post(EVENTS, json=event)).status_code == 201
        assert (await client.post(REMEDIATIONS, json=remediation_body(name=f"r-{n}"))).status_code == 201


@pytest.mark.parametrize(("path", "default_limit", "where"), LISTS)
@pytest.mark.parametrize(
    ("query", "expected"),
    [("limit=0", ("default", 0)), ("limit=-5", ("default", 0)), ("offset=-1", ("default", 0)),
     ("limit=0&offset=-100", ("default", 0)), ("limit=7&offset=-1", (7, 0))],
)  # fmt: skip
async def test_a_page_out_of_range_falls_back_to_the_defaults(
    client: httpx.AsyncClient,
    stored: None,
    path: str,
    default_limit: int,
    where: tuple[str, ...],
    query: str,
    expected: tuple[Any, int],
) -> None:
    body = await get_ok(client, f"{path}?{query}")
    limit = default_limit if expected[0] == "default" else expected[0]
    assert page_of(body, where) == (limit, expected[1])


@pytest.mark.parametrize(("path", "default_limit", "where"), LISTS)
async def test_a_limit_above_the_documented_maximum_is_still_a_validation_error(
    client: httpx.AsyncClient, path: str, default_limit: int, where: tuple[str, ...]
) -> None:
    response = await client.get(f"{path}?limit=1001")
    assert response.status_code == 400
    assert "limit" in response.json()["field_errors"]


@pytest.mark.parametrize(("path", "default_limit", "where"), LISTS)
async def test_an_offset_past_a_million_is_an_empty_page(
    client: httpx.AsyncClient, stored: None, path: str, default_limit: int, where: tuple[str, ...]
) -> None:
    """No cap of ours: any offset up to a bigint, PostgreSQL's own bound, and a larger one (still
    64 bits) as that bound, the same empty page."""
    for asked, used in (
        (1_000_001, 1_000_001),
        (2**53 + 1, 2**53 + 1),
        (BIGINT_MAX, BIGINT_MAX),
        (2**64 - 1, BIGINT_MAX),
    ):
        body = await get_ok(client, f"{path}?offset={asked}")
        assert page_of(body, where) == (default_limit, used)
        assert body.get("workflows", body.get("data")) == []


async def test_the_list_parameters_carry_only_the_reference_bounds(client: httpx.AsyncClient) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    for path in (WORKFLOWS, EVENTS, REMEDIATIONS):
        parameters = {p["name"]: p["schema"] for p in document["paths"][path]["get"]["parameters"]}
        assert parameters["offset"] == {"type": "integer", "default": 0}, path
        assert "minimum" not in parameters["limit"], path
        assert parameters["limit"]["maximum"] == 1000, path


@pytest.mark.parametrize(
    "url",
    [
        f"{WORKFLOWS}?status=&environment=&priority=&component=&workflow_name=&limit=&offset=",
        f"{EVENTS}?event_type=&event_category=&event_outcome=&severity=&correlation_id=&since=&until="
        "&detail_key=&detail_value=&limit=&offset=",
        f"{REMEDIATIONS}?name=&namespace=&phase=&action_type=&status=&remediation_request_id=&severity="
        "&environment=&since=&until=&limit=&offset=",
        f"{EVENTS}?correlation_id",  # no "=" at all: as empty
    ],
)
async def test_an_empty_query_value_is_an_absent_parameter(client: httpx.AsyncClient, stored: None, url: str) -> None:
    body = await get_ok(client, url)
    records: list[Any] = body.get("workflows", body.get("data")) or []
    assert len(records) == 2, "an empty value filtered on the empty string"


async def test_an_empty_value_leaves_the_other_parameters_as_they_came(client: httpx.AsyncClient, stored: None) -> None:
    body = await get_ok(client, f"{EVENTS}?since=&correlation_id=rr-1&until=")
    assert [event["correlation_id"] for event in body["data"]] == ["rr-1"]
    encoded = await get_ok(client, f"{EVENTS}?event_type=&correlation_id=rr%2D0")
    assert [event["correlation_id"] for event in encoded["data"]] == ["rr-0"]


@pytest.mark.parametrize("duration_ms", [-1, -(2**63), BIGINT_MAX, 0])
async def test_any_bigint_duration_is_stored_as_the_reference_stores_it(
    client: httpx.AsyncClient, duration_ms: int
) -> None:
    event = audit_event_body(correlation_id="duration", duration_ms=duration_ms)
    response = await client.post(EVENTS, json=event)
    assert response.status_code == 201, response.text
    body = await get_ok(client, f"{EVENTS}?correlation_id=duration")
    assert [e["duration_ms"] for e in body["data"]] == [duration_ms]


async def test_a_duration_past_a_bigint_is_refused_and_not_stored(client: httpx.AsyncClient) -> None:
    response = await client.post(EVENTS, json=audit_event_body(correlation_id="too-long", duration_ms=-(2**63) - 1))
    assert response.status_code == 400
    assert set(response.json()["field_errors"]) == {"duration_ms"}
    assert (await get_ok(client, f"{EVENTS}?correlation_id=too-long"))["data"] == []
