"""Why each workflow ranked where it did, in words an agent can quote.

Nothing is ranked here. The totals are the search's own result fields; the share of each rule is
the reference scorer's own functions (``search.reference``, driven by ``search.rules``) applied to
one requested label at a time. An explanation therefore cannot disagree with the ranking it
explains, and a new weight in ``search.rules`` shows up here without a change.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Literal
from uuid import UUID

import msgspec

from app.workflows.schemas import SearchFilters, SearchResult
from app.workflows.search_service import Ranked
from search.labels import MANDATORY_LABELS, WILDCARD, DetectedLabels, LabelValue
from search.reference import BASE_SCORE, SCORE_SCALE, LabelMatch, custom_boost, detected_adjustment, match_label
from search.rules import BOOLEAN_RULES, CHOICE_RULES

FactorKind = Literal["base", "similarity", "label", "detected_label", "custom_label"]


class Factor(msgspec.Struct, kw_only=True):
    """One rule's part in a score: ``effect`` is what it added to ``final_score`` (before the
    clamp to [0, 1]); a mandatory label only decides candidacy and specificity, so its effect is 0."""

    kind: FactorKind
    name: str
    effect: float
    text: str


class Explanation(msgspec.Struct, kw_only=True):
    workflow_id: UUID
    rank: int
    summary: str
    factors: list[Factor]


def explain(filters: SearchFilters, ranked: Ranked) -> list[Explanation]:
    results = ranked.response.workflows
    return [
        Explanation(
            workflow_id=result.workflow_id,
            rank=result.rank,
            summary=_summary(result, results[index - 1] if index else None),
            factors=_factors(filters, result, labels),
        )
        for index, (result, labels) in enumerate(zip(results, ranked.labels, strict=True))
    ]


def _json(value: object) -> str:
    """A value as the agent sent it (``true``, ``"argocd"``, ``null``), not as Python prints it."""
    return msgspec.json.encode(value).decode()


def _number(value: float | Decimal) -> str:
    return f"{float(value):.6f}".rstrip("0").rstrip(".") or "0"


def _summary(result: SearchResult, previous: SearchResult | None) -> str:
    boost, custom, penalty = (_number(x) for x in (result.label_boost, result.custom_label_boost, result.label_penalty))
    parts = f"detected {boost} + custom {custom} - penalty {penalty}"
    if result.similarity is None:
        formula = f"min(1, ({BASE_SCORE} + {parts}) / {SCORE_SCALE})"
    else:
        formula = f"clamp(similarity {_number(result.similarity)} + {parts}, 0, 1)"
    exact, total = result.label_specificity, len(MANDATORY_LABELS)
    others = f", the others through the workflow's '{WILDCARD}'" if exact < total else ""
    text = f"Rank {result.rank}: final score {_number(result.final_score)} = {formula}; "
    text += f"{exact} of {total} mandatory labels matched exactly{others}."
    if previous is not None and previous.final_score == result.final_score:
        if previous.label_specificity > result.label_specificity:
            text += f" Same score as rank {previous.rank}, placed after it for matching fewer labels exactly."
        else:
            text += (
                f" Same score and specificity as rank {previous.rank}: the newer workflow comes first, "
                "then the smaller workflow_id."
            )
    return text


def _factors(filters: SearchFilters, result: SearchResult, labels: Mapping[str, LabelValue]) -> list[Factor]:
    # A weight moves the label score by weight / 10 (the score is a sum over 10), the similarity by itself.
    scale = SCORE_SCALE if result.similarity is None else Decimal(1)
    if result.similarity is not None:
        text = f"cosine similarity of the incident description and the workflow: {_number(result.similarity)}"
        factors = [Factor(kind="similarity", name="similarity", effect=result.similarity, text=text)]
    else:
        text = f"every label-search candidate starts at {BASE_SCORE}/{SCORE_SCALE}"
        factors = [Factor(kind="base", name="base", effect=float(BASE_SCORE / SCORE_SCALE), text=text)]
    factors += [_mandatory(label, getattr(filters, label), labels[label]) for label in MANDATORY_LABELS]
    if filters.detected_labels is not None:
        factors += _detected(filters.detected_labels, result.detected_labels, scale)
    for key, values in (filters.custom_labels or {}).items():
        factors += [_custom(key, value, result.custom_labels, scale) for value in values]
    return factors


def _mandatory(label: str, requested: str, stored: LabelValue) -> Factor:
    match = match_label(label, stored, requested)
    how = {
        LabelMatch.EXACT: "matched exactly",
        LabelMatch.WILDCARD: f"matched through the workflow's '{WILDCARD}' (less specific)",
        None: "did not match",
    }[match]
    return Factor(kind="label", name=label, effect=0.0, text=f"{label}: requested {_json(requested)}, {how}")


def _detected(requested: DetectedLabels, stored: DetectedLabels, scale: Decimal) -> list[Factor]:
    factors = []
    for rule in (*BOOLEAN_RULES, *CHOICE_RULES):
        wanted = getattr(requested, rule.attribute)
        if wanted is None:
            continue
        have = getattr(stored, rule.attribute)
        if rule.wire_name in requested.failed_detections:
            effect, outcome = Decimal(0), "ignored: its detection failed"
        else:
            boost, penalty = detected_adjustment(DetectedLabels(**{rule.attribute: wanted}), stored)
            effect = (boost - penalty) / scale
            outcome = f"boost +{boost}" if boost else f"penalty -{penalty}" if penalty else "no effect"
        text = f"{rule.wire_name}: requested {_json(wanted)}, workflow has {_json(have)}: {outcome}"
        factors.append(Factor(kind="detected_label", name=rule.wire_name, effect=float(effect), text=text))
    return factors


def _custom(key: str, value: str, stored: Mapping[str, list[str]], scale: Decimal) -> Factor:
    boost = custom_boost({key: [value]}, stored)
    how = "matched exactly" if value in stored.get(key, ()) else f"matched through '{WILDCARD}'" if boost else "absent"
    text = f"custom label {key}={value}: {how}" + (f", boost +{boost}" if boost else ", no boost")
    return Factor(kind="custom_label", name=f"{key}={value}", effect=float(boost / scale), text=text)
