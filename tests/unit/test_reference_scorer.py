"""The pure reference scorer (``search.reference``) against shared/spec/search.md, no database."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, get_args
from uuid import UUID

import msgspec
import pytest

from search.labels import MANDATORY_LABELS, STATUSES, DetectedLabels, DetectionName
from search.query import SearchQuery
from search.reference import CatalogEntry, LabelMatch, Ranking, Score, match_label, rank
from tests.factories import ALL_TRUE

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ZERO = Decimal(0)
REQUEST_LABELS = {
    "signal_type": "OOMKilled",
    "severity": "critical",
    "component": "pod",
    "environment": "production",
    "priority": "P1",
}
EVERY_DETECTION = list(get_args(DetectionName))


def uid(n: int) -> UUID:
    return UUID(int=n)


def detected(wire: Mapping[str, Any] | None) -> DetectedLabels | None:
    """Detected labels from their wire (camelCase) form, as a request or workflow carries them."""
    return None if wire is None else msgspec.convert(dict(wire), DetectedLabels)


def entry(
    n: int = 1,
    *,
    labels: Mapping[str, str | Sequence[str]] | None = None,
    detected_labels: Mapping[str, Any] | None = None,
    custom_labels: Mapping[str, Sequence[str]] | None = None,
    status: str = "active",
    latest: bool = True,
    created_at: datetime = T0,
) -> CatalogEntry:
    return CatalogEntry(
        workflow_id=uid(n),
        created_at=created_at,
        status=status,
        is_latest_version=latest,
        labels={**REQUEST_LABELS, **(labels or {})},
        detected_labels=detected(detected_labels) or DetectedLabels(),
        custom_labels=dict(custom_labels or {}),
    )


def query(
    *,
    labels: Mapping[str, str] | None = None,
    detected_labels: Mapping[str, Any] | None = None,
    custom_labels: Mapping[str, Sequence[str]] | None = None,
    **options: Any,
) -> SearchQuery:
    return SearchQuery(
        labels={**REQUEST_LABELS, **(labels or {})},
        detected_labels=detected(detected_labels),
        custom_labels=dict(custom_labels or {}),
        **options,
    )


def only(catalog_entry: CatalogEntry, search: SearchQuery) -> Score:
    ranking = rank([catalog_entry], search)
    assert len(ranking.results) == 1, "the entry should be a candidate"
    return ranking.results[0]


def ids(ranking: Ranking) -> list[UUID]:
    return [s.workflow_id for s in ranking.results]


# --- section 7: worked examples ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_detected", "workflow_detected", "final", "boost", "penalty"),
    [
        pytest.param(None, ALL_TRUE, "0.5", "0", "0", id="none-vs-anything"),
        pytest.param(None, {}, "0.5", "0", "0", id="none-vs-empty"),
        pytest.param(
            {"gitOpsManaged": True, "gitOpsTool": "argocd"},
            {"gitOpsManaged": True, "gitOpsTool": "argocd"},
            "0.52",
            "0.20",
            "0",
            id="gitops-argocd-both",
        ),
        pytest.param(
            {"gitOpsManaged": True, "gitOpsTool": "argocd"}, {}, "0.48", "0", "0.20", id="gitops-argocd-vs-empty"
        ),
        pytest.param(
            {"gitOpsManaged": True, "gitOpsTool": "argocd"},
            {"gitOpsManaged": True, "gitOpsTool": "flux"},
            "0.50",
            "0.10",
            "0.10",
            id="argocd-vs-flux",
        ),
        pytest.param({"gitOpsTool": "argocd"}, {"gitOpsTool": "*"}, "0.505", "0.05", "0", id="argocd-vs-star"),
        pytest.param({"serviceMesh": "*"}, {"serviceMesh": "istio"}, "0.5025", "0.025", "0", id="star-vs-istio"),
    ],
)
def test_detected_labels_worked_examples(
    request_detected: dict[str, Any] | None,
    workflow_detected: dict[str, Any],
    final: str,
    boost: str,
    penalty: str,
) -> None:
    result = only(entry(detected_labels=workflow_detected), query(detected_labels=request_detected))
    assert result.final_score == Decimal(final)
    assert result.detected_boost == Decimal(boost)
    assert result.label_penalty == Decimal(penalty)
    assert result.custom_boost == 0
    assert result.label_specificity == 5


@pytest.mark.parametrize(
    ("workflow_custom", "final", "custom"),
    [
        pytest.param({"constraint": ["cost-constrained"]}, "0.515", "0.15", id="exact"),
        pytest.param({"constraint": ["*"]}, "0.5075", "0.075", id="wildcard"),
        pytest.param({"constraint": ["Cost-Constrained"]}, "0.5", "0", id="case-sensitive"),
        pytest.param({"constraint": ["other"]}, "0.5", "0", id="other-value"),
        pytest.param({"team": ["cost-constrained"]}, "0.5", "0", id="other-key"),
        pytest.param({}, "0.5", "0", id="none"),
    ],
)
def test_custom_labels_worked_examples(workflow_custom: dict[str, list[str]], final: str, custom: str) -> None:
    result = only(entry(custom_labels=workflow_custom), query(custom_labels={"constraint": ["cost-constrained"]}))
    assert result.final_score == Decimal(final)
    assert result.custom_boost == Decimal(custom)
    assert result.detected_boost == result.label_penalty == 0


def test_custom_labels_sum_over_every_requested_pair() -> None:
    workflow = entry(custom_labels={"constraint": ["cost-constrained", "*"], "team": ["sre"]})
    search = query(custom_labels={"constraint": ["cost-constrained", "gpu"], "team": ["sre", "dev"]})
    result = only(workflow, search)
    assert result.custom_boost == Decimal("0.15") + Decimal("0.075") + Decimal("0.15")
    assert result.final_score == Decimal("0.5375")


def test_score_is_capped_at_one() -> None:
    values = [f"v{i}" for i in range(40)]
    result = only(entry(custom_labels={"k": values}), query(custom_labels={"k": values}))
    assert result.custom_boost == Decimal("6.00")
    assert result.final_score == Decimal(1)


# --- section 7: ties ----------------------------------------------------------------------------


def test_tie_exact_label_beats_wildcard_by_specificity() -> None:
    # The wildcard one is newer and has the smaller id: only specificity can put "pod" first.
    exact = entry(2, labels={"component": "pod"}, created_at=T0)
    wildcard = entry(1, labels={"component": "*"}, created_at=T0 + timedelta(hours=1))
    ranking = rank([wildcard, exact], query())
    assert ids(ranking) == [uid(2), uid(1)]
    assert [s.final_score for s in ranking.results] == [Decimal("0.5"), Decimal("0.5")]
    assert [s.label_specificity for s in ranking.results] == [5, 4]


def test_tie_equal_specificity_newer_created_at_first() -> None:
    older = entry(1, created_at=T0)
    newer = entry(2, created_at=T0 + timedelta(microseconds=1))
    assert ids(rank([older, newer], query())) == [uid(2), uid(1)]


def test_tie_equal_created_at_smaller_workflow_id_first() -> None:
    catalog = [entry(n) for n in (3, 1, 2)]
    assert ids(rank(catalog, query())) == [uid(1), uid(2), uid(3)]


def test_higher_score_beats_higher_specificity() -> None:
    plain = entry(1, labels={"component": "pod"})
    boosted = entry(2, labels={"component": "*"}, custom_labels={"constraint": ["*"]})
    ranking = rank([plain, boosted], query(custom_labels={"constraint": ["x"]}))
    assert ids(ranking) == [uid(2), uid(1)]


# --- section 1: matching ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "workflow_value", "requested", "expected"),
    [
        ("signal_type", "OOMKilled", "oomkilled", LabelMatch.EXACT),
        ("signal_type", "oomkilled", "OOMKILLED", LabelMatch.EXACT),
        ("signal_type", "*", "OOMKilled", None),
        ("signal_type", "*", "*", LabelMatch.EXACT),
        ("signal_type", ["CrashLoopBackOff", "*"], "OOMKilled", None),
        ("signal_type", ["CrashLoopBackOff", "OOMKilled"], "oomkilled", LabelMatch.EXACT),
        ("severity", "CRITICAL", "critical", LabelMatch.EXACT),
        ("severity", "*", "critical", LabelMatch.WILDCARD),
        ("severity", "high", "critical", None),
        ("severity", ["high", "critical"], "critical", LabelMatch.EXACT),
        ("severity", ["high", "*"], "critical", LabelMatch.WILDCARD),
        ("component", "Pod", "pod", LabelMatch.EXACT),
        ("component", "*", "pod", LabelMatch.WILDCARD),
        ("component", "node", "pod", None),
        ("component", "pod", "*", None),
        ("component", "*", "*", LabelMatch.EXACT),
        ("component", ["node", "deployment"], "pod", None),
        ("environment", "*", "staging", LabelMatch.WILDCARD),
        ("environment", "Production", "PRODUCTION", LabelMatch.EXACT),
        ("environment", ["staging", "production"], "production", LabelMatch.EXACT),
        ("environment", "production", "*", None),
        ("priority", "*", "P0", LabelMatch.WILDCARD),
        ("priority", "p1", "P1", LabelMatch.EXACT),
        ("priority", "P2", "P1", None),
        ("priority", ["P0", "P1"], "P1", LabelMatch.EXACT),
    ],
)
def test_match_label(label: str, workflow_value: str | list[str], requested: str, expected: LabelMatch | None) -> None:
    assert match_label(label, workflow_value, requested) is expected
    search = query(labels={label: requested})
    ranking = rank([entry(labels={label: workflow_value})], search)
    assert ranking.total_results == (0 if expected is None else 1)
    if expected is not None:
        assert ranking.results[0].label_specificity == (5 if expected is LabelMatch.EXACT else 4)


def test_specificity_counts_exact_labels_only() -> None:
    wildcards = {"severity": "*", "component": "*", "environment": "*", "priority": "*"}
    result = only(entry(labels=wildcards), query())
    assert result.label_specificity == 1
    assert result.final_score == Decimal("0.5")


def test_every_mandatory_label_must_match() -> None:
    for label in MANDATORY_LABELS:
        assert rank([entry(labels={label: "nope"})], query()).total_results == 0, label


def test_only_latest_version_is_a_candidate() -> None:
    ranking = rank([entry(1, latest=False), entry(2, latest=True)], query(include_disabled=True))
    assert ids(ranking) == [uid(2)]
    assert ranking.total_results == 1


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        pytest.param({}, {"active"}, id="default-active-only"),
        pytest.param({"include_disabled": True}, set(STATUSES), id="include-disabled-any"),
        pytest.param({"statuses": ["disabled"]}, {"disabled"}, id="status-disabled"),
        pytest.param({"statuses": ["deprecated", "archived"]}, {"deprecated", "archived"}, id="status-two"),
        pytest.param({"statuses": ["active"], "include_disabled": True}, {"active"}, id="status-wins"),
    ],
)
def test_status_rules(options: dict[str, Any], expected: set[str]) -> None:
    catalog = [entry(n, status=status) for n, status in enumerate(STATUSES, start=1)]
    ranking = rank(catalog, query(**options))
    by_id = {e.workflow_id: e.status for e in catalog}
    assert {by_id[i] for i in ids(ranking)} == expected


# --- section 3: detected labels -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "weight", "penalised"),
    [
        ("gitOpsManaged", "0.10", True),
        ("pdbProtected", "0.05", False),
        ("networkIsolated", "0.03", False),
        ("helmManaged", "0.02", False),
        ("stateful", "0.02", False),
        ("hpaEnabled", "0.02", False),
    ],
)
@pytest.mark.parametrize(
    ("requested", "have", "outcome"),
    [
        (True, True, "boost"),
        (True, False, "penalty"),
        (True, None, "penalty"),
        (False, True, "nothing"),
        (False, False, "nothing"),
        (False, None, "nothing"),
        (None, True, "nothing"),
    ],
)
def test_boolean_detected_labels(
    field: str, weight: str, penalised: bool, requested: bool | None, have: bool | None, outcome: str
) -> None:
    request = {} if requested is None else {field: requested}
    workflow = {} if have is None else {field: have}
    result = only(entry(detected_labels=workflow), query(detected_labels=request))
    expected_boost = Decimal(weight) if outcome == "boost" else Decimal(0)
    expected_penalty = Decimal(weight) if outcome == "penalty" and penalised else Decimal(0)
    assert (result.detected_boost, result.label_penalty) == (expected_boost, expected_penalty)
    assert result.final_score == (5 + expected_boost - expected_penalty) / 10


@pytest.mark.parametrize(
    ("field", "requested", "have", "boost", "penalty"),
    [
        ("gitOpsTool", "argocd", "argocd", "0.10", "0"),
        ("gitOpsTool", "flux", "flux", "0.10", "0"),
        ("gitOpsTool", "argocd", "*", "0.05", "0"),
        ("gitOpsTool", "*", "flux", "0.05", "0"),
        ("gitOpsTool", "*", "*", "0.10", "0"),
        ("gitOpsTool", "argocd", "flux", "0", "0.10"),
        ("gitOpsTool", "argocd", None, "0", "0.10"),
        ("gitOpsTool", "*", None, "0", "0"),  # a request "*" never penalises
        ("serviceMesh", "istio", "istio", "0.05", "0"),
        ("serviceMesh", "istio", "*", "0.025", "0"),
        ("serviceMesh", "*", "linkerd", "0.025", "0"),
        ("serviceMesh", "istio", "linkerd", "0", "0"),
        ("serviceMesh", "istio", None, "0", "0"),
        ("serviceMesh", "*", None, "0", "0"),
    ],
)
def test_choice_detected_labels(field: str, requested: str, have: str | None, boost: str, penalty: str) -> None:
    workflow = {} if have is None else {field: have}
    result = only(entry(detected_labels=workflow), query(detected_labels={field: requested}))
    assert (result.detected_boost, result.label_penalty) == (Decimal(boost), Decimal(penalty))


@pytest.mark.parametrize("workflow_detected", [pytest.param(ALL_TRUE, id="all-true"), pytest.param({}, id="empty")])
@pytest.mark.parametrize("field", EVERY_DETECTION)
def test_failed_detections_are_ignored(field: str, workflow_detected: dict[str, Any]) -> None:
    request = {field: ALL_TRUE[field], "failed_detections": [field]}
    result = only(entry(detected_labels=workflow_detected), query(detected_labels=request))
    assert (result.detected_boost, result.label_penalty, result.final_score) == (ZERO, ZERO, Decimal("0.5"))


def test_failed_detection_ignores_only_the_named_field() -> None:
    request = {"gitOpsManaged": True, "gitOpsTool": "argocd", "failed_detections": ["gitOpsTool"]}
    result = only(entry(detected_labels={}), query(detected_labels=request))
    assert (result.detected_boost, result.label_penalty) == (ZERO, Decimal("0.10"))


def test_detected_boost_and_penalty_bounds() -> None:
    best = only(entry(detected_labels=ALL_TRUE), query(detected_labels=ALL_TRUE))
    assert best.detected_boost == Decimal("0.39")
    assert best.label_penalty == 0
    worst = only(entry(detected_labels={}), query(detected_labels=ALL_TRUE))
    assert worst.detected_boost == 0
    assert worst.label_penalty == Decimal("0.20")
    assert worst.final_score == Decimal("0.48")


# --- section 6: min_score, top_k, total_results -------------------------------------------------


def scored_catalog() -> list[CatalogEntry]:
    """Five candidates scoring 0.5, 0.5075, 0.515, 0.515 and 0.53, plus two non-candidates."""
    return [
        entry(1),
        entry(2, custom_labels={"c": ["*"]}),
        entry(3, custom_labels={"c": ["x"]}),
        entry(4, custom_labels={"c": ["x"]}),
        entry(5, custom_labels={"c": ["x"], "d": ["y"]}),
        entry(6, custom_labels={"c": ["x"]}, status="disabled"),
        entry(7, custom_labels={"c": ["x"]}, labels={"signal_type": "CrashLoopBackOff"}),
    ]


def test_order_of_a_mixed_catalog() -> None:
    ranking = rank(scored_catalog(), query(custom_labels={"c": ["x"], "d": ["y"]}))
    assert ids(ranking) == [uid(5), uid(3), uid(4), uid(2), uid(1)]
    assert [str(s.final_score) for s in ranking.results] == ["0.530000", "0.515000", "0.515000", "0.507500", "0.500000"]
    assert ranking.total_results == 5


@pytest.mark.parametrize(
    ("min_score", "expected"),
    [
        (0.0, [5, 3, 4, 2, 1]),
        (0.5, [5, 3, 4, 2, 1]),
        (0.5075, [5, 3, 4, 2]),
        (0.515, [5, 3, 4]),
        (0.53, [5]),
        (1.0, []),
    ],
)
def test_min_score_is_inclusive_and_counts_in_total(min_score: float, expected: list[int]) -> None:
    ranking = rank(scored_catalog(), query(custom_labels={"c": ["x"], "d": ["y"]}, min_score=min_score))
    assert ids(ranking) == [uid(n) for n in expected]
    assert ranking.total_results == len(expected)


@pytest.mark.parametrize(("top_k", "expected"), [(1, [5]), (2, [5, 3]), (5, [5, 3, 4, 2, 1]), (100, [5, 3, 4, 2, 1])])
def test_top_k_truncates_but_total_counts_every_candidate(top_k: int, expected: list[int]) -> None:
    ranking = rank(scored_catalog(), query(custom_labels={"c": ["x"], "d": ["y"]}, top_k=top_k))
    assert ids(ranking) == [uid(n) for n in expected]
    assert ranking.total_results == 5


def test_empty_catalog() -> None:
    assert rank([], query()) == Ranking(results=[], total_results=0)
