"""Checks every request gets before its handler: its query and path values, and its JSON body."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any, get_args, get_origin, get_type_hints

import msgspec
from litestar import Request

from app.lib.errors import InvalidRequest, ValidationFailed
from app.lib.metrics import register_field_names
from app.lib.settings import Settings
from app.lib.validation import (
    MAX_BODY_DEPTH,
    allows_none,
    body_problem,
    body_rule_errors,
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


NUL_MESSAGE = "must not contain NUL (\\u0000) characters"


async def check_request_body(request: Request[Any, Any, Any]) -> None:
    """Validate the body strictly and completely before Litestar's own (lenient) parsing.

    Every bad field is named at once: NUL characters (which PostgreSQL cannot store, so a 400
    rather than a failed insert's 500), schema errors (a string is never taken for a number) and
    the service's own rules, together in one ``field_errors``.
    """
    _register_parameter_names(request.route_handler.fn, tuple(request.route_handler.parsed_fn_signature.parameters))
    # Query and path values go to SQL as parameters too: the same NUL rule holds for them.
    nul_fields = [name for name, value in request.query_params.multi_items() if "\x00" in value]
    nul_fields += [name for name, value in request.path_params.items() if isinstance(value, str) and "\x00" in value]
    errors = dict.fromkeys(nul_fields, NUL_MESSAGE)
    body_type = route_body_type(request)
    if body_type is not None:
        errors.update(await _body_errors(request, body_type))
    if errors:
        raise ValidationFailed(errors)


async def _body_errors(request: Request[Any, Any, Any], body_type: Any) -> dict[str, str]:
    body = await request.body()
    if not body.strip():
        if allows_none(body_type):
            return {}  # an optional body (``T | None``): the handler takes None
        # Checked here, else Litestar names its own parameter ("data") rather than the body.
        return {"body": "a JSON body is required"}
    try:
        document = msgspec.json.decode(body)
    except msgspec.DecodeError:
        raise InvalidRequest("the request body is not valid JSON") from None
    except RecursionError:  # msgspec refuses to nest past the interpreter's recursion limit
        return _too_deep()
    # Counting brackets is one C pass: only a body with enough of them can be too deep to walk.
    if body.count(b"[") + body.count(b"{") > MAX_BODY_DEPTH and json_depth_exceeds(document, MAX_BODY_DEPTH):
        return _too_deep()
    # JSON can only carry a NUL escaped, so a body without the escape needs no walk.
    # app.http's Runtime, typed there: this edge module cannot import the wiring above it.
    return document_errors(document, body_type, request.app.state.runtime.settings, may_hold_nul=b"\\u0000" in body)


def document_errors(document: Any, body_type: Any, settings: Settings, *, may_hold_nul: bool = True) -> dict[str, str]:
    """Every bad field of a decoded body, as a request body is checked (the MCP tools' arguments too,
    so both name the same fields with the same messages); InvalidRequest when it is no JSON object."""
    problem = body_problem(document, body_type)
    if isinstance(problem, str):
        raise InvalidRequest(problem)
    # A NUL is the more precise message for its field, so it replaces a schema error there.
    if may_hold_nul:
        problem.update(dict.fromkeys(nul_character_paths(document), NUL_MESSAGE))
    if problem:
        # A valid body meets the rules in its service; a broken one hears of them here as well.
        rule_errors = body_rule_errors(document, body_type, settings)
        problem.update({path: message for path, message in rule_errors.items() if path not in problem})
    return problem


def _too_deep() -> dict[str, str]:
    return {"body": f"is nested deeper than {MAX_BODY_DEPTH} levels"}
