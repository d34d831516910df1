"""Strict checks of a decoded request body that name every bad field, not only the first."""

from __future__ import annotations

import functools
import math
import re
import types
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Union, get_args, get_origin

import msgspec

from app.lib.settings import Settings

# The largest OFFSET PostgreSQL takes (bigint). A larger offset asks for a page past any table,
# so it is read as this one: the same empty page, and no cap to document (the reference has none).
MAX_OFFSET = 2**63 - 1
MAX_LIMIT = 1000


def page_window(limit: int, offset: int, default_limit: int) -> tuple[int, int]:
    """The reference's leniency with paging: a limit below 1 is the default page size and an
    offset below 0 is the first page (its document sets no minimum; above MAX_LIMIT stays a 400,
    as its ``maximum`` says)."""
    return (limit if limit >= 1 else default_limit), min(max(offset, 0), MAX_OFFSET)


# No body the API defines nests this deep (event_data allows 10). Refusing deeper documents up
# front keeps every later recursive step (msgspec, Litestar, our own checks) far from the stack limit.
MAX_BODY_DEPTH = 64

_AT_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`$")


def body_problem(document: Any, body_type: Any) -> str | dict[str, str]:
    """Check a decoded JSON body strictly against ``body_type`` (no "0.5" for a number).

    A message when it is not the JSON object expected at all (invalid-request), else
    ``{"field.path": "message"}`` for every bad field, empty when the body is good.
    """
    if document is None and allows_none(body_type):
        return {}
    if _converts(document, body_type):  # the common case, one C call; the walk below only names fields
        return {}
    item_type = _list_item_struct(body_type)
    if item_type is not None and isinstance(document, list):
        errors = _convert_error(document, _without_items(body_type), "")  # the list's own bounds
        for index, item in enumerate(document):
            if not isinstance(item, dict):
                errors[f"[{index}]"] = "must be a JSON object"
            else:
                errors.update(struct_field_errors(item, item_type, f"[{index}]."))
        return errors
    struct_type = _struct_of(body_type)
    if struct_type is None:
        return _convert_error(document, body_type, "")
    if not isinstance(document, dict):
        return "the request body must be a JSON object"
    return struct_field_errors(document, struct_type, "")


def _list_item_struct(annotation: Any) -> type[msgspec.Struct] | None:
    """``S`` for ``list[S]`` or ``Annotated[list[S], ...]``, else None."""
    if get_origin(annotation) is Annotated:
        return _list_item_struct(get_args(annotation)[0])
    if get_origin(annotation) is list:
        return _struct_of(get_args(annotation)[0])
    return None


def _without_items(annotation: Any) -> Any:
    """``Annotated[list[S], meta]`` as ``Annotated[list[Any], meta]``: checks length, not items."""
    if get_origin(annotation) is Annotated:
        inner, *metadata = get_args(annotation)
        return Annotated[(_without_items(inner), *metadata)]
    return list[Any]


def allows_none(annotation: Any) -> bool:
    """Whether ``annotation`` (``T | None``, possibly Annotated) admits None: a body that may be absent."""
    if get_origin(annotation) is Annotated:
        return allows_none(get_args(annotation)[0])
    return get_origin(annotation) in (Union, types.UnionType) and type(None) in get_args(annotation)


def _converts(document: Any, body_type: Any) -> bool:
    try:
        msgspec.convert(document, body_type)
    except msgspec.ValidationError:
        return False
    return True


# msgspec.structs.fields resolves the class's annotations on every call: once per type is enough.
_fields = functools.cache(msgspec.structs.fields)


def struct_field_errors(document: dict[str, Any], struct_type: type[msgspec.Struct], prefix: str) -> dict[str, str]:
    errors: dict[str, str] = {}
    for field in _fields(struct_type):
        path = f"{prefix}{field.encode_name}"
        if field.encode_name not in document:
            if field.required:
                errors[path] = "is required"
            continue
        value = document[field.encode_name]
        nested = _struct_of(field.type)
        if nested is not None and isinstance(value, dict):
            errors.update(struct_field_errors(value, nested, f"{path}."))
        else:
            errors.update(_convert_error(value, field.type, path))
    return errors


def schema_field_names(annotation: Any) -> set[str]:
    """Every field name of every Struct that ``annotation`` holds, at any depth (not dict keys)."""
    names: set[str] = set()
    seen: set[Any] = set()
    pending = [annotation]
    while pending:
        current = pending.pop()
        if isinstance(current, type) and issubclass(current, msgspec.Struct):
            if current in seen:
                continue
            seen.add(current)
            for field in _fields(current):
                names.add(field.encode_name)
                pending.append(field.type)
        else:
            pending.extend(get_args(current))
    return names


def _convert_error(value: Any, field_type: Any, path: str) -> dict[str, str]:
    try:
        msgspec.convert(value, field_type)
    except msgspec.ValidationError as error:
        message = str(error)
        match = _AT_PATH.search(message)
        suffix = match["path"] if match else ""
        text = message[: match.start()] if match else message
        return {f"{path}{suffix}".lstrip(".") or "body": text}
    return {}


def _struct_of(annotation: Any) -> type[msgspec.Struct] | None:
    """The Struct inside ``T``, ``Annotated[T, ...]`` or ``T | None``, if there is one."""
    if get_origin(annotation) is Annotated:
        return _struct_of(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        structs = [s for arg in get_args(annotation) if (s := _struct_of(arg)) is not None]
        return structs[0] if len(structs) == 1 else None
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return annotation
    return None


def json_depth_exceeds(document: Any, limit: int) -> bool:
    """Whether a decoded JSON document nests deeper than ``limit`` (``[]`` is 1), walked without recursion."""
    stack: list[tuple[Any, int]] = [(document, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth + 1 > limit:
                return True
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children)
    return False


# Stands in for the value of a key that itself holds a NUL: the key is reported, not its value.
_NUL_KEY = object()


def nul_character_paths(document: Any) -> list[str]:
    """Where a decoded JSON document holds a NUL character, which PostgreSQL text cannot store.

    An explicit stack, not recursion: the document may nest as deep as the decoder allows."""
    found: list[str] = []
    stack: list[tuple[Any, str]] = [(document, "")]
    while stack:
        value, path = stack.pop()
        if value is _NUL_KEY:
            found.append(path)
        elif isinstance(value, str):
            if "\x00" in value:
                found.append(path or "body")
        elif isinstance(value, dict):
            for key, child in reversed(value.items()):
                child_path = f"{path}.{key}" if path else str(key)
                stack.append((_NUL_KEY if "\x00" in str(key) else child, child_path))
        elif isinstance(value, list):
            stack.extend((item, f"{path}[{index}]") for index, item in reversed(list(enumerate(value))))
    return found


# A rule a schema cannot say (a digest that matches, a vocabulary, a plausible timestamp): given
# the decoded body object and the app's state, ``{"field.path": "message"}`` for every field it
# finds bad. It must judge only fields that are well typed: the schema check names the others.
# A service's rule on a raw JSON object, told the service's settings.
BodyRule = Callable[[Mapping[str, Any], Settings], dict[str, str]]
_BODY_RULES: dict[type[msgspec.Struct], BodyRule] = {}


def register_body_rule(struct_type: type[msgspec.Struct], rule: BodyRule) -> None:
    """Let the strict body check run ``rule`` too, so that a body with schema errors also hears
    of its rule errors in the same response (the service runs the same rule on valid bodies)."""
    _BODY_RULES[struct_type] = rule


def body_rule_errors(document: Any, body_type: Any, settings: Settings) -> dict[str, str]:
    """The registered rule's errors for a body object, or for each object of a list body."""
    item_type = _list_item_struct(body_type)
    if item_type is not None:
        item_rule = _BODY_RULES.get(item_type)
        if item_rule is None or not isinstance(document, list):
            return {}
        errors: dict[str, str] = {}
        for index, item in enumerate(document):
            if isinstance(item, dict):
                errors.update({f"[{index}].{path}": message for path, message in item_rule(item, settings).items()})
        return errors
    struct_type = _struct_of(body_type)
    rule = _BODY_RULES.get(struct_type) if struct_type is not None else None
    return rule(document, settings) if rule is not None and isinstance(document, dict) else {}


def well_typed(document: Mapping[str, Any], key: str, expected: Any) -> Any:
    """``document[key]`` as ``expected`` when it is present and valid, else None: a rule skips it."""
    value = document.get(key)
    if value is None:
        return None
    try:
        return msgspec.convert(value, expected)
    except msgspec.ValidationError:
        return None


def text_or_vector_errors(document: Mapping[str, Any], dimension: int) -> dict[str, str]:
    """The rules every similarity search shares, over its JSON form: ``query`` or ``embedding``,
    not both; a vector of the model's dimension, finite and not all zero. Whether neither is
    allowed is the caller's rule (workflow search falls back to labels, remediation search cannot)."""
    errors: dict[str, str] = {}
    if document.get("query") is not None and document.get("embedding") is not None:
        errors = dict.fromkeys(("query", "embedding"), "send either query or embedding, not both")
    embedding = well_typed(document, "embedding", list[float])
    if embedding is not None and len(embedding) != dimension:
        errors.setdefault("embedding", f"must have exactly {dimension} numbers")
    elif embedding is not None and (not any(embedding) or not all(math.isfinite(x) for x in embedding)):
        errors.setdefault("embedding", "must be finite and not all zero")
    return errors
