"""An operator starting the service sees a few lines of its own, not its libraries' internals."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.commands import SCRIPT, START_TIMEOUT_SECONDS, command_env, run_command
from tests.servers import free_port

LISTENING = "Uvicorn running on"
MAX_LINES_BEFORE_LISTENING = 12


def test_serve_prints_a_few_lines_before_listening(tmp_path: Path) -> None:
    assert run_command("migrate", "--data-dir", str(tmp_path)).returncode == 0
    # Warnings shown and no XDG_RUNTIME_DIR, as in a container: pgserver's RuntimeDirWarning must not show.
    env = {k: v for k, v in command_env().items() if k not in ("PYTHONWARNINGS", "XDG_RUNTIME_DIR")}
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [*SCRIPT, "serve", "--port", str(free_port()), "--data-dir", str(tmp_path)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while LISTENING not in log_path.read_text() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    text = log_path.read_text()
    if LISTENING not in text:
        pytest.fail(f"serve never listened:\n{text}")
    before = text.split(LISTENING)[0].splitlines()
    assert len(before) <= MAX_LINES_BEFORE_LISTENING, "\n".join(before)
    assert "Running commandline" not in text
    assert "RuntimeDirWarning" not in text
