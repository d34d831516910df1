"""The browsable API docs under /schema, served whole by the service: no page loads from a CDN.

Litestar's render plugins point at public CDNs by default, so on a machine without internet
/schema is a blank page. The UIs' dist files come instead from the pinned ``openapi-ui-bundles``
package and are served from /schema/assets/: Redoc at /schema (and /schema/redoc), Swagger UI at
/schema/swagger. The package's RapiDoc fetches its fonts from Google, and Stoplight Elements has
no such package, so neither is offered.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import openapi_ui_bundles
from litestar import Response, get
from litestar.exceptions import NotFoundException
from litestar.openapi.plugins import (
    JsonRenderPlugin,
    OpenAPIRenderPlugin,
    RedocRenderPlugin,
    SwaggerRenderPlugin,
    YamlRenderPlugin,
)
from litestar.params import FromPath
from litestar.response import File

ASSETS_PATH = "/schema/assets"
# Each UI's URL segment under ASSETS_PATH, its package directory, and the files the pages use:
# only those, not the package's sample index.html pages, which load a demo API from the internet.
UI_ASSETS: dict[str, tuple[Path, frozenset[str]]] = {
    "redoc": (openapi_ui_bundles.redoc.static_path, frozenset({"redoc.standalone.js", "logo-mini.svg"})),
    "swagger": (
        openapi_ui_bundles.swagger_ui.static_path,
        frozenset({"swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css", "favicon-32x32.png"}),
    ),
}
REDOC_BUNDLE = "redoc.standalone.js"
# Redoc's side menu shows its logo from this CDN URL; the package ships the same file beside the bundle.
REDOC_CDN_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
REDOC_LOCAL_LOGO = f"{ASSETS_PATH}/redoc/logo-mini.svg".encode()
# Litestar's default favicon is a CDN URL too.
FAVICON = f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/swagger/favicon-32x32.png'>"


def render_plugins() -> list[OpenAPIRenderPlugin]:
    """Redoc, Swagger UI, and the document itself as JSON and YAML."""
    return [
        RedocRenderPlugin(
            path=["/", "/redoc"],
            js_url=f"{ASSETS_PATH}/redoc/{REDOC_BUNDLE}",
            google_fonts=False,
            favicon=FAVICON,
        ),
        SwaggerRenderPlugin(
            path="/swagger",
            js_url=f"{ASSETS_PATH}/swagger/swagger-ui-bundle.js",
            css_url=f"{ASSETS_PATH}/swagger/swagger-ui.css",
            standalone_preset_js_url=f"{ASSETS_PATH}/swagger/swagger-ui-standalone-preset.js",
            favicon=FAVICON,
        ),
        JsonRenderPlugin(),
        YamlRenderPlugin(),
    ]


@get(f"{ASSETS_PATH}/{{ui:str}}/{{name:str}}", include_in_schema=False, sync_to_thread=False)
def ui_asset(ui: FromPath[str], name: FromPath[str]) -> Response[bytes] | File:
    """One of the files the docs pages load, from the installed package."""
    directory, served = UI_ASSETS.get(ui, (None, frozenset[str]()))
    if directory is None or name not in served:
        raise NotFoundException(f"no API docs asset {ui}/{name}")
    if (ui, name) == ("redoc", REDOC_BUNDLE):
        return Response(offline_redoc_bundle(), media_type="text/javascript")
    # filename: the media type from its extension (browsers refuse a stylesheet of another type).
    return File(directory / name, filename=name, content_disposition_type="inline")


@cache
def offline_redoc_bundle() -> bytes:
    bundle = (UI_ASSETS["redoc"][0] / REDOC_BUNDLE).read_bytes()
    return bundle.replace(REDOC_CDN_LOGO, REDOC_LOCAL_LOGO)
