"""The API docs render in a real browser that can reach the service and nothing else.

How the network is blocked: Chromium gets ``--proxy-server=http://127.0.0.1:9``, a port where
nothing listens, so every request it would send out fails; loopback requests never go to a proxy
(Chromium's implicit bypass rules), so the service under test on 127.0.0.1 is still reached.
``test_the_block_stops_every_host_but_loopback`` proves it on this machine with a server that is
certainly up: the same service under a name that is not loopback loads without the block and
fails with it. The browser's network log then shows every request the docs page made.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser import PageLoad, chromium, load_page
from tests.commands import run_command, serving

pytestmark = pytest.mark.skipif(chromium() is None, reason="chromium is not installed (`make chromium` installs it)")

NOT_LOOPBACK = "docs.workflow-search.test"  # a name Chromium cannot know to be loopback
UI_PAGES = ["/schema", "/schema/swagger"]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``workflow-search serve`` on a free loopback port; its base URL once it is live."""
    data_dir = tmp_path_factory.mktemp("api-docs")
    assert run_command("migrate", "--data-dir", str(data_dir)).returncode == 0
    with serving(["--data-dir", str(data_dir)], data_dir / "serve.log", probe="/health/live") as (base_url, _):
        yield base_url


@pytest.fixture(scope="module")
def document(service: str) -> dict[str, Any]:
    loaded: dict[str, Any] = httpx.get(f"{service}/schema/openapi.json", timeout=10).json()
    return loaded


def test_the_block_stops_every_host_but_loopback(service: str, tmp_path: Path) -> None:
    port = service.rsplit(":", 1)[1]
    by_name = f"http://{NOT_LOOPBACK}:{port}/health/live"
    rules = f"MAP {NOT_LOOPBACK} 127.0.0.1"

    reachable = load_page(by_name, tmp_path / "open", offline=False, host_rules=rules)
    blocked = load_page(by_name, tmp_path / "blocked", host_rules=rules)
    direct = load_page(f"{service}/health/live", tmp_path / "loopback")

    assert '"status":"alive"' in reachable.dom
    assert '"status":"alive"' not in blocked.dom
    assert "ERR_PROXY_CONNECTION_FAILED" in blocked.dom
    assert '"status":"alive"' in direct.dom


@pytest.mark.parametrize("page", UI_PAGES)
def test_the_docs_render_the_operations_offline(
    service: str, document: dict[str, Any], tmp_path: Path, page: str
) -> None:
    loaded = load_page(f"{service}{page}", tmp_path)

    operations = {op["operationId"]: op for item in document["paths"].values() for op in item.values()}
    tags = {tag for op in operations.values() for tag in op.get("tags", ())}
    assert tags, "the document has no tags to look for"
    for text in [*sorted(tags), operations["searchWorkflows"]["summary"], "searchWorkflows"]:
        assert text in loaded.rendered, f"{text!r} is not on the rendered page:\n{loaded.rendered[:2000]}"
    _assert_only_the_service_was_asked(loaded, service)


def _assert_only_the_service_was_asked(loaded: PageLoad, service: str) -> None:
    assert any("/schema/assets/" in url for url in loaded.requested), loaded.requested
    assert [url for url in loaded.requested if not url.startswith(f"{service}/")] == []
