"""Catalog rules: versioning, immutability, label validation, and the label search."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection, Mapping
from typing import Any, Protocol
from uuid import UUID

import msgspec
from sqlalchemy.exc import IntegrityError

from app.lib.database_errors import is_unique_violation
from app.lib.errors import Conflict, ImmutableFieldViolation, NotFound, ValidationFailed
from app.lib.validation import text_or_vector_errors, well_typed
from app.workflows.repository import DATABASE_NOW, Row, WorkflowRepository
from app.workflows.schemas import (
    Sha256Hex,
    Workflow,
    WorkflowCreate,
    WorkflowDisable,
    WorkflowList,
    WorkflowUpdate,
    WorkflowVersions,
)
from embeddings.model import vector_literal
from embeddings.query import QueryEmbedder
from embeddings.text import text_sha256, workflow_text
from search.labels import (
    PRIORITIES,
    SEVERITIES,
    WILDCARD,
    DetectedLabels,
    LabelValue,
    label_values,
    tokens_matching,
    workflow_label_tokens,
    workflow_search_tokens,
)

logger = logging.getLogger(__name__)


class EmbeddingAccess(Protocol):
    """What the catalog needs of the embedding runtime (embeddings.runtime)."""

    @property
    def embedder(self) -> QueryEmbedder | None: ...

    @property
    def model_id(self) -> str: ...

    @property
    def dimension(self) -> int: ...


MUTABLE_FIELDS = frozenset(f.encode_name for f in msgspec.structs.fields(WorkflowUpdate))
IMMUTABLE_FIELDS = (
    frozenset(f.encode_name for struct in (Workflow, WorkflowCreate) for f in msgspec.structs.fields(struct))
    - MUTABLE_FIELDS
)
# Workflow-side values of the enum labels, compared case-insensitively like every label.
_ALLOWED_LABEL_VALUES = {
    "severity": {value.lower() for value in SEVERITIES} | {WILDCARD},
    "priority": {value.lower() for value in PRIORITIES} | {WILDCARD},
}


def to_workflow(row: Row, model_id: str) -> Workflow:
    """The wire form; ``embedding_status`` says whether semantic search can use the row now."""
    ready = row.get("embedding_model") == model_id and row.get("embedding_text_hash") == row.get("text_hash")
    return msgspec.convert({**row, "embedding_status": "ready" if ready else "pending"}, Workflow)


def create_errors(document: Mapping[str, Any]) -> dict[str, str]:
    """The rules of a new version a schema cannot say, over its JSON form (app.lib.validation.BodyRule):
    the digest matches the content, and severity and priority are in their vocabularies."""
    errors: dict[str, str] = {}
    content, content_hash = well_typed(document, "content", str), well_typed(document, "content_hash", Sha256Hex)
    digest_differs = (
        content is not None
        and content_hash is not None
        and (hashlib.sha256(content.encode()).hexdigest() != content_hash.lower())
    )
    if digest_differs:
        errors["content_hash"] = "must be the SHA-256 hex digest of content"
    labels = document.get("labels")
    for label, allowed in _ALLOWED_LABEL_VALUES.items():
        value = well_typed(labels, label, LabelValue) if isinstance(labels, Mapping) else None
        if value is not None and any(v.lower() not in allowed for v in label_values(value)):
            errors[f"labels.{label}"] = f"must be one of {sorted(allowed)}"
    return errors


def search_errors(document: Mapping[str, Any], dimension: int) -> dict[str, str]:
    """The rules of a search a schema cannot say, over its JSON form: text or vector, not both;
    a vector of the model's dimension, finite and not all zero; min_similarity only with one."""
    errors = text_or_vector_errors(document, dimension)
    given = any(document.get(name) is not None for name in ("query", "embedding"))
    if not given and document.get("min_similarity") is not None:
        errors["min_similarity"] = "applies only with query or embedding"
    return errors


def workflow_row_values(data: WorkflowCreate, previous_version: str | None) -> dict[str, Any]:
    """The catalog columns of a new version (tokens derived from its labels), without embedding."""
    values = msgspec.structs.asdict(data)
    labels = msgspec.to_builtins(data.labels)
    values.update(
        labels=labels,
        label_tokens=workflow_label_tokens(labels),
        search_tokens=workflow_search_tokens(labels),
        custom_labels=data.custom_labels or {},
        detected_labels=msgspec.to_builtins(data.detected_labels or DetectedLabels()),
        content_hash=data.content_hash.lower(),
        is_latest_version=True,
        previous_version=data.previous_version or previous_version,
        total_executions=data.total_executions or 0,
        successful_executions=data.successful_executions or 0,
    )
    return values


