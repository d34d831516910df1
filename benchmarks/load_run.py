"""`make load`: the Locust profile (locustfile.py) headless against a service this script starts.

The service is started the way `make run` starts it (``migrate``, ``seed --demo``, ``serve``),
but on a fresh embedded PostgreSQL in a temporary data directory and a free loopback port, so
the user's own data is never touched. The script waits for ``/health/ready`` and for the demo
catalog's embeddings (the start-up backfill), runs Locust for a fixed time, prints its summary,
and stops the service (and its PostgreSQL) whatever happened. It exits non-zero if any request
failed, Locust itself failed, or the service could not be started.

    .venv/bin/python -m benchmarks.load_run --seconds 60 [--users 12] [--spawn-rate 4] [--port 8080]

The service's log and Locust's CSV stats end up in benchmarks/results/scratch/load/.
``benchmarks/soak.py`` and ``tests/integration/test_locust_profile.py`` start the service with
the same ``started_service``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

REPO = Path(__file__).resolve().parent.parent
LOCUSTFILE = REPO / "locustfile.py"
SCRATCH = REPO / "benchmarks" / "results" / "scratch"
CLI = [sys.executable, "-m", "app"]

READY_TIMEOUT_SECONDS = 240.0  # model load on a busy 2-core machine, plus initdb on first start
EMBEDDED_TIMEOUT_SECONDS = 120.0
STOP_TIMEOUT_SECONDS = 60.0
# Read by locustfile.py: a token to send, and where to write the final counts.
LOAD_TOKEN_ENV = "WORKFLOW_SEARCH_LOAD_TOKEN"
STATS_FILE_ENV = "WORKFLOW_SEARCH_LOAD_STATS_FILE"
LOCUST_STOP_TIMEOUT_SECONDS = 15  # lets users finish the task in flight: no half-counted requests

# Settings that would point the service at somebody's real database, queue or tokens.
_INHERITED_PREFIXES = ("WORKFLOW_SEARCH_",)
_INHERITED_NAMES = frozenset({"DATABASE_URL", "VECTOR_DATABASE_URL", "REDIS_URL"})

# Which user class each request group (``name=`` in locustfile.py) belongs to.
USER_CLASS_BY_PREFIX = (("search: ", "AgentUser"), ("audit: search self-audit", "AgentUser"),
                        ("audit: ", "AuditWriter"), ("catalog: ", "CatalogAdmin"))  # fmt: skip


@dataclass(frozen=True)
class Service:
    process: subprocess.Popen[bytes]
    base_url: str
    data_dir: Path
    log_path: Path
    token: str | None = None  # an admin-scope bearer token when the service checks tokens

    @property
    def pid(self) -> int:
        return self.process.pid

    def request(self, method: str, path: str, body: Any = None, timeout: float = 5.0) -> tuple[int, Any]:
        return http_json(method, f"{self.base_url}{path}", body, timeout, token=self.token)

    def locust_env(self, stats_prefix: Path) -> dict[str, str]:
        """The environment for Locust: the token, if any, and where to leave the final counts."""
        return (
            dict(os.environ)
            | {STATS_FILE_ENV: str(final_counts_path(stats_prefix))}
            | ({LOAD_TOKEN_ENV: self.token} if self.token else {})
        )

    def rss_bytes(self) -> int:
        """Resident memory of the service process now (VmRSS of /proc/PID/status)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError(f"/proc/{self.pid}/status has no VmRSS")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def service_env(data_dir: Path, port: int, database_url: str | None = None) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in _INHERITED_NAMES and not key.startswith(_INHERITED_PREFIXES)
    }
    env |= {
        "WORKFLOW_SEARCH_DATA_DIR": str(data_dir),
        "WORKFLOW_SEARCH_HOST": "127.0.0.1",
        "WORKFLOW_SEARCH_PORT": str(port),
        "WORKFLOW_SEARCH_LOG_FORMAT": "json",
        "WORKFLOW_SEARCH_DLQ_BACKEND": "sqlite",
        # Nothing balances load in front of it: no reason to keep serving after SIGTERM.
        "WORKFLOW_SEARCH_SHUTDOWN_PROPAGATION_SECONDS": "0",
        "PYTHONWARNINGS": "ignore",
    }
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    return env


