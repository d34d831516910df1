"""Checks every request body gets before its handler, whatever its schema."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request

from app.errors import ValidationFailed
from app.validation import nul_character_paths

_ESCAPED_NUL = b"\\u0000"  # JSON can carry NUL only escaped


async def reject_nul_characters(request: Request[Any, Any, Any]) -> None:
    """PostgreSQL cannot store NUL in text or jsonb: refuse it as a 400 naming the field,
    rather than let the insert fail as a 500."""
    if request.method not in {"POST", "PUT", "PATCH"}:
        return
    body = await request.body()
    if _ESCAPED_NUL not in body:
        return
    try:
        document = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return  # the handler's own decoding reports it as invalid-request
    if paths := nul_character_paths(document):
        raise ValidationFailed(dict.fromkeys(paths, "must not contain NUL (\\u0000) characters"))
