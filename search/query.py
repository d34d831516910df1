"""What a search asks: the query both the SQL (``search.sql``) and the reference scorer
(``search.reference``, the test oracle) take."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from search.labels import STATUSES, DetectedLabels


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """A label search: the five mandatory labels plus the optional scoring inputs."""

    labels: Mapping[str, str]
    detected_labels: DetectedLabels | None = None
    custom_labels: Mapping[str, Sequence[str]] = field(default_factory=dict)
    statuses: Sequence[str] | None = None
    include_disabled: bool = False
    top_k: int = 10
    min_score: float = 0.0
    embedding: Sequence[float] | None = None  # semantic mode when set
    min_similarity: float | None = None

    def allowed_statuses(self) -> tuple[str, ...]:
        """``filters.status`` when given, else every status with ``include_disabled``, else active."""
        if self.statuses:
            return tuple(sorted(set(self.statuses)))
        return STATUSES if self.include_disabled else ("active",)
