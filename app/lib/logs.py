"""Structured logs (structlog): JSON lines in production, readable lines on a terminal.

Every record, from structlog or from the standard library (uvicorn, SQLAlchemy, our own
``logging.getLogger`` calls), goes through the same processors, so the request's context
(``request_id``, ``route``, ``method``, bound per request in ``app.http.observability``) is on
every line a request writes.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, Literal, TextIO

import msgspec
import structlog

from app.lib.request_context import add_request_context

LogFormat = Literal["auto", "json", "console"]

# Libraries whose INFO lines are their own internals (pgserver's pg_ctl command lines and
# readiness polls, Alembic's plugin set-up, model and HTTP client chatter): an operator
# needs their warnings, not a narration. DEBUG brings them back for troubleshooting.
QUIET_LIBRARIES = (
    "pgserver",
    "alembic",
    "sentence_transformers",
    "transformers",
    "huggingface_hub",
    "httpx",
    "httpcore",
    "filelock",
    "urllib3",
)


def shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        add_request_context,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


# A value JSON has no form for is written as its repr, as structlog's own renderer does.
_ENCODER = msgspec.json.Encoder(enc_hook=repr)


def json_line(event: dict[str, Any], **_: Any) -> str:
    """One record as JSON: msgspec, several times cheaper than the standard library's encoder
    (a request writes one line, so its cost is on every request; benchmarks/README.md)."""
    return _ENCODER.encode(event).decode()


def formatter(fmt: LogFormat, stream: TextIO) -> logging.Formatter:
    json_lines = fmt == "json" or (fmt == "auto" and not stream.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=json_line)
        if json_lines
        else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    final: list[Any] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if json_lines:
        # Frames without their local variables: those hold request bodies and credentials.
        final.append(
            structlog.processors.ExceptionRenderer(structlog.tracebacks.ExceptionDictTransformer(show_locals=False))
        )
    return structlog.stdlib.ProcessorFormatter(foreign_pre_chain=shared_processors(), processors=[*final, renderer])


def configure_logging(level: str, fmt: LogFormat, stream: TextIO | None = None) -> None:
    """Route every logger through one handler on ``stream`` (stderr) at ``level``."""
    out = stream or sys.stderr
    structlog.configure(
        processors=[*shared_processors(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter(fmt, out))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers = []  # propagate to the root handler instead
    quiet = logging.NOTSET if level == "DEBUG" else logging.WARNING
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(quiet)
    if level != "DEBUG":
        # transformers draws a "Loading weights" progress bar on stderr (a log file gets every
        # frame); it reads this switch when first imported, which is after logging is set up.
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
