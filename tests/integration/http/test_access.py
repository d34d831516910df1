"""Bearer tokens with scopes: 401 without a known token, 403 without the scope, probes open."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar

from app.factory import create_app
from app.http.access import AccessToken, digest, new_token
from app.lib.settings import Settings
from embeddings.model import SentenceEncoder
from tests.commands import SCRIPT, command_env
from tests.factories import audit_event_body, workflow_body
from tests.problems import assert_problem
from tests.servers import asgi_transport, free_port, running

FILTERS = {"signal_type": "OOMKilled", "severity": "critical", "component": "pod",
           "environment": "production", "priority": "P0"}  # fmt: skip
READER, READER_ENTRY = new_token("agent", frozenset({"read"}))
WRITER, WRITER_ENTRY = new_token("audit-writer", frozenset({"write"}))
ADMIN, ADMIN_ENTRY = new_token("operator", frozenset({"admin"}))


@pytest.fixture
async def guarded(
    settings: Settings, sentence_encoder: SentenceEncoder, client: httpx.AsyncClient
) -> AsyncIterator[Litestar]:
    tokens = msgspec.json.encode([READER_ENTRY, WRITER_ENTRY, ADMIN_ENTRY]).decode()
    async with running(create_app(settings.with_overrides(auth_tokens=tokens), encoder=sentence_encoder)) as app:
        yield app


@pytest.fixture
async def http(guarded: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    transport = asgi_transport(guarded)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def as_(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    """Refused before the router, yet with a request id like any answer."""
    assert response.headers["x-request-id"]
    return assert_problem(response, status, slug)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-known-token"}, {"Authorization": f"Basic {READER}"},
     {"Authorization": "Bearer"}],
)  # fmt: skip
async def test_a_missing_or_unknown_token_is_unauthorized(http: httpx.AsyncClient, headers: dict[str, str]) -> None:
    response = await http.get("/api/v1/workflows", headers=headers)
    problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_read_scope_reads_and_searches_but_writes_nothing(
    http: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    assert (await http.get("/api/v1/workflows", headers=as_(READER))).status_code == 200
    search = await http.post("/api/v1/workflows/search", json={"filters": FILTERS}, headers=as_(READER))
    assert search.status_code == 200
    refused = await http.post("/api/v1/workflows", json=workflow_body(), headers=as_(READER))
    assert "'write'" in problem(refused, 403, "forbidden")["detail"]
    assert (await client.get("/api/v1/workflows")).json()["total"] == 0


async def test_write_scope_writes_audit_events_but_does_not_read(http: httpx.AsyncClient) -> None:
    written = await http.post("/api/v1/audit/events", json=audit_event_body(), headers=as_(WRITER))
    assert written.status_code == 201
    problem(await http.get("/api/v1/audit/events", headers=as_(WRITER)), 403, "forbidden")


async def test_legal_holds_need_write_name_their_token_and_chains_verify_with_read(http: httpx.AsyncClient) -> None:
    hold = {"correlation_id": "rr-2026-001", "reason": "litigation"}
    problem(await http.post("/api/v1/audit/legal-hold", json=hold, headers=as_(READER)), 403, "forbidden")
    placed = await http.post("/api/v1/audit/legal-hold", json=hold, headers=as_(WRITER))
    assert (placed.status_code, placed.json()["placed_by"]) == (200, "audit-writer")
    assert (await http.get("/api/v1/audit/legal-hold", headers=as_(READER))).json()["total"] == 1
    release = "/api/v1/audit/legal-hold/rr-2026-001?reason=closed"
    problem(await http.delete(release, headers=as_(READER)), 403, "forbidden")
    released = await http.delete(release, headers=as_(ADMIN))
    assert (released.status_code, released.json()["released_by"]) == (200, "operator")
    verified = await http.post("/api/v1/audit/verify-chain", json=hold, headers=as_(READER))
    assert (verified.status_code, verified.json()["is_valid"]) == (200, True)


async def test_admin_scope_may_do_everything(http: httpx.AsyncClient) -> None:
    assert (await http.post("/api/v1/workflows", json=workflow_body(), headers=as_(ADMIN))).status_code == 201
    assert (await http.get("/api/v1/workflows", headers=as_(ADMIN))).json()["total"] == 1


OPEN_PATHS = [
    "/health",
    "/health/ready",
    "/health/live",
    "/metrics",
    "/schema/openapi.json",
    "/schema",
    "/schema/swagger",
    "/schema/assets/redoc/redoc.standalone.js",
    "/schema/assets/swagger/swagger-ui.css",
]


@pytest.mark.parametrize("path", OPEN_PATHS)
async def test_probes_metrics_and_the_schema_need_no_token(http: httpx.AsyncClient, path: str) -> None:
    assert (await http.get(path)).status_code == 200


def test_the_configuration_holds_digests_only() -> None:
    assert READER not in msgspec.json.encode(READER_ENTRY).decode()
    assert len(READER_ENTRY.sha256) == 64


def _serve(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SCRIPT, "serve", "--port", str(free_port()), *args],
        env={**command_env(), **env}, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_serve_refuses_a_public_address_without_tokens() -> None:
    result = _serve({}, "--host", "0.0.0.0")
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0 with no access tokens" in result.stderr


def test_serve_refuses_malformed_tokens_naming_the_variable() -> None:
    entry = {"name": "x", "sha256": "not-hex", "scopes": ["read"]}
    result = _serve({"WORKFLOW_SEARCH_AUTH_TOKENS": msgspec.json.encode([entry]).decode()})
    assert result.returncode == 2
    assert result.stderr.startswith("workflow-search: WORKFLOW_SEARCH_AUTH_TOKENS: ")


def test_serve_refuses_a_short_chain_key_naming_the_variable_not_the_key() -> None:
    result = _serve({"WORKFLOW_SEARCH_AUDIT_CHAIN_HMAC_KEY": "too-short-secret"})
    assert result.returncode == 2
    assert result.stderr.startswith("workflow-search: WORKFLOW_SEARCH_AUDIT_CHAIN_HMAC_KEY: ")
    assert "too-short-secret" not in result.stderr


def test_token_new_prints_a_token_and_its_digest_entry() -> None:
    result = subprocess.run(
        [*SCRIPT, "token", "new", "--name", "agent", "--scopes", "read,write"],
        env=command_env(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    token_line, entry_line = result.stdout.splitlines()
    token = token_line.rsplit(" ", 1)[1]
    entry = msgspec.json.decode(entry_line.split(": ", 1)[1], type=AccessToken)
    assert (entry.name, entry.scopes) == ("agent", frozenset({"read", "write"}))
    assert entry.sha256 == digest(token) != token


async def test_a_client_over_its_rate_gets_429_with_retry_after(
    settings: Settings, sentence_encoder: SentenceEncoder, client: httpx.AsyncClient
) -> None:
    limited = settings.with_overrides(rate_limit_per_second=0.5, rate_limit_burst=3)
    async with running(create_app(limited, encoder=sentence_encoder)) as app:
        transport = asgi_transport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            statuses = [(await http.get("/api/v1/workflows")).status_code for _ in range(4)]
            refused = await http.get("/api/v1/workflows")
            other_client = await http.get("/api/v1/workflows", headers=as_(READER))
            probe = await http.get("/health/live")

    assert statuses == [200, 200, 200, 429]
    assert problem(refused, 429, "rate-limit-exceeded")["detail"].startswith("too many requests")
    assert refused.headers["retry-after"] == "2"
    assert other_client.status_code == 200  # its own bucket (no tokens configured: any token passes)
    assert probe.status_code == 200
