"""The /schema pages reference nothing but the service itself, and everything they reference is served."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from app.factory import create_app
from app.lib.settings import Settings
from tests.servers import asgi_transport

UI_PAGES = ["/schema", "/schema/redoc", "/schema/swagger"]
# Elements and RapiDoc need files from the internet (app/http/api_docs.py): not offered.
DROPPED_PAGES = ["/schema/elements", "/schema/rapidoc"]
MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png", ".svg": "image/svg+xml"}
CSS_URL = re.compile(r"""url\(\s*['"]?([^'")\s]+)|@import\s+['"]([^'"]+)""")


class ResourceReferences(HTMLParser):
    """Every src and href in a page, as the browser would fetch or follow them."""

    def __init__(self) -> None:
        super().__init__()
        self.references: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.references += [value for name, value in attrs if name in {"src", "href"} and value]


def _references(html: str) -> list[str]:
    parser = ResourceReferences()
    parser.feed(html)
    return parser.references


def _is_local(reference: str) -> bool:
    return reference.startswith("/") and not reference.startswith("//")


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    # No lifespan: the docs need no database.
    transport = asgi_transport(create_app(Settings(data_dir=str(tmp_path))))
    async with httpx.AsyncClient(transport=transport, base_url="http://docs.test") as client:
        yield client


@pytest.mark.parametrize("page", UI_PAGES)
async def test_a_docs_page_references_only_files_the_service_serves(client: httpx.AsyncClient, page: str) -> None:
    response = await client.get(page)
    assert response.status_code == 200
    references = _references(response.text)
    assert references, "the page loads no script at all"
    assert [ref for ref in references if not _is_local(ref)] == []
    for reference in references:
        asset = await client.get(reference)
        assert asset.status_code == 200, reference
        # Chromium applies no stylesheet and runs no script served as another type.
        assert asset.headers["content-type"].startswith(MEDIA_TYPES[Path(reference).suffix]), reference
        if reference.endswith(".css"):
            found = [url or imported for url, imported in CSS_URL.findall(asset.text)]
            assert [url for url in found if re.match(r"(https?:)?//", url)] == [], reference


async def test_the_redoc_bundle_shows_its_logo_from_the_service(client: httpx.AsyncClient) -> None:
    bundle = await client.get("/schema/assets/redoc/redoc.standalone.js")
    assert bundle.status_code == 200
    assert bundle.headers["content-type"].startswith("text/javascript")
    assert b"https://cdn.redoc.ly" not in bundle.content
    assert (await client.get("/schema/assets/redoc/logo-mini.svg")).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/schema/assets/redoc/index.html",  # the packages' demo pages load a demo API from the internet
        "/schema/assets/swagger/index.html",
        "/schema/assets/redoc/__init__.py",
        "/schema/assets/rapidoc/rapidoc-min.js",
        "/schema/assets/redoc/..%2F__init__.py",
    ],
)
async def test_only_the_files_the_pages_use_are_served(client: httpx.AsyncClient, path: str) -> None:
    assert (await client.get(path)).status_code == 404


@pytest.mark.parametrize("page", DROPPED_PAGES)
async def test_uis_that_need_the_internet_are_not_served(client: httpx.AsyncClient, page: str) -> None:
    assert (await client.get(page)).status_code == 404


async def test_the_document_is_still_served(client: httpx.AsyncClient) -> None:
    document = await client.get("/schema/openapi.json")
    assert document.status_code == 200
    assert "/api/v1/workflows/search" in document.json()["paths"]
    assert not any(path.startswith("/schema") for path in document.json()["paths"])
