"""The search rules of ``shared/spec/search.md``, once, as plain Python.

This module is the readable reference: no database, no framework. The SQL in
``search.sql`` implements the same rules for speed, and the property-based tests
prove the two agree on ids, order and scores.

Arithmetic is decimal so that every weight is exact; scores are rounded to six
places (half away from zero, like PostgreSQL's ``round``) before they are compared.

Semantic mode (section 5) replaces the 0.5 base with the cosine similarity of the query's
and the workflow's embeddings. Similarity is a float computed the way pgvector does it
(``1 - cosine distance``, in double, then to numeric with 15 significant digits).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import Enum
from uuid import UUID

from search.labels import (
    MANDATORY_LABELS,
    WILDCARD,
    WILDCARD_LABELS,
    DetectedLabels,
    label_values,
)
from search.query import SearchQuery
from search.rules import BOOLEAN_RULES, CHOICE_RULES

ZERO = Decimal(0)
ONE = Decimal(1)
BASE_SCORE = Decimal(5)
SCORE_SCALE = Decimal(10)
SCORE_PLACES = Decimal("0.000001")
CUSTOM_EXACT = Decimal("0.15")
CUSTOM_WILDCARD = Decimal("0.075")


class LabelMatch(Enum):
    EXACT = "exact"
    WILDCARD = "wildcard"


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """What the rules need to know about one stored workflow."""

    workflow_id: UUID
    created_at: datetime
    status: str
    is_latest_version: bool
    labels: Mapping[str, str | Sequence[str]]
    detected_labels: DetectedLabels = field(default_factory=DetectedLabels)
    custom_labels: Mapping[str, Sequence[str]] = field(default_factory=dict)
    embedding: Sequence[float] | None = None


@dataclass(frozen=True, slots=True)
class Score:
    workflow_id: UUID
    created_at: datetime
    label_specificity: int
    detected_boost: Decimal
    label_penalty: Decimal
    custom_boost: Decimal
    final_score: Decimal
    similarity: Decimal | None = None  # semantic mode only, rounded like final_score


@dataclass(frozen=True, slots=True)
class Ranking:
    """The ranked page (at most ``top_k``), how many candidates passed every filter, and (in
    semantic mode) how many candidates were left out for having no embedding yet."""

    results: list[Score]
    total_results: int
    skipped_without_embedding: int = 0


def match_label(label: str, workflow_value: str | Sequence[str], requested: str) -> LabelMatch | None:
    values = label_values(workflow_value)
    wanted = requested.lower()
    if any(value.lower() == wanted for value in values):
        return LabelMatch.EXACT
    if label in WILDCARD_LABELS and WILDCARD in values:
        return LabelMatch.WILDCARD
    return None


def detected_adjustment(request: DetectedLabels | None, workflow: DetectedLabels) -> tuple[Decimal, Decimal]:
    """(boost, penalty) of section 3; only fields the request sets count, minus failed detections."""
    if request is None:
        return ZERO, ZERO
    ignored = set(request.failed_detections)
    boost = penalty = ZERO
    for rule in BOOLEAN_RULES:
        if rule.wire_name in ignored or getattr(request, rule.attribute) is not True:
            continue
        if getattr(workflow, rule.attribute) is True:
            boost += rule.weight
        elif rule.penalised:
            penalty += rule.weight
    for rule in CHOICE_RULES:
        wanted = getattr(request, rule.attribute)
        if rule.wire_name in ignored or wanted is None:
            continue
        have = getattr(workflow, rule.attribute)
        if have is not None and have == wanted:
            boost += rule.weight
        elif have == WILDCARD or (wanted == WILDCARD and have is not None):
            boost += rule.weight / 2
        elif rule.penalised and wanted != WILDCARD:
            penalty += rule.weight
    return boost, penalty


def custom_boost(request: Mapping[str, Sequence[str]], workflow: Mapping[str, Sequence[str]]) -> Decimal:
    """Section 4: every requested (key, value) pair, exact 0.15 or through ``*`` 0.075."""
    total = ZERO
    for key, values in request.items():
        have = workflow.get(key, ())
        for value in values:
            if value in have:
                total += CUSTOM_EXACT
            elif WILDCARD in have:
                total += CUSTOM_WILDCARD
    return total


def round_score(value: Decimal) -> Decimal:
    return value.quantize(SCORE_PLACES, rounding=ROUND_HALF_UP)


def cosine_similarity(a: Sequence[float], b: Sequence[float]) -> float:
    """pgvector's ``1 - (a <=> b)``: the cosine clamped to [-1, 1], through its distance."""
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norms = sum(x * x for x in a) * sum(y * y for y in b)
    if norms == 0:
        raise ValueError("cosine similarity of a zero vector is undefined")
    cosine = max(-1.0, min(1.0, dot / math.sqrt(norms)))
    return 1.0 - (1.0 - cosine)


def as_numeric(value: float) -> Decimal:
    """A float as PostgreSQL casts ``double precision`` to ``numeric``: 15 significant digits."""
    return Decimal(f"{value:.15g}")


def label_specificity(entry: CatalogEntry, query: SearchQuery) -> int | None:
    """How many mandatory labels matched exactly, or None when the entry is not a candidate."""
    if not entry.is_latest_version or entry.status not in query.allowed_statuses():
        return None
    specificity = 0
    for label in MANDATORY_LABELS:
        match = match_label(label, entry.labels[label], query.labels[label])
        if match is None:
            return None
        specificity += match is LabelMatch.EXACT
    return specificity


def score(entry: CatalogEntry, query: SearchQuery) -> Score | None:
    """The entry's score, or None when it is not a candidate (section 1) or, in semantic
    mode, has no embedding to compare."""
    specificity = label_specificity(entry, query)
    if specificity is None or (query.embedding is not None and entry.embedding is None):
        return None
    boost, penalty = detected_adjustment(query.detected_labels, entry.detected_labels)
    custom = custom_boost(query.custom_labels, entry.custom_labels)
    adjustment = boost + custom - penalty
    if query.embedding is None or entry.embedding is None:
        final = min(ONE, (BASE_SCORE + adjustment) / SCORE_SCALE)
        similarity = None
    else:
        raw = as_numeric(cosine_similarity(query.embedding, entry.embedding))
        final = min(ONE, max(ZERO, raw + adjustment))
        similarity = round_score(raw)
    return Score(
        entry.workflow_id, entry.created_at, specificity, boost, penalty, custom, round_score(final), similarity
    )


def _passes(result: Score, query: SearchQuery) -> bool:
    if float(result.final_score) < query.min_score:
        return False
    return query.min_similarity is None or float(result.similarity or 0) >= query.min_similarity


def order(scores: Iterable[Score]) -> list[Score]:
    """Section 6: score, specificity, newest, then smallest id; every key decided, so one order."""
    by_id = sorted(scores, key=lambda s: s.workflow_id)
    return sorted(by_id, key=lambda s: (s.final_score, s.label_specificity, s.created_at), reverse=True)


def rank(catalog: Iterable[CatalogEntry], query: SearchQuery) -> Ranking:
    entries = list(catalog)
    skipped = 0
    if query.embedding is not None:
        skipped = sum(1 for e in entries if e.embedding is None and label_specificity(e, query) is not None)
    scored = [s for entry in entries if (s := score(entry, query)) is not None]
    ordered = order(s for s in scored if _passes(s, query))
    return Ranking(results=ordered[: query.top_k], total_results=len(ordered), skipped_without_embedding=skipped)