def http_json(
    method: str, url: str, body: Any = None, timeout: float = 5.0, token: str | None = None
) -> tuple[int, Any]:
    """(status, parsed JSON body or None); status 0 when nothing answered."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"content-type": "application/json"} | ({"authorization": f"Bearer {token}"} if token else {})
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, None
    except (OSError, ValueError):
        return 0, None


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_until_ready(service: Service, timeout: float = READY_TIMEOUT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise RuntimeError(f"the service exited with {service.process.returncode}:\n{_tail(service.log_path)}")
        if http_json("GET", f"{service.base_url}/health/ready", timeout=2)[0] == 200:
            return
        time.sleep(0.3)
    raise RuntimeError(f"the service was not ready after {timeout:.0f} s:\n{_tail(service.log_path)}")


def wait_until_catalog_embedded(service: Service, timeout: float = EMBEDDED_TIMEOUT_SECONDS) -> int:
    """Wait for the start-up backfill: until then hybrid searches skip the unembedded demo
    workflows, and the profile would count that as a failure. Returns the catalog size."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, page = service.request("GET", "/api/v1/workflows?limit=1000")
        if status == 200 and page["workflows"] and all(w["embedding_status"] == "ready" for w in page["workflows"]):
            return int(page["total"])
        time.sleep(0.5)
    raise RuntimeError(f"the demo catalog was not embedded after {timeout:.0f} s:\n{_tail(service.log_path)}")


def stop_process(process: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT_SECONDS) -> None:
    """SIGTERM (the graceful shutdown flushes the search audits and stops PostgreSQL), SIGKILL if stuck."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def stop_leftover_postgres(pgdata: Path) -> None:
    """A service that was killed cannot stop its embedded PostgreSQL: stop the postmaster here
    (SIGINT: PostgreSQL's fast shutdown), so that no run leaves a database behind."""
    pid_file = pgdata / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    try:
        os.kill(pid, signal.SIGINT)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)


def run_cli(args: list[str], env: Mapping[str, str], log_path: Path) -> None:
    with log_path.open("a") as log:
        log.write(f"$ workflow-search {' '.join(args)}\n")
        log.flush()
        result = subprocess.run([*CLI, *args], env=env, stdout=log, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"workflow-search {' '.join(args)} exited with {result.returncode}:\n{_tail(log_path)}")


