"""The detected-label rules of ``search.md`` section 3, as a table: their weights and which
mismatches are penalised. Both the SQL (``search.sql``) and the reference scorer
(``search.reference``) are generated from or driven by it, so a weight exists once.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import msgspec

from search.labels import DetectedLabels


@dataclass(frozen=True, slots=True)
class DetectedRule:
    """How one detected label scores: its weight and whether a mismatch is penalised."""

    attribute: str
    weight: Decimal
    penalised: bool = False

    @property
    def wire_name(self) -> str:
        return _WIRE_NAMES[self.attribute]


_WIRE_NAMES = {f.name: f.encode_name for f in msgspec.structs.fields(DetectedLabels)}

BOOLEAN_RULES: tuple[DetectedRule, ...] = (
    DetectedRule("git_ops_managed", Decimal("0.10"), penalised=True),
    DetectedRule("pdb_protected", Decimal("0.05")),
    DetectedRule("network_isolated", Decimal("0.03")),
    DetectedRule("helm_managed", Decimal("0.02")),
    DetectedRule("stateful", Decimal("0.02")),
    DetectedRule("hpa_enabled", Decimal("0.02")),
)
CHOICE_RULES: tuple[DetectedRule, ...] = (
    DetectedRule("git_ops_tool", Decimal("0.10"), penalised=True),
    DetectedRule("service_mesh", Decimal("0.05")),
)
