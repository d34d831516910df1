"""The console script as an operator runs it: real processes, the embedded database, a live server."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.commands import SCRIPT, START_TIMEOUT_SECONDS, command_env, run_command, serving
from tests.servers import free_port


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli")


def test_help_lists_the_commands() -> None:
    result = run_command("--help")
    assert result.returncode == 0
    for command in ("serve", "migrate", "seed"):
        assert command in result.stdout


def test_a_bad_setting_stops_the_command_with_its_name() -> None:
    result = subprocess.run(
        [*SCRIPT, "migrate"],
        env={**command_env(), "WORKFLOW_SEARCH_PORT": "many"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "WORKFLOW_SEARCH_PORT" in result.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [("DATABASE_URL", "mysql://root:pw@db/x"), ("WORKFLOW_SEARCH_DB_POOL_SIZE", "-4"),
     ("WORKFLOW_SEARCH_LOG_LEVEL", "CHATTY")],
)  # fmt: skip
def test_serve_refuses_to_start_with_a_bad_value_and_names_it(variable: str, value: str) -> None:
    result = subprocess.run(
        [*SCRIPT, "serve", "--port", str(free_port())],
        env={**command_env(), variable: value}, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.startswith(f"workflow-search: invalid environment setting: {variable}: ")
    assert "pw@" not in result.stderr


def test_config_prints_every_setting_with_passwords_masked() -> None:
    env = {**command_env(), "DATABASE_URL": "postgresql://app:hunter2@db/ws", "WORKFLOW_SEARCH_DLQ_MAX_LENGTH": "500"}
    result = subprocess.run(
        [*SCRIPT, "config", "--json"], env=env, capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    assert config["DATABASE_URL"] == "postgresql://app:***@db/ws"
    assert config["WORKFLOW_SEARCH_DLQ_MAX_LENGTH"] == 500
    assert "hunter2" not in result.stdout + result.stderr
    table = subprocess.run([*SCRIPT, "config"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert "WORKFLOW_SEARCH_DLQ_RETRY_DELAYS_SECONDS=60,300,900,3600,14400,86400" in table.stdout.splitlines()


def test_migrate_and_seed_are_idempotent(data_dir: Path) -> None:
    for _ in range(2):
        assert run_command("migrate", "--data-dir", str(data_dir)).returncode == 0
    first = run_command("seed", "--demo", "--data-dir", str(data_dir))
    second = run_command("seed", "--demo", "--data-dir", str(data_dir))
    assert first.returncode == second.returncode == 0
    assert "added 12 demo workflows" in first.stdout
    assert "not empty" in second.stdout


@pytest.fixture
def live_server(data_dir: Path) -> Iterator[str]:
    assert run_command("migrate", "--data-dir", str(data_dir)).returncode == 0
    log_path = data_dir / "serve.log"
    with serving(["--data-dir", str(data_dir)], log_path) as (base_url, process):
        yield base_url
    # uvicorn shuts down gracefully, then re-raises the signal so the exit status tells it.
    assert process.returncode in (0, -signal.SIGTERM)
    log_text = log_path.read_text()
    assert "Application shutdown complete" in log_text
    assert not (data_dir / "pgdata" / "postmaster.pid").exists(), "the embedded PostgreSQL was left running"


def test_serve_answers_a_search_on_the_demo_catalog(live_server: str, data_dir: Path) -> None:
    assert run_command("seed", "--demo", "--data-dir", str(data_dir)).returncode == 0
    response = httpx.post(
        f"{live_server}/api/v1/workflows/search",
        json={
            "filters": {
                "signal_type": "OOMKilled",
                "severity": "critical",
                "component": "pod",
                "environment": "production",
                "priority": "P0",
            }
        },
        timeout=10,
    )
    assert response.status_code == 200
    body = response.json()
    assert body["total_results"] >= 2
    assert [r["rank"] for r in body["workflows"]] == list(range(1, len(body["workflows"]) + 1))
    # the exact-label workflow outranks the all-wildcard one at equal score
    assert body["workflows"][0]["workflow_name"] == "oomkill-increase-memory"


def test_serve_embeds_the_demo_catalog_and_answers_a_text_query(live_server: str, data_dir: Path) -> None:
    assert run_command("seed", "--demo", "--data-dir", str(data_dir)).returncode == 0
    request = {
        "query": "my app was killed because it used too much RAM",
        "filters": {"signal_type": "OOMKilled", "severity": "critical", "component": "pod",
                    "environment": "production", "priority": "P0"},
    }  # fmt: skip
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:  # the start-up backfill embeds the seeded workflows in the background
        body = httpx.post(f"{live_server}/api/v1/workflows/search", json=request, timeout=30).json()
        if body["skipped_without_embedding"] == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert body["skipped_without_embedding"] == 0
    assert body["workflows"][0]["workflow_name"].startswith("oomkill")
    assert all(0 <= w["similarity"] <= 1 for w in body["workflows"])