class WorkflowService:
    def __init__(self, repository: WorkflowRepository, embeddings: EmbeddingAccess) -> None:
        self.repository = repository
        self.embeddings = embeddings

    async def _embedding_values(self, data: WorkflowCreate) -> dict[str, Any]:
        """The text hash always; the embedding too when the model is in and encodes it."""
        embedding_text = workflow_text(data.name, data.description, msgspec.to_builtins(data.labels))
        values: dict[str, Any] = {"text_hash": text_sha256(embedding_text)}
        embedder = self.embeddings.embedder
        if embedder is None:
            return values  # the model is loading or failed: pending, the backfill embeds it
        try:
            vector = await embedder.batcher.embed(embedding_text)
        except Exception:  # never lose a workflow to the encoder: store it pending
            logger.warning("embedding %s failed; stored as pending", data.workflow_name, exc_info=True)
            return values
        return values | {
            "embedding": vector_literal(vector),
            "embedding_model": embedder.model_id,
            "embedding_text_hash": values["text_hash"],
            "embedded_at": DATABASE_NOW,
        }

    async def create(self, data: WorkflowCreate) -> Workflow:
        """Store a new version; it becomes the latest and the previous latest stops being so."""
        if errors := create_errors(msgspec.to_builtins(data)):
            raise ValidationFailed(errors)
        # Encoded before the name lock is taken: inference never holds a transaction's locks.
        embedding_values = await self._embedding_values(data)
        await self.repository.lock_name(data.workflow_name)
        if await self.repository.get_version(data.workflow_name, data.version) is not None:
            raise Conflict(f"workflow {data.workflow_name!r} version {data.version!r} already exists")
        previous = await self.repository.get_latest(data.workflow_name)
        if previous is not None:
            await self.repository.update(previous["workflow_id"], {"is_latest_version": False})
        values = workflow_row_values(data, previous["version"] if previous else None) | embedding_values
        try:
            row = await self.repository.insert(values)
        except IntegrityError as error:  # a concurrent writer that did not take the name lock
            if not is_unique_violation(error):
                raise
            raise Conflict(f"workflow {data.workflow_name!r} version {data.version!r} already exists") from error
        return self._wire(row)

    async def get(self, workflow_id: UUID) -> Workflow:
        row = await self.repository.get(workflow_id)
        if row is None:
            raise NotFound(f"workflow {workflow_id} does not exist")
        return self._wire(row)

    async def page(
        self,
        *,
        status: str | None,
        labels: Mapping[str, str | None],
        workflow_name: str | None,
        limit: int,
        offset: int,
    ) -> WorkflowList:
        token_filters = [tokens_matching(label, [value]) for label, value in labels.items() if value]
        rows, total = await self.repository.page(
            status=status, workflow_name=workflow_name, token_filters=token_filters, limit=limit, offset=offset
        )
        return WorkflowList(workflows=[self._wire(r) for r in rows], limit=limit, offset=offset, total=total)

    async def update(self, workflow_id: UUID, given_fields: Collection[str], data: WorkflowUpdate) -> Workflow:
        """Change mutable fields only; naming any immutable one rejects the whole request."""
        if immutable := sorted(set(given_fields) & IMMUTABLE_FIELDS):
            raise ImmutableFieldViolation(
                f"immutable fields cannot be updated (create a new version instead): {', '.join(immutable)}",
                dict.fromkeys(immutable, "is immutable"),
            )
        values = msgspec.structs.asdict(data)
        changes = {name: value for name, value in values.items() if name in given_fields}
        if not changes:
            raise ValidationFailed({"body": f"name at least one of {sorted(MUTABLE_FIELDS)}"})
        if changes.get("status") == "disabled":
            changes["disabled_at"] = DATABASE_NOW
        elif "status" in changes:  # leaving "disabled": clear what the request did not set itself
            for name in ("disabled_at", "disabled_by", "disabled_reason"):
                changes.setdefault(name, None)
        return await self._apply(workflow_id, changes)

    async def disable(self, workflow_id: UUID, data: WorkflowDisable) -> Workflow:
        return await self._apply(
            workflow_id,
            {
                "status": "disabled",
                "disabled_at": DATABASE_NOW,
                "disabled_by": data.updated_by,
                "disabled_reason": data.reason,
                "updated_by": data.updated_by,
            },
        )

    async def versions(self, workflow_name: str) -> WorkflowVersions:
        rows = await self.repository.versions(workflow_name)
        if not rows:
            raise NotFound(f"no workflow is named {workflow_name!r}")
        return WorkflowVersions(
            workflow_name=workflow_name,
            versions=[self._wire(r) for r in rows],
            total=len(rows),
        )

    def _wire(self, row: Row) -> Workflow:
        return to_workflow(row, self.embeddings.model_id)

    async def _apply(self, workflow_id: UUID, changes: Mapping[str, Any]) -> Workflow:
        row = await self.repository.update(workflow_id, changes)
        if row is None:
            raise NotFound(f"workflow {workflow_id} does not exist")
        return self._wire(row)
