"""What every benchmark reports: a figure measured side by side with its floor or peer.

A figure's ``ratio`` is always ``value / baseline``; its target says which way is good
(``">="`` for throughputs and rates, ``"<="`` for times and growth factors).
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

TargetOp = Literal[">=", "<="]


@dataclass(frozen=True)
class Figure:
    name: str  # stable key in summary.json, e.g. "label_search.c8.throughput"
    group: str  # table section, e.g. "label search (10k)"
    unit: str  # "req/s", "ms", "rows/s", "texts/s", "s", "MiB"
    value_rounds: list[float]  # the service, one number per round
    baseline_name: str  # "SQL floor (asyncpg)", "Chroma", "COPY", ...; "" for a figure without one
    baseline_rounds: list[float] = field(default_factory=list)
    target_op: TargetOp | None = None
    target: float | None = None  # bound on ratio = value / baseline
    client_cpu_percent: float | None = None  # the load generator's CPU while measuring the service
    notes: str = ""

    @property
    def value(self) -> float:
        return statistics.median(self.value_rounds)

    @property
    def baseline(self) -> float | None:
        return statistics.median(self.baseline_rounds) if self.baseline_rounds else None

    @property
    def ratio(self) -> float | None:
        baseline = self.baseline
        if baseline is None or baseline == 0:
            return None
        return self.value / baseline

    @property
    def met(self) -> bool | None:
        ratio = self.ratio
        if self.target is None or ratio is None:
            return None
        return ratio >= self.target if self.target_op == ">=" else ratio <= self.target

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "value": self.value, "baseline": self.baseline, "ratio": self.ratio, "met": self.met}
