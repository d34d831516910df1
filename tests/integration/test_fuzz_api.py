"""Schemathesis against the service's own OpenAPI document, over real HTTP: whatever the schema
allows (and the edge values it generates around it), no answer is a 5xx and every error is
problem+json. Bounded examples, derandomized, so a CI run is repeatable."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeAlias

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import APIOperation, Case
from schemathesis.core.errors import InvalidSchema
from schemathesis.core.result import Err, Ok
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.integration.test_cli import SCRIPT, _env
from tests.servers import free_port

READY_TIMEOUT_SECONDS = 180
# schemathesis' own signatures (get_all_operations) use the bare generic: its parameters are Any there too.
Operation: TypeAlias = APIOperation[Any, Any, Any, Any]


@pytest.fixture(scope="module")
def fuzz_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("fuzz")
    port = free_port()
    log_path = Path(data_dir) / "serve.log"
    env = {**_env(), "DATABASE_URL": database_url, "WORKFLOW_SEARCH_DATA_DIR": str(data_dir),
           "WORKFLOW_SEARCH_EMBEDDING_BACKFILL_ON_START": "false",
           "WORKFLOW_SEARCH_SHUTDOWN_PROPAGATION_SECONDS": "0"}  # fmt: skip
    with log_path.open("w") as log:
        process = subprocess.Popen([*SCRIPT, "serve", "--port", str(port)], env=env, stdout=log, stderr=log)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"{base_url}/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        else:
            pytest.fail(f"server did not become ready:\n{log_path.read_text()}")
        yield base_url
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


@pytest.fixture(scope="module")
def api_schema(fuzz_server: str) -> BaseSchema:
    return schemathesis.openapi.from_url(f"{fuzz_server}/schema/openapi.json")


# Documented status, documented content type, body valid against the documented schema.
CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]


def check_response(case: Case[Operation]) -> None:
    response = case.call(timeout=30)
    reproduce = f"{case.method} {case.formatted_path} query={case.query} body={str(case.body)[:300]}"
    assert response.status_code < 500, f"{reproduce}\n-> {response.status_code} {response.text[:500]}"
    if response.status_code >= 400:
        header: list[str] | str = response.headers["content-type"]
        content_type = header[0] if isinstance(header, list) else header  # schemathesis: lists
        assert content_type.startswith("application/problem+json"), reproduce
        assert response.json()["status"] == response.status_code
    case.validate_response(response, checks=CONFORMANCE)


def _operation(result: Ok[Operation] | Err[InvalidSchema]) -> Operation:
    """The operation, or the schema error that kept schemathesis from reading it, raised."""
    if isinstance(result, Err):
        raise result.err()
    return result.ok()


def test_no_generated_request_gets_a_server_error_and_every_response_matches_the_schema(
    api_schema: BaseSchema,
) -> None:
    # Hypothesis driven directly (schemathesis' pytest plugin predates this pytest): each operation in turn.
    operations = [_operation(result) for result in api_schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:
        run = settings(
            max_examples=15, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )(given(case=operation.as_strategy())(check_response))
        run()


@pytest.mark.parametrize(
    ("path", "field"),
    [("/api/v1/workflows?component=%00", "component"), ("/api/v1/audit/events?event_type=a%00b", "event_type"),
     ("/api/v1/workflows?offset=246159143977307204110211265968549658624", "offset")],
)  # fmt: skip
async def test_values_the_database_cannot_take_are_validation_errors(
    client: httpx.AsyncClient, path: str, field: str
) -> None:
    """What the fuzzer found: a NUL in a query value, an offset past any bigint."""
    response = await client.get(path)
    assert response.status_code == 400, response.text
    assert field in response.json()["field_errors"]
