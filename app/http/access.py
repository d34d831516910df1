"""Access control: bearer tokens with scopes ``read``, ``write`` and ``admin`` (api.md "Limits and access").

Tokens are configured by their SHA-256 digests only (``WORKFLOW_SEARCH_AUTH_TOKENS`` or the file
named by ``WORKFLOW_SEARCH_AUTH_TOKENS_FILE``: a JSON list of ``{"name", "sha256", "scopes"}``), so
neither the configuration nor a memory dump holds a usable token. A presented token's digest is
compared with every configured digest in constant time. Health, readiness, liveness, metrics and
the OpenAPI document are open; with no tokens configured everything is open, and the service
then only listens on loopback (``app.cli``).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from pathlib import Path
from typing import Annotated, Literal

import msgspec
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from app.lib import problems
from app.lib.problems import ProblemType, problem_body, send_problem

AccessScope = Literal["read", "write", "admin"]
OPEN_PREFIXES = ("/health", "/metrics", "/schema")


class AccessToken(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    sha256: Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")]
    scopes: Annotated[frozenset[AccessScope], msgspec.Meta(min_length=1)]


class AccessConfigError(ValueError):
    pass


def load_tokens(inline: str | None, file: str | None) -> tuple[AccessToken, ...]:
    """The configured tokens: the inline JSON list, then the file's."""
    sources = [("WORKFLOW_SEARCH_AUTH_TOKENS", inline)] if inline else []
    if file:
        try:
            sources.append(("WORKFLOW_SEARCH_AUTH_TOKENS_FILE", Path(file).expanduser().read_text()))
        except OSError as error:
            raise AccessConfigError(f"WORKFLOW_SEARCH_AUTH_TOKENS_FILE: cannot read {file}: {error}") from error
    tokens: list[AccessToken] = []
    for variable, text in sources:
        try:
            tokens += msgspec.json.decode(text, type=list[AccessToken])
        except msgspec.ValidationError as error:
            raise AccessConfigError(f"{variable}: {error}") from error
        except msgspec.DecodeError as error:
            raise AccessConfigError(f"{variable}: not a JSON list of tokens: {error}") from error
    return tuple(tokens)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(name: str, scopes: frozenset[AccessScope]) -> tuple[str, AccessToken]:
    """A fresh random token (shown once) and the entry that configures it."""
    token = secrets.token_urlsafe(32)
    return token, AccessToken(name=name, sha256=digest(token), scopes=scopes)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def required_scope(method: str, path: str) -> AccessScope:
    """Reads and searches need ``read``; everything that changes state needs ``write``."""
    if method in {"GET", "HEAD", "OPTIONS"} or path.endswith("/search"):
        return "read"
    return "write"


def granted(tokens: tuple[AccessToken, ...], presented: str) -> frozenset[AccessScope] | None:
    """The scopes of the presented token; None when it is unknown. Every digest is compared."""
    presented_digest = digest(presented).encode()
    scopes: frozenset[AccessScope] | None = None
    for token in tokens:
        if hmac.compare_digest(token.sha256.encode(), presented_digest):
            scopes = token.scopes
    return scopes


def bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            kind, _, credential = value.decode("latin-1").partition(" ")
            return credential.strip() if kind.lower() == "bearer" and credential.strip() else None
    return None


def access_middleware(app: ASGIApp, tokens: tuple[AccessToken, ...], problem_base_url: str) -> ASGIApp:
    async def refuse(send: Send, scope: Scope, problem: ProblemType, detail: str) -> None:
        body = problem_body(problem_base_url, problem, detail, str(scope.get("path", "")))
        challenge = (
            [(b"www-authenticate", b'Bearer realm="workflow-search"')] if problem is problems.UNAUTHORIZED else []
        )
        await send_problem(send, body, challenge)

    async def with_access(scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != ScopeType.HTTP or not tokens or path.startswith(OPEN_PREFIXES):
            await app(scope, receive, send)
            return
        presented = bearer(scope)
        scopes = None if presented is None else granted(tokens, presented)
        if scopes is None:
            detail = "a bearer token is required" if presented is None else "the bearer token is not known"
            await refuse(send, scope, problems.UNAUTHORIZED, detail)
            return
        needed = required_scope(scope["method"], path)
        if needed not in scopes and "admin" not in scopes:
            await refuse(send, scope, problems.FORBIDDEN, f"this token lacks the {needed!r} scope")
            return
        await app(scope, receive, send)

    return with_access
