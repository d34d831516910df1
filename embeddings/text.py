"""The text a workflow's embedding is computed from, built the same way every time.

Recipe (one line each, in this order, empty parts left out):

    <name (the title)>
    <description>
    signal: <signal types, comma-separated>
    severity: <...>  component: <...>  environment: <...>  priority: <...>

Label values keep their case and list order; ``*`` is written as ``any``. The SHA-256 of
this text is stored beside the embedding, so a change of title, description or labels (or
of this recipe) marks the embedding stale for the backfill.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

_SCOPE_LABELS = ("severity", "component", "environment", "priority")


def _values(value: str | Sequence[str]) -> str:
    values = [value] if isinstance(value, str) else list(value)
    return ", ".join("any" if v == "*" else v for v in values)


def workflow_text(name: str, description: str, labels: Mapping[str, str | Sequence[str]]) -> str:
    lines = [name.strip(), description.strip(), f"signal: {_values(labels['signal_type'])}"]
    lines.append("  ".join(f"{label}: {_values(labels[label])}" for label in _SCOPE_LABELS))
    return "\n".join(line for line in lines if line)


def remediation_text(audit: Mapping[str, object]) -> str:
    """A remediation audit as text, for "find past remediations like this one":
    what was done to what, where, how it went, and the error if any."""
    parts = [
        f"{audit.get('action_type')} on {audit.get('target_resource') or audit.get('name')}",
        f"namespace {audit.get('namespace')}",
        f"phase {audit.get('phase')}, status {audit.get('status') or 'unknown'}",
    ]
    for label in ("severity", "environment", "alert_fingerprint", "error_message"):
        if audit.get(label):
            parts.append(f"{label.replace('_', ' ')}: {audit[label]}")
    return "\n".join(parts)


def text_sha256(text: str) -> str:
    """The SHA-256 of a text: the query cache's key, and a workflow's ``text_hash`` column (which
    tells whether its stored embedding is of its current text)."""
    return hashlib.sha256(text.encode()).hexdigest()
