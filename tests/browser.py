"""Headless Chromium for tests: a page's DOM after its scripts ran, and every request the page made."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

# The discard port on loopback: nothing listens there, so every request sent to this proxy fails.
DEAD_PROXY = "http://127.0.0.1:9"
RENDER_BUDGET_MS = 10_000  # virtual time: the page's timers and scripts run this long, the wall clock less
BROWSER_TIMEOUT_SECONDS = 120
SCRIPT = re.compile(r"<script\b.*?</script>", re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True)
class PageLoad:
    dom: str
    requested: list[str]  # by the page, not by the browser's own background services

    @property
    def rendered(self) -> str:
        """The DOM without its scripts: what the page built, not the data it was handed."""
        return SCRIPT.sub("", self.dom)


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def load_page(url: str, workdir: Path, *, offline: bool = True, host_rules: str | None = None) -> PageLoad:
    """Load ``url`` in a fresh headless Chromium profile and return the DOM once it rendered.

    ``offline``: every request goes to DEAD_PROXY except loopback ones, which Chromium never sends
    to a proxy (its implicit bypass rules: localhost, 127.0.0.0/8, [::1]). So the page can reach the
    service under test and nothing else, whatever network this machine has.
    """
    binary = chromium()
    if binary is None:
        raise RuntimeError("chromium is not installed; `make chromium` installs it")
    net_log = workdir / "net-log.json"
    command = [
        binary,
        "--headless",
        "--no-sandbox",  # tests run as root in CI, where Chromium's sandbox refuses to start
        "--disable-gpu",
        "--no-first-run",
        f"--user-data-dir={workdir / 'profile'}",
        f"--log-net-log={net_log}",
        f"--virtual-time-budget={RENDER_BUDGET_MS}",
        "--dump-dom",
    ]
    if offline:
        command.append(f"--proxy-server={DEAD_PROXY}")
    if host_rules:
        command.append(f"--host-resolver-rules={host_rules}")
    done = subprocess.run([*command, url], capture_output=True, text=True, timeout=BROWSER_TIMEOUT_SECONDS, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"chromium exited with {done.returncode}:\n{done.stderr[-2000:]}")
    return PageLoad(dom=done.stdout, requested=_page_requests(net_log, url))


def _page_requests(net_log: Path, url: str) -> list[str]:
    """The URLs of the page and of whatever it loaded: the requests whose initiator is its origin."""
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    log = json.loads(net_log.read_text())
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    requested = [url]
    for event in log["events"]:
        params = event.get("params", {})
        if event["type"] == start_job and params.get("initiator") == origin:
            requested.append(params["url"])
    return requested
