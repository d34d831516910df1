"""The lean path: the least a Python HTTP search can cost, the baseline the service is held to.

One Litestar app under uvicorn (the service's server and settings, one worker) on the service's
database: ``POST /search`` decodes the service's search body with msgspec, binds
``search.sql``'s parameters, runs its statement on a plain asyncpg pool of the service's size
and encodes the rows with msgspec; ``GET /bare`` answers a constant. No validation beyond
decoding, no auth, deadlines, metrics, logs or audit: only what any Python search must do.

``python -m benchmarks.lean_app --port N`` with ``LEAN_DATABASE_URL`` (a ``postgresql://`` URL)
in the environment; ``benchmarks.service.running_lean_app`` starts and stops it.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import asyncpg
import msgspec
from litestar import Litestar, Request, Response, get, post

from embeddings.model import DEFAULT_MODEL_ID
from search.labels import MANDATORY_LABELS, DetectedLabels
from search.query import SearchQuery
from search.sql import LABEL_SEARCH, SEMANTIC_SEARCH, label_search_parameters, semantic_search_parameters

DATABASE_URL_VARIABLE = "LEAN_DATABASE_URL"
MODEL_ID_VARIABLE = "LEAN_MODEL_ID"


class Filters(msgspec.Struct, kw_only=True):
    signal_type: str
    severity: str
    component: str
    environment: str
    priority: str
    custom_labels: dict[str, list[str]] | None = None
    detected_labels: DetectedLabels | None = None
    status: list[str] | None = None


class Body(msgspec.Struct, kw_only=True):
    """The service's ``SearchRequest`` wire form, without its constraints."""

    filters: Filters
    top_k: int = 10
    min_score: float = 0.0
    include_disabled: bool = False
    embedding: list[float] | None = None
    min_similarity: float | None = None


_decode = msgspec.json.Decoder(Body).decode
_encode = msgspec.json.Encoder().encode


@post("/search", status_code=200)
async def search(request: Request[Any, Any, Any]) -> Response[bytes]:
    body = _decode(await request.body())
    filters = body.filters
    query = SearchQuery(
        labels={label: getattr(filters, label) for label in MANDATORY_LABELS},
        detected_labels=filters.detected_labels,
        custom_labels=filters.custom_labels or {},
        statuses=filters.status,
        include_disabled=body.include_disabled,
        top_k=body.top_k,
        min_score=body.min_score,
        embedding=body.embedding,
        min_similarity=body.min_similarity,
    )
    if body.embedding is None:
        statement, parameters = LABEL_SEARCH, label_search_parameters(query)
    else:
        parameters = semantic_search_parameters(query, request.app.state.model)
        statement = SEMANTIC_SEARCH
    rows = await request.app.state.pool.fetch(statement.sql, *statement.arguments(parameters))
    workflows = [dict(row) for row in rows if row["workflow_id"] is not None]
    total = (rows[0]["total_results"] or 0) if rows else 0
    return Response(_encode({"workflows": workflows, "total_results": total}), media_type="application/json")


@get("/bare")
async def bare() -> Response[bytes]:
    return Response(b'{"status":"ok"}', media_type="application/json")


async def _json_codecs(connection: asyncpg.Connection) -> None:
    # What SQLAlchemy's asyncpg dialect does for the service: json and jsonb arrive decoded.
    for name in ("json", "jsonb"):
        await connection.set_type_codec(
            name, encoder=lambda v: _encode(v).decode(), decoder=msgspec.json.decode, schema="pg_catalog"
        )


async def _open_pool(app: Litestar) -> None:
    size = int(os.environ.get("LEAN_POOL_SIZE", "10"))  # the service's db_pool_size
    url = os.environ[DATABASE_URL_VARIABLE]
    app.state.pool = await asyncpg.create_pool(url, min_size=size, max_size=size, init=_json_codecs)
    app.state.model = os.environ.get(MODEL_ID_VARIABLE, DEFAULT_MODEL_ID)


async def _close_pool(app: Litestar) -> None:
    await app.state.pool.close()


def create_app() -> Litestar:
    return Litestar([search, bare], on_startup=[_open_pool], on_shutdown=[_close_pool], openapi_config=None)


def main() -> None:
    import uvicorn  # noqa: PLC0415

    parser = argparse.ArgumentParser(prog="python -m benchmarks.lean_app")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    # The service's uvicorn.Config (app/cli/__init__.py _serve), one worker, loopback only.
    uvicorn.run(create_app(), host="127.0.0.1", port=args.port, log_level="info", log_config=None, access_log=False)


if __name__ == "__main__":
    main()
