"""The benchmark's lean path (benchmarks/lean_app.py) answers what the service answers.

The lean app is the baseline every search figure is held to, so it must run the service's
statement with the service's parameters: started as its own process on the tests' database
(real HTTP, as the harness starts it), it returns the same workflows, in the same order, as
``POST /api/v1/workflows/search`` for the same bodies over the benchmark catalog.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

from benchmarks import catalog
from benchmarks.service import running_lean_app

SEARCHES = 20


def _ids(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [workflow["workflow_id"] for workflow in answer.json()["workflows"]]


async def test_lean_app_returns_the_services_workflows(
    client: httpx.AsyncClient, database_url: str, tmp_path: Path
) -> None:
    dsn = urlunsplit(urlsplit(database_url)._replace(scheme="postgresql"))
    await catalog.store_rows(dsn, catalog.chunks(0, 1_000))
    searches = catalog.searches(SEARCHES)
    bodies = [s.body(with_vector=False) for s in searches] + [s.body(with_vector=True) for s in searches[:5]]
    found = 0
    with running_lean_app(dsn, tmp_path / "lean.log") as lean:
        async with httpx.AsyncClient(base_url=lean.url, timeout=30) as lean_client:
            for body in bodies:
                service_ids = _ids(await client.post("/api/v1/workflows/search", json=body))
                assert _ids(await lean_client.post("/search", json=body)) == service_ids, body["filters"]
                found += len(service_ids)
            assert (await lean_client.get("/bare")).status_code == 200
    assert found > 0  # the catalog's label spread gives most requests candidates
