"""The rules of ``search.reference`` as one PostgreSQL statement.

Candidates come from the GIN index on ``search_tokens`` (label values scoped by signal
type, see ``search.labels.scoped_token``): for each wildcard-able label the workflow holds
the exact value's token or the ``*`` token, under the requested signal type. Scores are
computed in ``numeric`` (exact, like the reference's decimals) over the candidates only,
rounded to six places, then ordered with every tie decided. The statement text never
changes with the request (all values are bind parameters), so the driver prepares it once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from search.labels import (
    MANDATORY_LABELS,
    WILDCARD_LABELS,
    DetectedLabels,
    label_token,
    scoped_tokens_matching,
)
from search.query import SearchQuery
from search.rules import BOOLEAN_RULES, CHOICE_RULES


def _detected_boost_sql() -> str:
    """One CASE per rule of ``search.rules``: a boolean the request sets true and the workflow
    has; a choice equal (the full weight), or matched through ``*`` (half)."""
    terms = [
        f"CASE WHEN CAST(:{rule.attribute} AS boolean) AND w.detected_labels ->> '{rule.wire_name}' = 'true' "
        f"THEN {rule.weight} ELSE 0 END"
        for rule in BOOLEAN_RULES
    ]
    terms += [
        f"CASE WHEN CAST(:{rule.attribute} AS text) IS NULL THEN 0 "
        f"WHEN w.detected_labels ->> '{rule.wire_name}' = CAST(:{rule.attribute} AS text) THEN {rule.weight} "
        f"WHEN w.detected_labels ->> '{rule.wire_name}' = '*' OR "
        f"(CAST(:{rule.attribute} AS text) = '*' AND w.detected_labels ->> '{rule.wire_name}' IS NOT NULL) "
        f"THEN {rule.weight / 2} ELSE 0 END"
        for rule in CHOICE_RULES
    ]
    return "\n      + ".join(terms)


def _label_penalty_sql() -> str:
    """One CASE per penalised rule: a boolean wanted and missing; a concrete choice the workflow
    lacks or holds otherwise (``*`` on either side is never penalised)."""
    terms = [
        f"CASE WHEN CAST(:{rule.attribute} AS boolean) "
        f"AND w.detected_labels ->> '{rule.wire_name}' IS DISTINCT FROM 'true' THEN {rule.weight} ELSE 0 END"
        for rule in BOOLEAN_RULES
        if rule.penalised
    ]
    terms += [
        f"CASE WHEN CAST(:{rule.attribute} AS text) IS NULL OR CAST(:{rule.attribute} AS text) = '*' THEN 0 "
        f"WHEN w.detected_labels ->> '{rule.wire_name}' IS NULL THEN {rule.weight} "
        f"WHEN w.detected_labels ->> '{rule.wire_name}' IN (CAST(:{rule.attribute} AS text), '*') THEN 0 "
        f"ELSE {rule.weight} END"
        for rule in CHOICE_RULES
        if rule.penalised
    ]
    return "\n      + ".join(terms) or "0"


_LABEL_PENALTY_SQL = _label_penalty_sql()

_CUSTOM_BOOST_SQL = """(
        SELECT coalesce(sum(
                 CASE WHEN (w.custom_labels -> wanted.key) @> jsonb_build_array(wanted.value) THEN 0.15
                      WHEN (w.custom_labels -> wanted.key) @> CAST('["*"]' AS jsonb) THEN 0.075
                      ELSE 0 END), 0)
        FROM unnest(CAST(:custom_keys AS text[]), CAST(:custom_values AS text[])) AS wanted(key, value)
      )"""

_SPECIFICITY_SQL = "\n      + ".join(
    f"CASE WHEN CAST(:{label}_exact AS text) = ANY(w.label_tokens) THEN 1 ELSE 0 END" for label in MANDATORY_LABELS
)

# The signal type is part of every scoped token, so these four conditions also match it.
_CANDIDATE_SQL = "\n    AND ".join(
    ["w.is_latest_version", "w.status = ANY(CAST(:statuses AS text[]))"]
    + [f"w.search_tokens && CAST(:{label}_any AS text[])" for label in sorted(WILDCARD_LABELS)]
)

_CANDIDATE_COLUMNS = f"""w.workflow_id, w.workflow_name, w.version, w.name, w.description, w.labels,
           w.container_image, w.container_digest, w.custom_labels, w.detected_labels, w.created_at,
           ({_SPECIFICITY_SQL}) AS label_specificity,
           ({_detected_boost_sql()}) AS detected_boost,
           ({_LABEL_PENALTY_SQL}) AS label_penalty,
           {_CUSTOM_BOOST_SQL} AS custom_boost"""

_ORDER_SQL = "final_score DESC, label_specificity DESC, created_at DESC, workflow_id ASC"

# Both statements are built once at import from this module's own constants; request values
# are only ever bind parameters.
LABEL_SEARCH_SQL = f"""
WITH candidates AS (
    SELECT {_CANDIDATE_COLUMNS}
    FROM workflows AS w
    WHERE {_CANDIDATE_SQL}
), scored AS (
    SELECT c.*,
           round(least(1.0, (5.0 + c.detected_boost + c.custom_boost - c.label_penalty) / 10.0), 6) AS final_score
    FROM candidates AS c
)
SELECT s.*, count(*) OVER () AS total_results
FROM scored AS s
WHERE s.final_score >= CAST(:min_score AS double precision)
ORDER BY {_ORDER_SQL}
LIMIT :top_k
"""  # noqa: S608

# Similarity is exact over the label-filtered candidates (no approximate index), so results
# are complete and the same every time. The one summary row carries the count of candidates
# without a usable embedding even when no workflow is returned.
SEMANTIC_SEARCH_SQL = f"""
WITH candidates AS (
    SELECT {_CANDIDATE_COLUMNS},
           CASE WHEN w.embedding IS NOT NULL AND w.embedding_model = CAST(:model_id AS text)
                THEN CAST(1 - (w.embedding <=> CAST(:embedding AS vector)) AS numeric) END AS raw_similarity
    FROM workflows AS w
    WHERE {_CANDIDATE_SQL}
), scored AS (
    SELECT c.*,
           round(c.raw_similarity, 6) AS similarity,
           round(least(1.0, greatest(0.0,
                 c.raw_similarity + c.detected_boost + c.custom_boost - c.label_penalty)), 6) AS final_score
    FROM candidates AS c
    WHERE c.raw_similarity IS NOT NULL
), ranked AS (
    SELECT s.*, count(*) OVER () AS total_results
    FROM scored AS s
    WHERE s.final_score >= CAST(:min_score AS double precision)
      AND (CAST(:min_similarity AS double precision) IS NULL
           OR s.similarity >= CAST(:min_similarity AS double precision))
    ORDER BY {_ORDER_SQL}
    LIMIT :top_k
)
SELECT r.*, skipped.count AS skipped_without_embedding
FROM (SELECT count(*) AS count FROM candidates WHERE raw_similarity IS NULL) AS skipped
LEFT JOIN ranked AS r ON true
ORDER BY r.{_ORDER_SQL.replace(", ", ", r.")}
"""  # noqa: S608


@dataclass(frozen=True, slots=True)
class PositionalStatement:
    """A statement in asyncpg's ``$n`` form, and the names of its parameters in that order: what
    the read paths send to the driver itself, with no SQL layer between."""

    sql: str
    names: tuple[str, ...]

    def arguments(self, parameters: Mapping[str, object]) -> list[object]:
        return [parameters[name] for name in self.names]


def positional(sql: str) -> PositionalStatement:
    """``:name`` parameters as ``$n`` (each name one number, however often it appears), the way
    SQLAlchemy's asyncpg dialect sends them; ``::`` casts are left alone."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return PositionalStatement(re.sub(r"(?<![:\w]):([A-Za-z_]\w*)", number, sql), tuple(names))


