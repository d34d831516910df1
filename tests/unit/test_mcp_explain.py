"""The MCP explanation of a ranking agrees with the ranking: over random catalogs and searches
(the search equivalence test's), its factors add up to each score the reference scorer gave, and
it counts the exactly matched labels the scorer counted."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given, settings

from app.mcp.explain import explain
from app.workflows.schemas import SearchFilters, SearchResponse, SearchResult
from app.workflows.search_service import Ranked
from search.reference import CatalogEntry, rank
from tests.integration.workflows.test_search_equivalence import catalog_entry, examples, search_query


def _result(entry: CatalogEntry, score: Any, position: int) -> SearchResult:
    final = float(score.final_score)
    return SearchResult(
        workflow_id=entry.workflow_id, workflow_name="wf", version="1", title="t", description="d",
        signal_type="s", confidence=final, final_score=final, label_boost=float(score.detected_boost),
        label_penalty=float(score.label_penalty), custom_label_boost=float(score.custom_boost),
        label_specificity=score.label_specificity, rank=position,
        custom_labels={k: list(v) for k, v in entry.custom_labels.items()}, detected_labels=entry.detected_labels,
    )  # fmt: skip


@settings(max_examples=300)
@given(examples())
def test_the_factors_add_up_to_each_score_and_count_the_exact_labels(
    example: tuple[list[dict[str, Any]], dict[str, Any]],
) -> None:
    catalog, request = example
    entries = {entry.workflow_id: entry for entry in map(catalog_entry, catalog)}
    ranking = rank(entries.values(), search_query(request))
    filters = msgspec.convert(request["filters"], SearchFilters)
    results = [_result(entries[s.workflow_id], s, n) for n, s in enumerate(ranking.results, start=1)]
    labels = [entries[s.workflow_id].labels for s in ranking.results]
    ranked = Ranked(SearchResponse(results, ranking.total_results, filters), labels)  # type: ignore[arg-type]

    for result, explanation in zip(results, explain(filters, ranked), strict=True):
        assert min(1.0, sum(factor.effect for factor in explanation.factors)) == pytest.approx(result.final_score)
        exact = [f for f in explanation.factors if f.kind == "label" and f.text.endswith("matched exactly")]
        assert len(exact) == result.label_specificity
        detected = sum(f.effect for f in explanation.factors if f.kind == "detected_label")
        assert detected * 10 == pytest.approx(result.label_boost - result.label_penalty)
