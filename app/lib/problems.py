"""The one catalogue of problem types (RFC 9457), and the one way to write a problem body.

Every error the service answers is one of these: its slug (the last part of the ``type`` URI,
under ``PROBLEM_BASE_URL``), its title and its status. Domain errors (``app.lib.errors``), the
ASGI middlewares that answer before the router (access, rate limit, deadline) and the OpenAPI
document (``app.http.openapi``) all take them from here, so a slug or a title exists once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import msgspec
from litestar.types import HTTPResponseStartEvent, Send

PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True, slots=True)
class ProblemType:
    slug: str
    title: str
    status: int


INVALID_REQUEST = ProblemType("invalid-request", "Invalid Request", 400)
VALIDATION_ERROR = ProblemType("validation-error", "Validation Error", 400)
IMMUTABLE_FIELD_VIOLATION = ProblemType("immutable-field-violation", "Immutable Field Violation", 400)
MISSING_CORRELATION_ID = ProblemType("missing-correlation-id", "Missing Correlation ID", 400)
UNAUTHORIZED = ProblemType("unauthorized", "Unauthorized", 401)
FORBIDDEN = ProblemType("forbidden", "Forbidden", 403)
NOT_FOUND = ProblemType("not-found", "Not Found", 404)
METHOD_NOT_ALLOWED = ProblemType("method-not-allowed", "Method Not Allowed", 405)
CONFLICT = ProblemType("conflict", "Conflict", 409)
REQUEST_TOO_LARGE = ProblemType("request-too-large", "Request Entity Too Large", 413)
UNSUPPORTED_MEDIA_TYPE = ProblemType("unsupported-media-type", "Unsupported Media Type", 415)
RATE_LIMIT_EXCEEDED = ProblemType("rate-limit-exceeded", "Too Many Requests", 429)
INTERNAL_ERROR = ProblemType("internal-error", "Internal Server Error", 500)
DATABASE_ERROR = ProblemType("database-error", "Database Error", 500)
SERVICE_UNAVAILABLE = ProblemType("service-unavailable", "Service Unavailable", 503)
REQUEST_TIMEOUT = ProblemType("request-timeout", "Request Timeout", 504)

CATALOGUE: tuple[ProblemType, ...] = (
    INVALID_REQUEST,
    VALIDATION_ERROR,
    IMMUTABLE_FIELD_VIOLATION,
    MISSING_CORRELATION_ID,
    UNAUTHORIZED,
    FORBIDDEN,
    NOT_FOUND,
    METHOD_NOT_ALLOWED,
    CONFLICT,
    REQUEST_TOO_LARGE,
    UNSUPPORTED_MEDIA_TYPE,
    RATE_LIMIT_EXCEEDED,
    INTERNAL_ERROR,
    DATABASE_ERROR,
    SERVICE_UNAVAILABLE,
    REQUEST_TIMEOUT,
)

# A framework error carries only its status: the problem type it gets (the first of that status).
BY_STATUS: Mapping[int, ProblemType] = {
    status: next(problem for problem in CATALOGUE if problem.status == status)
    for status in dict.fromkeys(problem.status for problem in CATALOGUE)
}


def of_status(status: int) -> ProblemType:
    """The problem type for a bare status; a 5xx the catalogue does not name is an internal error."""
    return BY_STATUS.get(status, INTERNAL_ERROR)


class Problem(msgspec.Struct, omit_defaults=True):
    """The wire body (the reference's ``RFC7807Problem``, plus ``field_errors``)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    field_errors: dict[str, str] | None = None


def problem_body(
    base_url: str, problem: ProblemType, detail: str, instance: str, field_errors: Mapping[str, str] | None = None
) -> Problem:
    return Problem(
        type=f"{base_url.rstrip('/')}/{problem.slug}",
        title=problem.title,
        status=problem.status,
        detail=detail,
        instance=instance,
        field_errors=dict(field_errors) if field_errors else None,
    )


async def send_problem(
    send: Send,
    body: Problem,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """Answer with ``body`` straight from ASGI, for the middlewares that answer before the router."""
    encoded = msgspec.json.encode(body)
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": body.status,
        "headers": [
            (b"content-type", PROBLEM_JSON.encode()),
            (b"content-length", str(len(encoded)).encode()),
            *headers,
        ],
    }
    await send(start)
    await send({"type": "http.response.body", "body": encoded, "more_body": False})
