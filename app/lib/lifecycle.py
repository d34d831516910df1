"""Where the process is in its life: readiness follows this, not guesses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Phase = Literal["starting", "serving", "shutting_down"]


@dataclass
class Lifecycle:
    phase: Phase = "starting"

    @property
    def serving(self) -> bool:
        return self.phase == "serving"
