"""Checks every request gets before its handler: its query and path values, and its JSON body."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any, get_args, get_origin, get_type_hints

import msgspec
from litestar import Request

from app.errors import InvalidRequest, ValidationFailed
from app.metrics import register_field_names
from app.validation import (
    MAX_BODY_DEPTH,
    allows_none,
    body_problem,
    json_depth_exceeds,
    nul_character_paths,
    schema_field_names,
)


@functools.cache
def _data_annotation(handler_fn: Callable[..., Any]) -> Any:
    # The handler's own hints: Litestar's parsed signature drops Annotated bounds (min_length...).
    annotation = _msgspec_only(get_type_hints(handler_fn, include_extras=True).get("data"))
    # Once per handler: the names its errors may carry that are the API's own, not a client's keys.
    register_field_names(schema_field_names(annotation))
    return annotation


def _msgspec_only(annotation: Any) -> Any:
    """``Annotated[T, Body(...), Meta(...)]`` as ``Annotated[T, Meta(...)]``: msgspec hashes the
    type it converts to, and Litestar's ``Body`` hashes by deep-copying itself (0.3 ms a request)."""
    if get_origin(annotation) is not Annotated:
        return annotation
    inner, *metadata = get_args(annotation)
    kept = tuple(m for m in metadata if isinstance(m, msgspec.Meta))
    return Annotated[(inner, *kept)] if kept else inner


def route_body_type(request: Request[Any, Any, Any]) -> Any:
    """The annotation of the handler's ``data`` parameter, or None when it takes no body."""
    handler = request.route_handler
    if "data" not in handler.parsed_fn_signature.parameters:
        return None
    return _data_annotation(handler.fn)


@functools.cache
def _register_parameter_names(handler_fn: Callable[..., Any], names: tuple[str, ...]) -> None:
    register_field_names(names)  # once per handler (the cache), as label text for query and path errors


async def check_request_body(request: Request[Any, Any, Any]) -> None:
    """Validate the body strictly and completely before Litestar's own (lenient) parsing.

    Every bad field is named at once, a string is never taken for a number, and NUL
    characters, which PostgreSQL cannot store, are refused as a 400 rather than failing
    the insert as a 500.
    """
    _register_parameter_names(request.route_handler.fn, tuple(request.route_handler.parsed_fn_signature.parameters))
    # Query and path values go to SQL as parameters too: the same NUL rule holds for them.
    nul_fields = [name for name, value in request.query_params.multi_items() if "\x00" in value]
    nul_fields += [name for name, value in request.path_params.items() if isinstance(value, str) and "\x00" in value]
    if nul_fields:
        raise ValidationFailed(dict.fromkeys(nul_fields, "must not contain NUL (\\u0000) characters"))
    body_type = route_body_type(request)
    if body_type is None:
        return
    body = await request.body()
    if not body.strip():
        if allows_none(body_type):
            return  # an optional body (``T | None``): the handler takes None
        # Checked here, else Litestar names its own parameter ("data") rather than the body.
        raise ValidationFailed({"body": "a JSON body is required"})
    try:
        document = msgspec.json.decode(body)
    except msgspec.DecodeError:
        raise InvalidRequest("the request body is not valid JSON") from None
    except RecursionError:  # msgspec refuses to nest past the interpreter's recursion limit
        raise _too_deep() from None
    # Counting brackets is one C pass: only a body with enough of them can be too deep to walk.
    if body.count(b"[") + body.count(b"{") > MAX_BODY_DEPTH and json_depth_exceeds(document, MAX_BODY_DEPTH):
        raise _too_deep()
    # JSON can only carry a NUL escaped, so a body without the escape needs no walk.
    if b"\\u0000" in body and (paths := nul_character_paths(document)):
        raise ValidationFailed(dict.fromkeys(paths, "must not contain NUL (\\u0000) characters"))
    problem = body_problem(document, body_type)
    if isinstance(problem, str):
        raise InvalidRequest(problem)
    if problem:
        raise ValidationFailed(problem)


def _too_deep() -> ValidationFailed:
    return ValidationFailed({"body": f"is nested deeper than {MAX_BODY_DEPTH} levels"})
