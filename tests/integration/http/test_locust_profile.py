"""The Locust profile (locustfile.py) against a live service: it runs clean and exercises everything.

``workflow-search serve`` runs as a process on a database of its own in the session's
PostgreSQL (created and migrated here, dropped afterwards, so the shared test database is left
alone), started and stopped by ``benchmarks/load_run.started_service`` as `make load` does it.
The service checks access tokens, so the profile's token handling is exercised too. The demo
catalog is loaded through the API once the model is in, which embeds it at once (the CLI seed
would leave that to the start-up backfill, and the test to wait for it). Locust then runs
headless for a few seconds with a dozen users: every response it checks must pass, every user
class must have made requests, and the audit writers must have stored all 27 ADR-034 event types.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from uuid import uuid4

import asyncpg
import msgspec
import pytest

from app.cli import migrate
from app.cli.demo import demo_workflows
from benchmarks.load_run import (
    final_counts_path,
    http_json,
    locust_command,
    read_request_stats,
    requests_per_user_class,
    started_service,
)

# The test suite's list, not locustfile's: importing locust would gevent-patch this whole process.
from tests.integration.audit.test_audit_events import ADR_034_TYPES

# With start-up (mostly the model load) and shutdown, about 25 s on an idle 2-core machine.
LOCUST_SECONDS = 10
USERS = 12  # the 8:3:1 weights give every class at least one user


def _in_own_thread(work: Callable[[], None]) -> None:
    """Run ``work`` (which runs an event loop of its own) on a thread, so the test session's
    event loop is not disturbed; its exception is raised here."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as error:  # noqa: BLE001 - re-raised in the test's thread
            errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=120)
    if errors:
        raise errors[0]


def _run_sql(database_url: str, statement: str) -> None:
    """One statement outside a transaction (CREATE/DROP DATABASE)."""
    dsn = urlunsplit(urlsplit(database_url)._replace(scheme="postgresql"))

    async def execute() -> None:
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    _in_own_thread(lambda: asyncio.run(execute()))


@pytest.fixture
def profile_database_url(database_url: str) -> Iterator[str]:
    """An empty database of its own in the session's PostgreSQL, dropped afterwards."""
    name = f"workflow_search_locust_{uuid4().hex[:12]}"
    _run_sql(database_url, f"CREATE DATABASE {name}")
    try:
        url = urlunsplit(urlsplit(database_url)._replace(path=f"/{name}"))
        _in_own_thread(lambda: migrate.upgrade(url))
        yield url
    finally:
        _run_sql(database_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_the_locust_profile_runs_without_failures_and_every_user_class_works(
    profile_database_url: str, tmp_path: Path
) -> None:
    stats_prefix = tmp_path / "locust"
    service_log = tmp_path / "service.log"
    with started_service(service_log, database_url=profile_database_url, prepare=False, with_token=True) as service:
        assert http_json("GET", f"{service.base_url}/api/v1/workflows")[0] == 401  # tokens are checked
        for workflow in demo_workflows():
            status, _ = service.request("POST", "/api/v1/workflows", msgspec.to_builtins(workflow))
            assert status == 201, workflow.workflow_name
        command = locust_command(service.base_url, LOCUST_SECONDS, USERS, USERS, stats_prefix)
        locust = subprocess.run(
            command,
            env=service.locust_env(stats_prefix),
            capture_output=True,
            text=True,
            timeout=LOCUST_SECONDS + 60,
            check=False,
        )
        stored_types = {
            event_type: service.request("GET", f"/api/v1/audit/events?event_type={event_type}&limit=1")
            for event_type in ADR_034_TYPES
        }
    output = f"{locust.stdout}\n{locust.stderr}"

    assert final_counts_path(stats_prefix).exists(), output
    stats = read_request_stats(stats_prefix)
    failed = {name: failures for name, (_, failures) in stats.items() if failures}
    assert not failed, f"failed requests {failed}:\n{Path(f'{stats_prefix}_failures.csv').read_text()}\n{output}"
    assert locust.returncode == 0, output
    per_class = requests_per_user_class(stats)
    assert set(per_class) == {"AgentUser", "AuditWriter", "CatalogAdmin"}, per_class
    assert all(requests > 0 for requests, _ in per_class.values()), per_class
    for group in ("search: label", "search: hybrid", "audit: search self-audit", "catalog: disable"):
        assert stats[group][0] > 0, stats
    missing = sorted(t for t, (status, page) in stored_types.items() if status != 200 or not page["data"])
    assert not missing, f"event types never stored: {missing}"
