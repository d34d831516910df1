"""Domain errors, and the one place that turns any error raised in a handler into problem details
(RFC 9457), each of a type from the catalogue (``app.lib.problems``)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import sqlalchemy.exc
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from app.lib import problems
from app.lib.database_errors import is_outage
from app.lib.metrics import VALIDATION_FAILURES, failure_reason, field_label
from app.lib.problems import PROBLEM_JSON, Problem, ProblemType, problem_body

logger = logging.getLogger(__name__)


class DomainError(Exception):
    """An error a client can act on; its problem type comes from the catalogue (app.lib.problems)."""

    problem: ClassVar[ProblemType] = problems.INVALID_REQUEST
    headers: ClassVar[Mapping[str, str]] = {}

    def __init__(self, detail: str, field_errors: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field_errors = dict(field_errors) if field_errors else None


class InvalidRequest(DomainError):
    pass


class ValidationFailed(DomainError):
    problem = problems.VALIDATION_ERROR

    def __init__(self, field_errors: Mapping[str, str], detail: str | None = None) -> None:
        names = ", ".join(sorted(field_errors))
        super().__init__(detail or f"invalid fields: {names}", field_errors)


class ImmutableFieldViolation(DomainError):
    problem = problems.IMMUTABLE_FIELD_VIOLATION


class MissingCorrelationId(DomainError):
    problem = problems.MISSING_CORRELATION_ID


class NotFound(DomainError):
    problem = problems.NOT_FOUND


class Conflict(DomainError):
    problem = problems.CONFLICT


class ServiceUnavailable(DomainError):
    problem = problems.SERVICE_UNAVAILABLE


class DatabaseUnavailable(ServiceUnavailable):
    """A read found the database gone (a restart, a lost connection): it will pass, retry."""

    headers: ClassVar[Mapping[str, str]] = {"Retry-After": "1"}


class InternalError(DomainError):
    """Only built by ``problem_of``: a handler never raises it, an unexpected error is one."""

    problem = problems.INTERNAL_ERROR


class StorageUnavailable(DomainError):
    """The database and the dead letter queue both failed: the write was not accepted."""

    problem = problems.DATABASE_ERROR


def problem_response(
    base_url: str,
    request: Request[Any, Any, Any],
    problem: ProblemType,
    detail: str,
    *,
    field_errors: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response[Problem]:
    body = problem_body(base_url, problem, detail, request.url.path, field_errors)
    return Response(body, status_code=problem.status, media_type=PROBLEM_JSON, headers=dict(headers or {}))


def count_field_errors(field_errors: Mapping[str, str] | None) -> None:
    for field, message in (field_errors or {}).items():
        VALIDATION_FAILURES.labels(field_label(field), failure_reason(message)).inc()


POOL_BUSY = "every database connection is busy; retry shortly"
DATABASE_DOWN = "the database is unavailable; retry shortly"
NOT_COMPLETED = "the server could not complete the request"


def problem_of(exc: Exception) -> DomainError:
    """What an error raised outside the router (an MCP tool call) answers, as the handlers below
    answer it over HTTP; an unexpected error is the caller's to log."""
    if isinstance(exc, DomainError):
        return exc
    if isinstance(exc, sqlalchemy.exc.TimeoutError):
        return DatabaseUnavailable(POOL_BUSY)
    if isinstance(exc, sqlalchemy.exc.DBAPIError) and is_outage(exc):
        return DatabaseUnavailable(DATABASE_DOWN)
    return InternalError(NOT_COMPLETED)


def _domain_error(base_url: str, request: Request[Any, Any, Any], exc: DomainError) -> Response[Problem]:
    count_field_errors(exc.field_errors)
    return problem_response(
        base_url, request, exc.problem, exc.detail, field_errors=exc.field_errors, headers=exc.headers
    )


def _validation_error(base_url: str, request: Request[Any, Any, Any], exc: ValidationException) -> Response[Problem]:
    """Query and path parameters (bodies are checked whole before the handler, app.http.body_checks)."""
    messages = [m for m in (exc.extra or []) if isinstance(m, dict)]
    field_errors = {str(m.get("key", "body")): str(m.get("message", "invalid")) for m in messages}
    if not field_errors:
        return problem_response(base_url, request, problems.INVALID_REQUEST, str(exc.detail))
    return _domain_error(base_url, request, ValidationFailed(field_errors))


def _http_error(base_url: str, request: Request[Any, Any, Any], exc: HTTPException) -> Response[Problem]:
    problem = problems.of_status(exc.status_code)
    if exc.status_code >= 500 and exc.status_code != problems.SERVICE_UNAVAILABLE.status:
        # A framework fault (a dependency that cannot be resolved, say): logged, never detailed.
        logger.error("server error on %s", request.url.path, exc_info=exc)
        return problem_response(base_url, request, problems.INTERNAL_ERROR, NOT_COMPLETED)
    return problem_response(base_url, request, problem, str(exc.detail), headers=exc.headers)


def _pool_exhausted(
    base_url: str, request: Request[Any, Any, Any], exc: sqlalchemy.exc.TimeoutError
) -> Response[Problem]:
    """Every connection stayed busy for the whole pool wait: a load peak, not a fault. The client
    may retry; audit writes never get here (they go to the dead letter queue)."""
    logger.warning("no database connection became free within the pool wait on %s", request.url.path)
    return _retry_shortly(base_url, request, POOL_BUSY)


def _database_error(
    base_url: str, request: Request[Any, Any, Any], exc: sqlalchemy.exc.DBAPIError
) -> Response[Problem]:
    """A lost connection or a database that is restarting will pass: 503, not 500. The pool has
    already dropped the dead connections, so a retry gets fresh ones."""
    if not is_outage(exc):
        return _unexpected_error(base_url, request, exc)
    logger.warning("database unavailable on %s %s (%s)", request.method, request.url.path, type(exc.orig).__name__)
    return _retry_shortly(base_url, request, DATABASE_DOWN)


def _retry_shortly(base_url: str, request: Request[Any, Any, Any], detail: str) -> Response[Problem]:
    return problem_response(base_url, request, problems.SERVICE_UNAVAILABLE, detail, headers={"Retry-After": "1"})


def _unexpected_error(base_url: str, request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    # The detail never carries the exception text: it may hold SQL or data.
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(base_url, request, problems.INTERNAL_ERROR, NOT_COMPLETED)


def exception_handlers(problem_base_url: str) -> Mapping[type[Exception], Callable[..., Any]]:
    """Litestar's handlers, each answering problems whose ``type`` is under ``problem_base_url``."""
    handlers: dict[type[Exception], Callable[..., Response[Problem]]] = {
        DomainError: _domain_error,
        ValidationException: _validation_error,
        HTTPException: _http_error,
        sqlalchemy.exc.TimeoutError: _pool_exhausted,
        sqlalchemy.exc.DBAPIError: _database_error,
        Exception: _unexpected_error,
    }
    return {error: functools.partial(handler, problem_base_url) for error, handler in handlers.items()}


__all__ = [
    "Conflict",
    "DatabaseUnavailable",
    "DomainError",
    "ImmutableFieldViolation",
    "InternalError",
    "InvalidRequest",
    "MissingCorrelationId",
    "NotFound",
    "ServiceUnavailable",
    "StorageUnavailable",
    "ValidationFailed",
    "count_field_errors",
    "exception_handlers",
    "problem_of",
    "problem_response",
]
