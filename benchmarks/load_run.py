"""`make load`: the Locust profile (locustfile.py) headless against a service this script starts.

The service is started the way `make run` starts it (``migrate``, ``seed --demo``, ``serve``),
by ``benchmarks.service.running_service`` like the benchmarks, but on a fresh embedded
PostgreSQL in a temporary data directory and a free loopback port, so the user's own data is
never touched. The script waits for ``/health/ready`` and for the demo
catalog's embeddings (the start-up backfill), runs Locust for a fixed time, prints its summary,
and stops the service (and its PostgreSQL) whatever happened. It exits non-zero if any request
failed, Locust itself failed, or the service could not be started.

    .venv/bin/python -m benchmarks.load_run --seconds 60 [--users 12] [--spawn-rate 4] [--port 8080]

The service's log and Locust's CSV stats end up in benchmarks/results/scratch/load/.
``benchmarks/soak.py`` and ``tests/integration/http/test_locust_profile.py`` start the service with
the same ``started_service``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from types import FrameType
from typing import Any

from benchmarks.service import Service, log_tail, running_service

REPO = Path(__file__).resolve().parent.parent
LOCUSTFILE = REPO / "locustfile.py"
SCRATCH = REPO / "benchmarks" / "results" / "scratch"

READY_TIMEOUT_SECONDS = 240.0  # model load on a busy 2-core machine, plus initdb on first start
EMBEDDED_TIMEOUT_SECONDS = 120.0
# Read by locustfile.py: a token to send, and where to write the final counts.
LOAD_TOKEN_ENV = "WORKFLOW_SEARCH_LOAD_TOKEN"
STATS_FILE_ENV = "WORKFLOW_SEARCH_LOAD_STATS_FILE"
LOCUST_STOP_TIMEOUT_SECONDS = 15  # lets users finish the task in flight: no half-counted requests

# Which user class each request group (``name=`` in locustfile.py) belongs to.
USER_CLASS_BY_PREFIX = (("search: ", "AgentUser"), ("audit: search self-audit", "AgentUser"),
                        ("audit: ", "AuditWriter"), ("catalog: ", "CatalogAdmin"))  # fmt: skip


@dataclass
class LoadService(Service):
    token: str | None = None  # an admin-scope bearer token when the service checks tokens

    @property
    def base_url(self) -> str:
        return self.url

    @property
    def pid(self) -> int:
        return self.process.pid

    def request(self, method: str, path: str, body: Any = None, timeout: float = 5.0) -> tuple[int, Any]:
        return http_json(method, f"{self.url}{path}", body, timeout, token=self.token)

    def locust_env(self, stats_prefix: Path) -> dict[str, str]:
        """The environment for Locust: the token, if any, and where to leave the final counts."""
        return (
            dict(os.environ)
            | {STATS_FILE_ENV: str(final_counts_path(stats_prefix))}
            | ({LOAD_TOKEN_ENV: self.token} if self.token else {})
        )


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


def wait_until_catalog_embedded(service: LoadService, timeout: float = EMBEDDED_TIMEOUT_SECONDS) -> int:
    """Wait for the start-up backfill: until then hybrid searches skip the unembedded demo
    workflows, and the profile would count that as a failure. Returns the catalog size."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, page = service.request("GET", "/api/v1/workflows?limit=1000")
        if status == 200 and page["workflows"] and all(w["embedding_status"] == "ready" for w in page["workflows"]):
            return int(page["total"])
        time.sleep(0.5)
    raise RuntimeError(f"the demo catalog was not embedded after {timeout:.0f} s:\n{log_tail(service.log_path)}")


def token_settings(token: str) -> dict[str, str]:
    """The service setting under which ``token`` is the one admin-scope access token."""
    digest = hashlib.sha256(token.encode()).hexdigest()
    return {"WORKFLOW_SEARCH_AUTH_TOKENS": json.dumps([{"name": "load", "sha256": digest, "scopes": ["admin"]}])}


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
) -> Iterator[LoadService]:
    """A migrated, demo-seeded ``workflow-search serve`` (``benchmarks.service.running_service``),
    ready and with its catalog embedded; its log is copied to ``log_path`` on the way out.

    Without ``database_url`` it runs on its own embedded PostgreSQL in a fresh temporary data
    directory, removed afterwards unless ``keep_data``. With ``prepare=False`` the caller has
    migrated the database and seeds it itself: the service is only started and waited for. With
    ``with_token`` it checks access tokens and knows one new admin token (``token``). No
    inherited ``WORKFLOW_SEARCH_*`` setting reaches the service: they could point it at somebody's
    real tokens or limits. Everything is stopped on the way out, whatever happened.
    """
    # Outside the repository: pgserver runs PostgreSQL as another user when started as root and
    # widens the permissions of the data directory's parents.
    data_dir = Path(tempfile.mkdtemp(prefix="workflow-search-load-"))
    token = secrets.token_urlsafe(32) if with_token else None
    env = {"WORKFLOW_SEARCH_DLQ_BACKEND": "sqlite", "PYTHONWARNINGS": "ignore"}
    env |= (token_settings(token) if token else {}) | dict(extra_env or {})
    log_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with contextlib.ExitStack() as stack:
            # Only the start is translated: the failures a caller handles are RuntimeErrors.
            try:
                started = stack.enter_context(
                    running_service(
                        data_dir,
                        env=env,
                        port=port,
                        timeout=READY_TIMEOUT_SECONDS,
                        seed_demo=prepare,
                        database_url=database_url,
                        inherit_settings=False,
                    )
                )
            except subprocess.SubprocessError as error:
                raise RuntimeError(f"{error}; log:\n{log_tail(data_dir / 'server.log')}") from error
            except TimeoutError as error:
                raise RuntimeError(str(error)) from error
            service = LoadService(**{f.name: getattr(started, f.name) for f in fields(Service)}, token=token)
            if prepare:
                wait_until_catalog_embedded(service)
            yield service
    finally:
        with contextlib.suppress(OSError):
            shutil.copyfile(data_dir / "server.log", log_path)
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


def ended_early(run: str, error: RuntimeError | KeyboardInterrupt) -> int:
    """Report a run that the service's failure or an interrupt ended; its exit code."""
    if isinstance(error, KeyboardInterrupt):
        print(f"{run}: interrupted; service stopped", file=sys.stderr)
        return 130
    print(f"{run}: {error}", file=sys.stderr)
    return 1


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
                print(f"load: the service died during the run:\n{log_tail(service.log_path)}", file=sys.stderr)
                return 1
    except (RuntimeError, KeyboardInterrupt) as error:
        return ended_early("load", error)

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