LABEL_SEARCH = positional(LABEL_SEARCH_SQL)
SEMANTIC_SEARCH = positional(SEMANTIC_SEARCH_SQL)


def semantic_search_parameters(query: SearchQuery, model_id: str) -> dict[str, object]:
    """Bind parameters for ``SEMANTIC_SEARCH_SQL``; the query must carry its embedding."""
    if query.embedding is None:
        raise ValueError("a semantic search needs the query's embedding")
    params = label_search_parameters(query)
    params.update(
        model_id=model_id,
        embedding="[" + ",".join(repr(float(x)) for x in query.embedding) + "]",
        min_similarity=query.min_similarity,
    )
    return params


def label_search_parameters(query: SearchQuery) -> dict[str, object]:
    """Bind parameters for ``LABEL_SEARCH_SQL``: request values only, never SQL text."""
    params: dict[str, object] = {
        "statuses": list(query.allowed_statuses()),
        "min_score": query.min_score,
        "top_k": query.top_k,
    }
    signal_type = query.labels["signal_type"]
    for label in MANDATORY_LABELS:
        params[f"{label}_exact"] = label_token(label, query.labels[label])
    for label in WILDCARD_LABELS:
        params[f"{label}_any"] = scoped_tokens_matching(signal_type, label, query.labels[label])
    params.update(_detected_parameters(query))
    pairs = [(key, value) for key, values in query.custom_labels.items() for value in values]
    params["custom_keys"] = [key for key, _ in pairs]
    params["custom_values"] = [value for _, value in pairs]
    return params


def _detected_parameters(query: SearchQuery) -> dict[str, object]:
    """The request's detected labels that count: booleans only when true, none that failed."""
    detected = query.detected_labels or DetectedLabels()
    ignored = set(detected.failed_detections)
    params: dict[str, object] = {
        rule.attribute: getattr(detected, rule.attribute) is True and rule.wire_name not in ignored
        for rule in BOOLEAN_RULES
    }
    params.update(
        {
            rule.attribute: getattr(detected, rule.attribute) if rule.wire_name not in ignored else None
            for rule in CHOICE_RULES
        }
    )
    return params
