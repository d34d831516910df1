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
from litestar import Router, get
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.plugins import (
    JsonRenderPlugin,
    OpenAPIRenderPlugin,
    RedocRenderPlugin,
    SwaggerRenderPlugin,
    YamlRenderPlugin,
)
from litestar.static_files import create_static_files_router

ASSETS_PATH = "/schema/assets"
# The URL segment of each UI under ASSETS_PATH, and the package directory it serves.
UI_DIRECTORIES: dict[str, Path] = {
    "redoc": openapi_ui_bundles.redoc.static_path,
    "swagger": openapi_ui_bundles.swagger_ui.static_path,
}
REDOC_BUNDLE = f"{ASSETS_PATH}/redoc/redoc.standalone.js"
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
            js_url=REDOC_BUNDLE,
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


def asset_routes() -> list[Router | HTTPRouteHandler]:
    """One static files router per UI, and Redoc's bundle with its logo made local; none of them
    appears in the OpenAPI document."""
    routers: list[Router | HTTPRouteHandler] = [
        create_static_files_router(path=f"{ASSETS_PATH}/{name}", directories=[directory], name=f"api-docs-{name}")
        for name, directory in UI_DIRECTORIES.items()
    ]
    return [redoc_bundle, *routers]


@cache
def offline_redoc_bundle() -> bytes:
    bundle = (UI_DIRECTORIES["redoc"] / "redoc.standalone.js").read_bytes()
    return bundle.replace(REDOC_CDN_LOGO, REDOC_LOCAL_LOGO)


@get(REDOC_BUNDLE, media_type="text/javascript", include_in_schema=False, sync_to_thread=False)
def redoc_bundle() -> bytes:
    return offline_redoc_bundle()
