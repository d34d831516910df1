"""Start the service as its own process on a fresh embedded PostgreSQL, the way an operator would.

The harness owns the embedded PostgreSQL: it starts it (pgserver) before ``migrate`` and
``serve`` join it, so that the benchmark process has the database URL for direct loads and
floors, and so that it alone decides when the database stops: after the server has exited,
whatever state the server died in. (A caller may bring a PostgreSQL of its own instead.)
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CLI = Path(sys.executable).parent / "workflow-search"

# Inherited settings that would point the service somewhere else than its fresh embedded database.
_FOREIGN_SETTINGS = ("DATABASE_URL", "VECTOR_DATABASE_URL", "REDIS_URL", "WORKFLOW_SEARCH_DATA_DIR")
_SETTINGS_PREFIX = "WORKFLOW_SEARCH_"


@dataclass
class Service:
    url: str  # "http://127.0.0.1:PORT"
    database_url: str  # postgresql:// URL of the service's embedded PostgreSQL, usable by asyncpg
    process: subprocess.Popen[bytes]
    data_dir: Path
    ready_after_seconds: float  # from process start to /health/ready == 200 (or /health without the model)

    def rss_bytes(self) -> int:
        return proc_status_kib(self.process.pid, "VmRSS") * 1024

    def peak_rss_bytes(self) -> int:
        return proc_status_kib(self.process.pid, "VmHWM") * 1024

    @property
    def log_path(self) -> Path:
        return self.data_dir / "server.log"


def proc_status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/status has no {key}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def _wait_until_ready(process: subprocess.Popen[bytes], probe_url: str, deadline: float, log_path: Path) -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the service exited with {process.returncode}; log:\n{log_tail(log_path)}")
        if _status(probe_url) == 200:
            return
        time.sleep(0.1)
    raise TimeoutError(f"{probe_url} not 200 in time; log:\n{log_tail(log_path)}")


def log_tail(path: Path, lines: int = 40) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def _stop_server(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    # The first SIGTERM starts the readiness-propagation delay; a second one skips it.
    process.send_signal(signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=0.5)
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _stop_postgres(server: Any) -> None:
    """Stop the embedded PostgreSQL even if the server process left its handle behind (killed)."""
    # pgserver makes pg_ctl at import time (setattr per binary), so its typed modules never declare it.
    from pgserver.postgres_server import pg_ctl  # type: ignore[attr-defined]  # noqa: PLC0415 - heavy, only when stopping

    info = server._postmaster_info
    with contextlib.suppress(Exception):
        server.cleanup()  # stops it when ours is the last handle, as it should be
    if info is None or not _alive(info.process):
        return
    with contextlib.suppress(Exception):
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)
    if _alive(info.process):
        info.process.kill()


def _alive(process: Any) -> bool:
    """A psutil process that is running and not a zombie, after a short grace to exit."""
    import psutil  # noqa: PLC0415

    with contextlib.suppress(psutil.Error):
        process.wait(timeout=5)
    try:
        return bool(process.is_running() and process.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


@contextmanager
def running_service(
    data_dir: Path,
    *,
    env: dict[str, str] | None = None,
    port: int | None = None,
    wait_for_model: bool = True,
    timeout: float = 180.0,
    seed_demo: bool = False,
    database_url: str | None = None,
    inherit_settings: bool = True,
) -> Iterator[Service]:
    """Migrate and serve on ``data_dir`` (created; should be fresh) and stop everything on exit.

    The server's stdout and stderr go to ``data_dir/server.log``: a pipe nobody reads would
    block the server once full, and the log is what explains a failed start. ``seed_demo`` loads
    the demo catalog (``seed --demo``) before the server starts; its embeddings come from the
    server's start-up backfill, after readiness. With ``database_url`` the service uses that
    PostgreSQL, which the caller owns, instead of an embedded one. ``inherit_settings=False``
    keeps every ``WORKFLOW_SEARCH_*`` variable of this process from the service, not only those
    that would move its data: nothing of the caller's configuration (tokens, limits) applies.
    """
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    child_env = {
        key: value
        for key, value in os.environ.items()
        if key not in _FOREIGN_SETTINGS and (inherit_settings or not key.startswith(_SETTINGS_PREFIX))
    }
    child_env |= {
        "WORKFLOW_SEARCH_LOG_FORMAT": "json",
        "WORKFLOW_SEARCH_SHUTDOWN_PROPAGATION_SECONDS": "0",  # no load balancer to tell
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    child_env |= env or {}
    server: Any = None  # the embedded PostgreSQL, when this harness is the one to start it
    if database_url is None:
        from pgserver.postgres_server import get_server  # noqa: PLC0415

        server = get_server(data_dir / "pgdata", cleanup_mode="stop")
    else:
        child_env["DATABASE_URL"] = database_url
    process: subprocess.Popen[bytes] | None = None
    try:
        database_url = database_url or str(server.get_uri())
        log_path = data_dir / "server.log"
        with log_path.open("ab") as log:
            for command in [["migrate"], ["seed", "--demo"]] if seed_demo else [["migrate"]]:
                subprocess.run(
                    [str(CLI), *command, "--data-dir", str(data_dir)],
                    env=child_env,
                    cwd=REPO,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    check=True,
                    timeout=timeout,
                )
            started = time.monotonic()
            process = subprocess.Popen(
                [str(CLI), "serve", "--data-dir", str(data_dir), "--host", "127.0.0.1", "--port", str(port)],
                env=child_env,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{port}"
        probe = f"{url}/health/ready" if wait_for_model else f"{url}/health"
        _wait_until_ready(process, probe, started + timeout, log_path)
        yield Service(
            url=url,
            database_url=database_url,
            process=process,
            data_dir=data_dir,
            ready_after_seconds=time.monotonic() - started,
        )
    finally:
        if process is not None:
            _stop_server(process)
        if server is not None:
            _stop_postgres(server)


@dataclass
class LeanApp:
    url: str  # "http://127.0.0.1:PORT"
    process: subprocess.Popen[bytes]


@contextmanager
def running_lean_app(database_url: str, log_path: Path, *, timeout: float = 60.0) -> Iterator[LeanApp]:
    """``benchmarks.lean_app`` as its own process on ``database_url``, stopped by its PID on exit."""
    port = free_port()
    env = os.environ | {"LEAN_DATABASE_URL": database_url}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.lean_app", "--port", str(port)],
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_until_ready(process, f"{url}/bare", time.monotonic() + timeout, log_path)
        yield LeanApp(url, process)
    finally:
        _stop_server(process)
