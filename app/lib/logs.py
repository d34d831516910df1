"""Structured logs (structlog): JSON lines in production, readable lines on a terminal.

Every record, from structlog or from the standard library (uvicorn, SQLAlchemy, our own
``logging.getLogger`` calls), goes through the same processors, so the request's context
(``request_id``, ``route``, ``method``, set per request by the edge, ``app.http.edge``) is on
every line a request writes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import Any, ClassVar, Literal, TextIO

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
    "mcp",  # the MCP transport's line per request ("Terminating session: None")
)


# Fields on every line of this process (``serve --workers`` sets the worker's pid), set once by
# configure_logging. Not structlog's context variables: merging those copies the whole context of
# the request at every line (a third of a request line's cost).
_PROCESS_FIELDS: dict[str, object] = {}


def add_process_fields(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: the process's own fields (none unless configured)."""
    for name, value in _PROCESS_FIELDS.items():
        event.setdefault(name, value)
    return event


def shared_processors() -> list[Any]:
    return [
        add_process_fields,
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


def _renderers(fmt: LogFormat, stream: TextIO) -> list[Any]:
    """The last processors of every line: exceptions made data, then JSON or console text."""
    if fmt == "json" or (fmt == "auto" and not stream.isatty()):
        # Frames without their local variables: those hold request bodies and credentials.
        exceptions = structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
        return [
            structlog.processors.ExceptionRenderer(exceptions),
            structlog.processors.JSONRenderer(serializer=json_line),
        ]
    return [structlog.dev.ConsoleRenderer(colors=stream.isatty())]


def formatter(fmt: LogFormat, stream: TextIO) -> logging.Formatter:
    """How the standard library's records (uvicorn, SQLAlchemy, ``logging.getLogger``) are written."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared_processors(),
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *_renderers(fmt, stream)],
    )


class LineLogger:
    """What a structlog logger (the request line) writes through: the rendered line, straight to the
    log handler's stream under its lock. No LogRecord and no handler chain: through the standard
    library a request's line cost 50 µs, more than the rest of the edge (benchmarks/README.md)."""

    __slots__ = ("name",)
    handler: ClassVar[logging.StreamHandler[TextIO] | None] = None

    def __init__(self, name: str = "") -> None:
        self.name = name  # for structlog.stdlib.add_logger_name

    def msg(self, line: str) -> None:
        handler = LineLogger.handler
        if handler is None:
            return
        with handler.lock or contextlib.nullcontext():
            handler.stream.write(line + "\n")
            handler.stream.flush()

    debug = info = warning = error = critical = exception = msg


def configure_logging(
    level: str, fmt: LogFormat, stream: TextIO | None = None, *, fields: dict[str, object] | None = None
) -> None:
    """Route every logger through one handler on ``stream`` (stderr) at ``level``; ``fields`` go
    on every line."""
    out = stream or sys.stderr
    _PROCESS_FIELDS.clear()
    _PROCESS_FIELDS.update(fields or {})
    structlog.configure(
        processors=[*shared_processors(), *_renderers(fmt, out)],
        logger_factory=LineLogger,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level]),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter(fmt, out))
    LineLogger.handler = handler
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