@contextmanager
def started_service(
    log_path: Path,
    *,
    port: int | None = None,
    database_url: str | None = None,
    prepare: bool = True,
    with_token: bool = False,
    keep_data: bool = False,
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[Service]:
    """A migrated, demo-seeded ``workflow-search serve``, ready and with its catalog embedded.

    Without ``database_url`` it runs on its own embedded PostgreSQL in a fresh temporary data
    directory, removed afterwards unless ``keep_data``. With ``prepare=False`` the caller has
    migrated the database and seeds it itself: the service is only started and waited for. With
    ``with_token`` it checks access tokens and knows one new admin token (``Service.token``). The
    service is stopped on the way out, whatever happened, and so is a PostgreSQL it left running.
    """
    # Outside the repository: pgserver runs PostgreSQL as another user when started as root and
    # widens the permissions of the data directory's parents.
    data_dir = Path(tempfile.mkdtemp(prefix="workflow-search-load-"))
    port = port or free_port()
    env = service_env(data_dir, port, database_url) | dict(extra_env or {})
    token = secrets.token_urlsafe(32) if with_token else None
    if token is not None:
        digest = hashlib.sha256(token.encode()).hexdigest()
        env["WORKFLOW_SEARCH_AUTH_TOKENS"] = json.dumps([{"name": "load", "sha256": digest, "scopes": ["admin"]}])
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text("")
    process: subprocess.Popen[bytes] | None = None
    try:
        if prepare:
            run_cli(["migrate"], env, log_path)
            run_cli(["seed", "--demo"], env, log_path)
        with log_path.open("a") as log:
            process = subprocess.Popen([*CLI, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
        service = Service(process, f"http://127.0.0.1:{port}", data_dir, log_path, token)
        wait_until_ready(service)
        if prepare:
            wait_until_catalog_embedded(service)
        yield service
    finally:
        if process is not None:
            stop_process(process)
        stop_leftover_postgres(data_dir / "pgdata")
        if not keep_data:
            shutil.rmtree(data_dir, ignore_errors=True)


def locust_command(
    host: str, seconds: int, users: int, spawn_rate: float, stats_prefix: Path | None = None
) -> list[str]:
    command = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
        "--users", str(users), "--spawn-rate", str(spawn_rate), "--run-time", f"{seconds}s",
        "--host", host, "--stop-timeout", str(LOCUST_STOP_TIMEOUT_SECONDS), "--only-summary",
    ]  # fmt: skip
    if stats_prefix is not None:
        # CSV for people, not --json-file: with that, Locust leaves out the summary it prints at the end.
        command += ["--csv", str(stats_prefix)]
    return command


def user_class_of(request_name: str) -> str:
    for prefix, user_class in USER_CLASS_BY_PREFIX:
        if request_name.startswith(prefix):
            return user_class
    return "unknown"


def final_counts_path(stats_prefix: Path) -> Path:
    return Path(f"{stats_prefix}_final_counts.json")


def read_request_stats(stats_prefix: Path) -> dict[str, tuple[int, int]]:
    """(requests, failures) per request group, as locustfile.py left them when Locust quit."""
    counts = json.loads(final_counts_path(stats_prefix).read_text())
    return {entry["name"]: (entry["requests"], entry["failures"]) for entry in counts}


def requests_per_user_class(stats: Mapping[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
    """(requests, failures) per user class."""
    totals: dict[str, tuple[int, int]] = {}
    for name, (count, failed) in stats.items():
        requests, failures = totals.get(user_class_of(name), (0, 0))
        totals[user_class_of(name)] = (requests + count, failures + failed)
    return totals


def raise_keyboard_interrupt_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwinds through started_service's cleanup, like Ctrl-C


def keep_artifacts(work: Path, name: str) -> Path:
    """Copy a run's logs and stats to benchmarks/results/scratch/<name>/ and remove ``work``.

    They are written elsewhere first: `make bench` empties the scratch directory when it starts
    and ends, and may run at the same time."""
    destination = SCRATCH / name
    shutil.rmtree(destination, ignore_errors=True)
    shutil.copytree(work, destination, dirs_exist_ok=True)
    shutil.rmtree(work, ignore_errors=True)
    return destination


def run_load(options: argparse.Namespace, work: Path) -> int:
    stats_prefix = work / "locust"
    try:
        with started_service(
            work / "service.log", port=options.port, with_token=options.with_token, keep_data=options.keep_data
        ) as service:
            print(f"load: service (pid {service.pid}) ready at {service.base_url}", flush=True)
            command = locust_command(service.base_url, options.seconds, options.users, options.spawn_rate, stats_prefix)
            locust = subprocess.run(command, env=service.locust_env(stats_prefix), check=False)
            if service.process.poll() is not None:
                print(f"load: the service died during the run:\n{_tail(service.log_path)}", file=sys.stderr)
                return 1
    except RuntimeError as error:
        print(f"load: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("load: interrupted; service stopped", file=sys.stderr)
        return 130

    stats = read_request_stats(stats_prefix)
    total_requests = sum(count for count, _ in stats.values())
    total_failures = sum(failed for _, failed in stats.values())
    per_class = requests_per_user_class(stats)
    by_class = ", ".join(f"{name} {count} ({failed} failed)" for name, (count, failed) in sorted(per_class.items()))
    print(f"\nload: {total_requests} requests, {total_failures} failed, in {options.seconds} s; {by_class}")
    if locust.returncode != 0 or total_failures or total_requests == 0:
        print(f"load: FAILED (locust exit code {locust.returncode})", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("LOAD_SECONDS", "60")))
    parser.add_argument("--users", type=int, default=12, help="simulated clients, split 8:3:1 by the class weights")
    parser.add_argument("--spawn-rate", type=float, default=4.0, help="users started per second")
    parser.add_argument("--port", type=int, default=None, help="the service's port (default: a free one)")
    parser.add_argument("--keep-data", action="store_true", help="keep the temporary data directory")
    parser.add_argument("--with-token", action="store_true", help="check access tokens; Locust sends an admin token")
    options = parser.parse_args(argv)

    signal.signal(signal.SIGTERM, raise_keyboard_interrupt_on_sigterm)
    work = Path(tempfile.mkdtemp(prefix="workflow-search-load-run-"))
    try:
        return run_load(options, work)
    finally:
        print(f"load: service log and Locust stats in {keep_artifacts(work, 'load').relative_to(REPO)}/")


if __name__ == "__main__":
    sys.exit(main())
