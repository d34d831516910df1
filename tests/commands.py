"""The console script as tests run it: its environment, one-shot commands, and a served process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.servers import free_port

SCRIPT = [sys.executable, "-m", "app"]
START_TIMEOUT_SECONDS = 180  # the model loads on a CPU that a busy machine may share


def command_env() -> dict[str, str]:
    """This process's environment without the service's own settings (each test sets its own)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKFLOW_SEARCH_") and k != "DATABASE_URL"}
    env["PYTHONWARNINGS"] = "ignore"
    return env


def run_command(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SCRIPT, *args], env=command_env(), capture_output=True, text=True, timeout=120, check=False)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


@contextmanager
def serving(
    args: Sequence[str], log_path: Path, *, env: Mapping[str, str] | None = None, probe: str = "/health/ready"
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``workflow-search serve`` on a free loopback port, once ``probe`` answers 200: its base URL
    and process. Stopped with SIGTERM afterwards (the caller may check how it went)."""
    port = free_port()
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [*SCRIPT, "serve", "--port", str(port), *args],
            env=dict(env or command_env()),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not _answers(f"{base_url}{probe}"):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"serve never answered {probe}:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield base_url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
