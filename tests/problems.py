"""The one assertion for a problem+json answer (RFC 9457), checked against the catalogue."""

from __future__ import annotations

from typing import Any

import httpx

from app.lib.problems import CATALOGUE, PROBLEM_JSON

PROBLEM_BASE = "https://kubernaut.ai/problems"  # the settings' default problem_base_url
_BY_SLUG = {problem.slug: problem for problem in CATALOGUE}


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    """A problem of catalogue type ``slug`` with ``status``, about the request's own path; its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    expected = _BY_SLUG[slug]
    assert (expected.status, body["status"]) == (status, status), body
    assert body["type"] == f"{PROBLEM_BASE}/{slug}", body
    assert body["title"] == expected.title, body
    assert isinstance(body["detail"], str), body
    assert body["detail"], body
    assert body["instance"] == response.request.url.path, body
    return body


def field_errors(response: httpx.Response, status: int = 400, slug: str = "validation-error") -> dict[str, str]:
    """The ``field_errors`` of a validation problem."""
    return dict(assert_problem(response, status, slug).get("field_errors") or {})
