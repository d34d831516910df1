"""Edge-case bodies on every JSON endpoint: whatever arrives, the answer is a 4xx problem, never a 5xx."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from litestar import Litestar


def body_endpoints(app: Litestar) -> list[tuple[str, str]]:
    """(method, path) of every route whose handler takes a JSON body, path parameters filled in."""
    found = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if "data" not in handler.parsed_fn_signature.parameters:
                continue
            path = re.sub(r"\{[^}]*\}", str(uuid.uuid4()), route.path)
            found += [(method, path) for method in sorted(handler.http_methods) if method in {"POST", "PATCH", "PUT"}]
    return found


def nested(depth: int, kind: str) -> bytes:
    if kind == "list":
        return b"[" * depth + b"]" * depth
    return b'{"n":' * depth + b"1" + b"}" * depth


def assert_client_problem(response: httpx.Response) -> None:
    assert 400 <= response.status_code < 500, response.text[:500]
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_there_are_body_endpoints_to_check(app: Litestar) -> None:
    assert len(body_endpoints(app)) >= 6


@pytest.mark.parametrize("kind", ["list", "object"])
@pytest.mark.parametrize("depth", [10, 1_000, 100_000])
async def test_deeply_nested_bodies_are_client_errors(
    app: Litestar, client: httpx.AsyncClient, depth: int, kind: str
) -> None:
    headers = {"content-type": "application/json"}
    for method, path in body_endpoints(app):
        response = await client.request(method, path, content=nested(depth, kind), headers=headers)
        assert_client_problem(response)


async def test_deep_event_data_is_named_with_its_own_limit(client: httpx.AsyncClient) -> None:
    body = b'{"event_type":"t","event_category":"c","event_action":"a","event_outcome":"success",'
    body += b'"correlation_id":"c","event_data":' + nested(1_000, "object") + b"}"
    response = await client.post("/api/v1/audit/events", content=body, headers={"content-type": "application/json"})
    assert_client_problem(response)
    assert response.status_code == 400
    assert "body" in response.json()["field_errors"]


async def test_a_missing_body_is_named_body_on_every_endpoint_that_requires_one(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    required = [(m, p) for m, p in body_endpoints(app) if not p.endswith("/disable")]  # disable's body is optional
    assert len(required) >= 6
    for method, path in required:
        for content in (b"", b"  \n"):
            response = await client.request(method, path, content=content, headers={"content-type": "application/json"})
            assert_client_problem(response)
            assert response.status_code == 400, (method, path)
            assert response.json()["field_errors"] == {"body": "a JSON body is required"}, (method, path)
        bare = await client.request(method, path)  # no content-type either
        assert bare.json().get("field_errors") == {"body": "a JSON body is required"}, (method, path)
