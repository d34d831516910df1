"""Wire types of the workflow catalog and search (reference ``RemediationWorkflow`` & co)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec

from app.lib.schemas import Name
from search.labels import (
    CustomLabels,
    DetectedLabels,
    LabelText,
    LabelValue,
    Priority,
    Severity,
    WorkflowStatus,
)

# No "/": the name is a path segment of /by-name/{workflow_name}/versions.
WorkflowName = Annotated[str, msgspec.Meta(min_length=1, max_length=255, pattern=r"^[^/]+$")]
Version = Annotated[str, msgspec.Meta(min_length=1, max_length=50)]
Person = Annotated[str, msgspec.Meta(max_length=255)]
Email = Annotated[str, msgspec.Meta(max_length=255, pattern=r"^[^@\s]+@[^@\s]+$")]
Sha256Hex = Annotated[str, msgspec.Meta(min_length=64, max_length=64, pattern=r"^[0-9a-fA-F]{64}$")]
Rate = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
INT32_MAX = 2**31 - 1
Count = Annotated[int, msgspec.Meta(ge=0, le=INT32_MAX)]


SearchMode = Literal["label", "semantic", "hybrid"]


class WorkflowLabels(msgspec.Struct, kw_only=True):
    """The five mandatory labels; each a string or (extension) a list, ``*`` a wildcard."""

    signal_type: LabelValue
    severity: LabelValue
    component: LabelValue
    environment: LabelValue
    priority: LabelValue


class WorkflowCreate(msgspec.Struct, kw_only=True):
    """A new workflow version. ``workflow_id``, ``is_latest_version`` and timestamps are the server's."""

    workflow_name: WorkflowName
    version: Version
    name: Name
    description: Annotated[str, msgspec.Meta(min_length=1)]
    content: Annotated[str, msgspec.Meta(min_length=1)]
    content_hash: Sha256Hex
    labels: WorkflowLabels
    execution_engine: Name
    status: WorkflowStatus = "active"
    owner: Person | None = None
    maintainer: Email | None = None
    parameters: dict[str, Any] | None = None
    container_image: str | None = None
    container_digest: str | None = None
    custom_labels: CustomLabels | None = None
    detected_labels: DetectedLabels | None = None
    previous_version: Version | None = None
    deprecation_notice: str | None = None
    version_notes: str | None = None
    change_summary: str | None = None
    approved_by: Person | None = None
    approved_at: datetime | None = None
    expected_success_rate: Rate | None = None
    expected_duration_seconds: Count | None = None
    actual_success_rate: Rate | None = None
    total_executions: Count | None = None
    successful_executions: Count | None = None
    created_by: Person | None = None
    updated_by: Person | None = None


class Workflow(msgspec.Struct, kw_only=True, omit_defaults=True):
    workflow_id: UUID
    workflow_name: str
    version: str
    name: str
    description: str
    content: str
    content_hash: str
    labels: WorkflowLabels
    execution_engine: str
    status: str
    is_latest_version: bool
    created_at: datetime
    updated_at: datetime
    embedding_status: Literal["ready", "pending"]  # extension: usable by semantic search now?
    custom_labels: dict[str, list[str]] = msgspec.field(default_factory=dict)
    detected_labels: DetectedLabels = msgspec.field(default_factory=DetectedLabels)
    total_executions: int = 0
    successful_executions: int = 0
    owner: str | None = None
    maintainer: str | None = None
    parameters: dict[str, Any] | None = None
    container_image: str | None = None
    container_digest: str | None = None
    disabled_at: datetime | None = None
    disabled_by: str | None = None
    disabled_reason: str | None = None
    previous_version: str | None = None
    deprecation_notice: str | None = None
    version_notes: str | None = None
    change_summary: str | None = None
    approved_by: str | None = None
    approved_at: datetime | None = None
    expected_success_rate: float | None = None
    expected_duration_seconds: int | None = None
    actual_success_rate: float | None = None
    created_by: str | None = None
    updated_by: str | None = None
    embedding_model: str | None = None  # extension


class WorkflowList(msgspec.Struct):
    workflows: list[Workflow]
    limit: int
    offset: int
    total: int


class WorkflowVersions(msgspec.Struct):
    workflow_name: str
    versions: list[Workflow]
    total: int


class WorkflowUpdate(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The mutable fields (DD-WORKFLOW-012); every other workflow field is immutable."""

    status: WorkflowStatus | msgspec.UnsetType = msgspec.UNSET  # null is not a status
    disabled_by: Person | None = None
    disabled_reason: str | None = None


class WorkflowDisable(msgspec.Struct, kw_only=True):
    reason: str | None = None
    updated_by: Person | None = None


class SearchFilters(msgspec.Struct, kw_only=True, omit_defaults=True):
    signal_type: LabelText
    severity: Severity
    component: LabelText
    environment: LabelText
    priority: Priority
    custom_labels: CustomLabels | None = None
    detected_labels: DetectedLabels | None = None
    status: list[WorkflowStatus] | None = None


class SearchRequest(msgspec.Struct, kw_only=True):
    filters: SearchFilters
    remediation_id: Annotated[str, msgspec.Meta(max_length=255)] | None = None
    top_k: Annotated[int, msgspec.Meta(ge=1, le=100)] = 10
    min_score: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] = 0.0
    include_disabled: bool = False
    # Extension (search.md section 5): semantic or hybrid search by text or by vector.
    query: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)] | None = None
    embedding: Annotated[list[float], msgspec.Meta(min_length=1, max_length=16000)] | None = None
    min_similarity: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] | None = None

    @property
    def mode(self) -> SearchMode:
        """``label`` without text or vector; with one, ``hybrid`` when detected or custom labels
        add their boosts to the similarity, else ``semantic``."""
        if self.query is None and self.embedding is None:
            return "label"
        boosted = self.filters.detected_labels is not None or bool(self.filters.custom_labels)
        return "hybrid" if boosted else "semantic"


class SearchResult(msgspec.Struct, kw_only=True, omit_defaults=True):
    workflow_id: UUID
    workflow_name: str
    version: str
    title: str
    description: str
    signal_type: str
    confidence: float
    label_boost: float
    label_penalty: float
    custom_label_boost: float
    final_score: float
    label_specificity: int
    rank: int
    custom_labels: dict[str, list[str]]
    detected_labels: DetectedLabels
    container_image: str | None = None
    container_digest: str | None = None
    similarity: float | None = None  # semantic mode only


class SearchResponse(msgspec.Struct, omit_defaults=True):
    workflows: list[SearchResult]
    total_results: int
    filters: SearchFilters
    skipped_without_embedding: int | None = None  # semantic mode only
