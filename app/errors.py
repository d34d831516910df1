"""Domain errors, and the one place that turns any error into RFC 7807 problem details."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any

import msgspec
import sqlalchemy.exc
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from app.metrics import VALIDATION_FAILURES, failure_reason, field_label
from app.outages import is_outage

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class DomainError(Exception):
    """An error a client can act on; its slug names the problem type."""

    status: int = HTTPStatus.BAD_REQUEST
    slug: str = "invalid-request"
    title: str = "Invalid Request"

    def __init__(self, detail: str, field_errors: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field_errors = dict(field_errors) if field_errors else None


class InvalidRequest(DomainError):
    pass


class ValidationFailed(DomainError):
    slug = "validation-error"
    title = "Validation Error"

    def __init__(self, field_errors: Mapping[str, str], detail: str | None = None) -> None:
        names = ", ".join(sorted(field_errors))
        super().__init__(detail or f"invalid fields: {names}", field_errors)


class ImmutableFieldViolation(DomainError):
    slug = "immutable-field-violation"
    title = "Immutable Field Violation"


class NotFound(DomainError):
    status = HTTPStatus.NOT_FOUND
    slug = "not-found"
    title = "Not Found"


class Conflict(DomainError):
    status = HTTPStatus.CONFLICT
    slug = "conflict"
    title = "Conflict"


class ServiceUnavailable(DomainError):
    status = HTTPStatus.SERVICE_UNAVAILABLE
    slug = "service-unavailable"
    title = "Service Unavailable"


class StorageUnavailable(DomainError):
    """The database and the dead letter queue both failed: the write was not accepted."""

    status = HTTPStatus.INTERNAL_SERVER_ERROR
    slug = "database-error"
    title = "Database Error"


class Problem(msgspec.Struct, omit_defaults=True):
    type: str
    title: str
    status: int
    detail: str
    instance: str
    field_errors: dict[str, str] | None = None


# Framework errors that carry only a status code get the slug api.md gives that status.
_SLUG_BY_STATUS = {
    400: ("invalid-request", "Invalid Request"),
    401: ("unauthorized", "Unauthorized"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not Found"),
    405: ("method-not-allowed", "Method Not Allowed"),
    409: ("conflict", "Conflict"),
    413: ("request-too-large", "Request Entity Too Large"),
    415: ("unsupported-media-type", "Unsupported Media Type"),
    429: ("rate-limit-exceeded", "Too Many Requests"),
    503: ("service-unavailable", "Service Unavailable"),
    504: ("request-timeout", "Request Timeout"),
}


def problem_response(
    request: Request[Any, Any, Any],
    *,
    status: int,
    slug: str,
    title: str,
    detail: str,
    field_errors: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response[Problem]:
    # Typed as Runtime in app.runtime, which imports the capabilities that import this module.
    base = str(request.app.state.runtime.settings.problem_base_url).rstrip("/")
    body = Problem(
        type=f"{base}/{slug}",
        title=title,
        status=status,
        detail=detail,
        instance=request.url.path,
        field_errors=dict(field_errors) if field_errors else None,
    )
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=dict(headers or {}))


def _domain_error(request: Request[Any, Any, Any], exc: DomainError) -> Response[Problem]:
    for field, message in (exc.field_errors or {}).items():
        VALIDATION_FAILURES.labels(field_label(field), failure_reason(message)).inc()
    return problem_response(
        request, status=exc.status, slug=exc.slug, title=exc.title, detail=exc.detail, field_errors=exc.field_errors
    )


def _validation_error(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Problem]:
    """Query and path parameters (bodies are checked whole before the handler, app.body_checks)."""
    messages = [m for m in (exc.extra or []) if isinstance(m, dict)]
    field_errors = {str(m.get("key", "body")): str(m.get("message", "invalid")) for m in messages}
    if not field_errors:
        return problem_response(
            request, status=400, slug="invalid-request", title="Invalid Request", detail=str(exc.detail)
        )
    return _domain_error(request, ValidationFailed(field_errors))


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Problem]:
    slug, title = _SLUG_BY_STATUS.get(exc.status_code, ("internal-error", "Internal Server Error"))
    if exc.status_code >= 500 and exc.status_code not in _SLUG_BY_STATUS:
        logger.error("server error on %s", request.url.path, exc_info=exc)
        detail = "the server could not complete the request"
    else:
        detail = str(exc.detail)
    return problem_response(request, status=exc.status_code, slug=slug, title=title, detail=detail, headers=exc.headers)


def _pool_exhausted(request: Request[Any, Any, Any], exc: sqlalchemy.exc.TimeoutError) -> Response[Problem]:
    """Every connection stayed busy for the whole pool wait: a load peak, not a fault. The client
    may retry; audit writes never get here (they go to the dead letter queue)."""
    logger.warning("no database connection became free within the pool wait on %s", request.url.path)
    return _retry_shortly(request, "every database connection is busy; retry shortly")


def _database_error(request: Request[Any, Any, Any], exc: sqlalchemy.exc.DBAPIError) -> Response[Problem]:
    """A lost connection or a database that is restarting will pass: 503, not 500. The pool has
    already dropped the dead connections, so a retry gets fresh ones."""
    if not is_outage(exc):
        return _unexpected_error(request, exc)
    logger.warning("database unavailable on %s %s (%s)", request.method, request.url.path, type(exc.orig).__name__)
    return _retry_shortly(request, "the database is unavailable; retry shortly")


def _retry_shortly(request: Request[Any, Any, Any], detail: str) -> Response[Problem]:
    return problem_response(
        request,
        status=503,
        slug="service-unavailable",
        title="Service Unavailable",
        detail=detail,
        headers={"Retry-After": "1"},
    )


def _unexpected_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    # The detail never carries the exception text: it may hold SQL or data.
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(
        request,
        status=500,
        slug="internal-error",
        title="Internal Server Error",
        detail="the server could not complete the request",
    )


def exception_handlers() -> Mapping[type[Exception], Callable[..., Any]]:
    return {
        DomainError: _domain_error,
        ValidationException: _validation_error,
        HTTPException: _http_error,
        sqlalchemy.exc.TimeoutError: _pool_exhausted,
        sqlalchemy.exc.DBAPIError: _database_error,
        Exception: _unexpected_error,
    }


__all__ = [
    "PROBLEM_JSON",
    "Conflict",
    "DomainError",
    "ImmutableFieldViolation",
    "InvalidRequest",
    "NotFound",
    "ServiceUnavailable",
    "ValidationFailed",
    "exception_handlers",
    "problem_response",
]
