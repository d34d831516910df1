"""Wire types of remediation audits (api.md, "Remediation audit with dual write")."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec

from app.lib.schemas import Name, Pagination, Short

Phase = Literal["pending", "processing", "completed", "failed"]
Status = Literal["success", "failure", "pending", "running"]


class RemediationAuditRequest(msgspec.Struct, kw_only=True):
    name: Name
    namespace: Name
    phase: Phase
    action_type: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    remediation_request_id: Name
    status: Status | None = None
    start_time: datetime | None = None  # the server's clock when not given
    end_time: datetime | None = None
    alert_fingerprint: Short | None = None
    severity: Annotated[str, msgspec.Meta(max_length=50)] | None = None
    environment: Short | None = None
    cluster_name: Short | None = None
    target_resource: Annotated[str, msgspec.Meta(max_length=500)] | None = None
    error_message: Annotated[str, msgspec.Meta(max_length=10_000)] | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)


class RemediationAuditWritten(msgspec.Struct):
    id: UUID
    vector_store: Literal["written", "pending"]
    fallback_mode: bool


class RemediationAudit(RemediationAuditRequest, kw_only=True, omit_defaults=True):
    id: UUID
    vector_store: Literal["written", "pending"]
    created_at: datetime


class RemediationAuditPage(msgspec.Struct):
    data: list[RemediationAudit]
    pagination: Pagination


class RemediationFilters(msgspec.Struct, kw_only=True, omit_defaults=True):
    name: Name | None = None
    namespace: Name | None = None
    phase: Phase | None = None
    action_type: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    status: Status | None = None
    remediation_request_id: Name | None = None
    alert_fingerprint: Short | None = None
    severity: Annotated[str, msgspec.Meta(max_length=50)] | None = None
    environment: Short | None = None
    cluster_name: Short | None = None
    target_resource: Annotated[str, msgspec.Meta(max_length=500)] | None = None


# A bound of a time window on start_time, as the list endpoint's query parameters take it.
WindowBound = Annotated[str, msgspec.Meta(max_length=500)]


class RemediationSearchRequest(msgspec.Struct, kw_only=True):
    """Either ``query`` (embedded by the model) or ``embedding`` (used as it is), not both."""

    query: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)] | None = None
    embedding: Annotated[list[float], msgspec.Meta(min_length=1, max_length=16000)] | None = None
    filters: RemediationFilters = msgspec.field(default_factory=RemediationFilters)
    since: WindowBound | None = None
    until: WindowBound | None = None
    top_k: Annotated[int, msgspec.Meta(ge=1, le=100)] = 10
    min_similarity: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] | None = None


class SimilarRemediation(RemediationAudit, kw_only=True):
    similarity: float
    rank: int


class RemediationSearchResponse(msgspec.Struct):
    results: list[SimilarRemediation]
    total_results: int
    # Whether every candidate was scored (true today on both paths); an approximate index
    # answering a filter too broad to scan will say false.
    exact: bool
