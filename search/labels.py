"""Label vocabulary shared by the catalog, the reference scorer and the SQL search.

The mandatory labels of a workflow may be a string or (extension) a list of strings;
``"*"`` on the workflow side is a wildcard for every label but ``signal_type``.
"""

from __future__ import annotations

import json.encoder
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Annotated, Literal

import msgspec

# How json.dumps writes one string (ensure_ascii): the C function itself.
_json_string: Callable[[str], str] = json.encoder.encode_basestring_ascii

MANDATORY_LABELS: tuple[str, ...] = ("signal_type", "severity", "component", "environment", "priority")
WILDCARD = "*"
# signal_type has no wildcard: a workflow "*" there only matches a literal "*" request.
WILDCARD_LABELS: frozenset[str] = frozenset({"severity", "component", "environment", "priority"})

SEVERITIES: tuple[str, ...] = ("critical", "high", "medium", "low")
PRIORITIES: tuple[str, ...] = ("P0", "P1", "P2", "P3")
STATUSES: tuple[str, ...] = ("active", "disabled", "deprecated", "archived")

WorkflowStatus = Literal["active", "disabled", "deprecated", "archived"]
Severity = Literal["critical", "high", "medium", "low"]
Priority = Literal["P0", "P1", "P2", "P3"]
GitOpsTool = Literal["argocd", "flux", "*"]
ServiceMesh = Literal["istio", "linkerd", "*"]
DetectionName = Literal[
    "gitOpsManaged",
    "gitOpsTool",
    "pdbProtected",
    "hpaEnabled",
    "stateful",
    "helmManaged",
    "networkIsolated",
    "serviceMesh",
]

LabelText = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
LabelValue = LabelText | Annotated[list[LabelText], msgspec.Meta(min_length=1, max_length=50)]
# Custom label keys become JSONB keys: Kubernetes-label-like names only.
CustomLabelKey = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9]([A-Za-z0-9._/-]{0,98}[A-Za-z0-9])?$")]
CustomLabels = Annotated[
    dict[
        CustomLabelKey,
        Annotated[list[LabelText], msgspec.Meta(max_length=50)],
    ],
    msgspec.Meta(max_length=50),
]


class DetectedLabels(msgspec.Struct, frozen=True, omit_defaults=True, kw_only=True):
    """Auto-detected facts about the affected resource (reference ``DetectedLabels``)."""

    failed_detections: list[DetectionName] = msgspec.field(default_factory=list)
    git_ops_managed: bool | None = msgspec.field(default=None, name="gitOpsManaged")
    git_ops_tool: GitOpsTool | None = msgspec.field(default=None, name="gitOpsTool")
    pdb_protected: bool | None = msgspec.field(default=None, name="pdbProtected")
    hpa_enabled: bool | None = msgspec.field(default=None, name="hpaEnabled")
    stateful: bool | None = None
    helm_managed: bool | None = msgspec.field(default=None, name="helmManaged")
    network_isolated: bool | None = msgspec.field(default=None, name="networkIsolated")
    service_mesh: ServiceMesh | None = msgspec.field(default=None, name="serviceMesh")


def label_values(value: str | Sequence[str]) -> list[str]:
    """A mandatory label's values as a list, whether it was given as one string or several."""
    return [value] if isinstance(value, str) else list(value)


def label_token(label: str, value: str) -> str:
    """The case-folded ``label=value`` token the catalog indexes and the search matches on.

    Folding happens here, in Python, on both the stored and the requested side, so that
    matching never depends on the database's locale.
    """
    return f"{label}={value.lower()}"


def workflow_label_tokens(labels: Mapping[str, str | Sequence[str]]) -> list[str]:
    """Every token of a workflow's mandatory labels, sorted and without repeats."""
    tokens: set[str] = set()
    for label in MANDATORY_LABELS:
        tokens.update(label_token(label, value) for value in label_values(labels[label]))
    return sorted(tokens)


def tokens_matching(label: str, values: Iterable[str]) -> list[str]:
    """Tokens a stored workflow may carry to be listed under ``label`` = any of ``values``."""
    tokens = [label_token(label, value) for value in values]
    if label in WILDCARD_LABELS:
        tokens.append(label_token(label, WILDCARD))
    return tokens


def scoped_token(signal_type: str, label: str, value: str) -> str:
    """A label value scoped by the signal type, case-folded: ``["oomkilled","severity","critical"]``.

    Only ``signal_type`` is selective in a real catalog; the other labels each match a large
    share of it. Scoping them by signal type keeps every posting list the search reads small.
    JSON keeps the three parts apart whatever characters the values hold. The text is exactly
    ``json.dumps`` of the list (the stored tokens are), written with the encoder's own string
    function: a search builds about ten tokens, and ``json.dumps`` costs five times as much.
    """
    return f"[{_json_string(signal_type.lower())}, {_json_string(label)}, {_json_string(value.lower())}]"


def workflow_search_tokens(labels: Mapping[str, str | Sequence[str]]) -> list[str]:
    """Every scoped token of a workflow: each signal type paired with each wildcard label's values."""
    signals = label_values(labels["signal_type"])
    tokens = {
        scoped_token(signal, label, value)
        for signal in signals
        for label in WILDCARD_LABELS
        for value in label_values(labels[label])
    }
    return sorted(tokens)


def scoped_tokens_matching(signal_type: str, label: str, value: str) -> list[str]:
    """The scoped tokens a candidate may carry for ``label``: the exact value's, or ``*``'s."""
    return [scoped_token(signal_type, label, value), scoped_token(signal_type, label, WILDCARD)]
