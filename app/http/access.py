"""Access control: bearer tokens with scopes ``read``, ``write`` and ``admin`` (api.md "Limits and access").

Tokens are configured by their SHA-256 digests only (``WORKFLOW_SEARCH_AUTH_TOKENS`` or the file
named by ``WORKFLOW_SEARCH_AUTH_TOKENS_FILE``: a JSON list of ``{"name", "sha256", "scopes"}``), so
neither the configuration nor a memory dump holds a usable token. A presented token's digest is
compared with every configured digest in constant time. Health, readiness, liveness, metrics and
the OpenAPI document are open (the edge, ``app.http.edge``, applies this); with no tokens
configured everything is open, and the service then only listens on loopback (``app.cli``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from app.lib import problems
from app.lib.problems import ProblemType

AccessScope = Literal["read", "write", "admin"]
OPEN_PREFIXES = ("/health", "/metrics", "/schema")
# Where the agent tool interface is mounted (app.mcp).
MCP_PATH = "/mcp"
# POSTs that only read: their body is a question, not a change.
READING_POSTS = ("/search", "/verify-chain")


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


def required_scope(method: str, path: str) -> AccessScope:
    """Reads, searches and chain verification need ``read``; everything that changes state needs
    ``write``. The MCP endpoint needs ``read`` to be reached at all; its one writing tool asks for
    ``write`` itself (``scope_refusal``), since which tool a POST calls is in its body."""
    if method in {"GET", "HEAD", "OPTIONS"} or path.endswith(READING_POSTS) or _is_mcp(path):
        return "read"
    return "write"


def _is_mcp(path: str) -> bool:
    return path == MCP_PATH or path.startswith(f"{MCP_PATH}/")


def scope_refusal(token: AccessToken, needed: AccessScope) -> tuple[ProblemType, str] | None:
    """The 403 to answer when ``token`` does not grant ``needed`` (``admin`` grants everything)."""
    if needed not in token.scopes and "admin" not in token.scopes:
        return problems.FORBIDDEN, f"this token lacks the {needed!r} scope"
    return None


def known_token(tokens: tuple[AccessToken, ...], presented: str) -> AccessToken | None:
    """The configured token whose digest matches; None when unknown. Every digest is compared,
    so the time taken does not say which one matched."""
    presented_digest = digest(presented).encode()
    found: AccessToken | None = None
    for token in tokens:
        if hmac.compare_digest(token.sha256.encode(), presented_digest):
            found = token
    return found


def bearer_credential(authorization: bytes | None) -> str | None:
    """The credential of an ``Authorization: Bearer ...`` header; None for none or another kind."""
    if authorization is None:
        return None
    kind, _, credential = authorization.decode("latin-1").partition(" ")
    return credential.strip() if kind.lower() == "bearer" and credential.strip() else None


def authenticate(
    tokens: tuple[AccessToken, ...], authorization: bytes | None, needed: AccessScope
) -> AccessToken | tuple[ProblemType, str]:
    """The token that grants ``needed``, or the problem to answer (401 unknown or none, 403 short)."""
    presented = bearer_credential(authorization)
    token = None if presented is None else known_token(tokens, presented)
    if token is None:
        detail = "a bearer token is required" if presented is None else "the bearer token is not known"
        return problems.UNAUTHORIZED, detail
    return scope_refusal(token, needed) or token
