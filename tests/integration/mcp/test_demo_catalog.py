"""On the demo catalog (``workflow-search seed``'s), every search the tool answers equals the
HTTP API's, by labels and by text, and every explanation adds up to the score it explains."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar

from app.cli.demo import demo_workflows
from tests.integration.mcp.clients import answer, mcp_session

# A concrete request value for a demo label given as '*' or as a list.
CONCRETE = {"severity": "critical", "environment": "production", "priority": "P0"}


def request_for(labels: dict[str, Any]) -> dict[str, str]:
    """The demo workflow's labels as a request would give them: one concrete value each."""
    values = {label: value if isinstance(value, str) else value[0] for label, value in labels.items()}
    return {label: CONCRETE.get(label, "pod") if value == "*" else value for label, value in values.items()}


async def test_every_demo_search_answers_as_http_does(app: Litestar, client: httpx.AsyncClient) -> None:
    workflows = demo_workflows()
    for workflow in workflows:
        response = await client.post("/api/v1/workflows", json=msgspec.to_builtins(workflow))
        assert response.status_code == 201, response.text
    requests: list[dict[str, Any]] = []
    for workflow in workflows:
        filters: dict[str, Any] = request_for(msgspec.to_builtins(workflow.labels))
        requests.append({"filters": filters})
        requests.append({"filters": {**filters, "detected_labels": {"gitOpsManaged": True, "gitOpsTool": "argocd"}}})
        requests.append({"filters": filters, "query": workflow.description})
    found_any = 0
    async with mcp_session(app) as session:
        for request in requests:
            over_http = (await client.post("/api/v1/workflows/search", json=request)).json()
            found = await answer(session, "search_workflows", request)
            explanations = found.pop("explanations")
            assert found == over_http, request
            for result, explanation in zip(found["workflows"], explanations, strict=True):
                effects = sum(factor["effect"] for factor in explanation["factors"])
                assert min(1.0, max(0.0, effects)) == pytest.approx(result["final_score"], abs=1e-6), explanation
            found_any += len(found["workflows"])
    assert found_any >= len(requests)
