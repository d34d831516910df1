"""A small demo catalog so that a fresh ``make run`` answers searches at once."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from app.lib.settings import Settings
from app.workflows.repository import WorkflowRepository
from app.workflows.schemas import WorkflowCreate
from app.workflows.service import WorkflowService
from embeddings.runtime import EmbeddingRuntime

# (workflow_name, title, description, labels, detected_labels, custom_labels)
_DEMO: tuple[tuple[str, str, str, dict[str, Any], dict[str, Any], dict[str, list[str]]], ...] = (
    (
        "oomkill-increase-memory",
        "Increase memory limit after OOMKill",
        "Raises the container memory limit by 25% and restarts the pod when it was OOMKilled.",
        {
            "signal_type": "OOMKilled",
            "severity": "critical",
            "component": "pod",
            "environment": "production",
            "priority": "P0",
        },
        {"gitOpsManaged": True, "gitOpsTool": "argocd"},
        {"constraint": ["cost-constrained"]},
    ),
    (
        "oomkill-any-env",
        "Restart pod after OOMKill (any environment)",
        "Restarts the OOMKilled pod and records its memory profile; safe in any environment.",
        {"signal_type": "OOMKilled", "severity": "*", "component": "pod", "environment": "*", "priority": "*"},
        {},
        {},
    ),
    (
        "oomkill-statefulset",
        "Scale memory for a StatefulSet after OOMKill",
        "Patches the StatefulSet's memory request and rolls pods one at a time, respecting the PDB.",
        {
            "signal_type": "OOMKilled",
            "severity": ["critical", "high"],
            "component": "statefulset",
            "environment": ["production", "staging"],
            "priority": ["P0", "P1"],
        },
        {"stateful": True, "pdbProtected": True},
        {},
    ),
    (
        "crashloop-rollback",
        "Roll back a crash-looping deployment",
        "Rolls the deployment back to its previous revision when new pods crash in a loop.",
        {
            "signal_type": "CrashLoopBackOff",
            "severity": "high",
            "component": "deployment",
            "environment": "*",
            "priority": "P1",
        },
        {"helmManaged": True},
        {"team": ["payments"]},
    ),
    (
        "crashloop-collect-logs",
        "Collect logs of a crash-looping pod",
        "Captures previous-container logs and events, then restarts the pod once.",
        {"signal_type": "CrashLoopBackOff", "severity": "*", "component": "pod", "environment": "*", "priority": "*"},
        {},
        {},
    ),
    (
        "imagepull-fix-secret",
        "Refresh the image pull secret",
        "Re-creates the registry pull secret from the vault and restarts pods stuck in ImagePullBackOff.",
        {
            "signal_type": "ImagePullBackOff",
            "severity": "medium",
            "component": "pod",
            "environment": "*",
            "priority": "P2",
        },
        {},
        {},
    ),
    (
        "node-notready-drain",
        "Cordon and drain a NotReady node",
        "Cordons the node, drains its pods respecting disruption budgets, and opens a ticket.",
        {
            "signal_type": "NodeNotReady",
            "severity": "critical",
            "component": "node",
            "environment": "production",
            "priority": "P0",
        },
        {"pdbProtected": True},
        {},
    ),
    (
        "disk-pressure-cleanup",
        "Free disk space on a node under pressure",
        "Prunes unused images and old logs on the node reporting DiskPressure.",
        {
            "signal_type": "DiskPressure",
            "severity": ["high", "medium"],
            "component": "node",
            "environment": "*",
            "priority": "*",
        },
        {},
        {},
    ),
    (
        "pvc-expand",
        "Expand a nearly full persistent volume",
        "Grows the PersistentVolumeClaim by 50% when the storage class allows expansion.",
        {
            "signal_type": "PVCNearlyFull",
            "severity": "high",
            "component": "persistentvolumeclaim",
            "environment": "*",
            "priority": "P1",
        },
        {"stateful": True},
        {},
    ),
    (
        "hpa-scale-out",
        "Scale out on high latency",
        "Raises the HorizontalPodAutoscaler's maximum replicas when latency stays above the SLO.",
        {
            "signal_type": "HighLatency",
            "severity": "medium",
            "component": "deployment",
            "environment": "production",
            "priority": "P2",
        },
        {"hpaEnabled": True, "serviceMesh": "istio"},
        {},
    ),
    (
        "cert-renew",
        "Renew an expiring certificate",
        "Triggers cert-manager to renew the certificate and restarts the ingress controller.",
        {
            "signal_type": "CertificateExpiring",
            "severity": "high",
            "component": "*",
            "environment": "*",
            "priority": "P1",
        },
        {},
        {},
    ),
    (
        "netpol-restore",
        "Restore a deleted NetworkPolicy",
        "Re-applies the NetworkPolicy from Git when traffic isolation was lost.",
        {
            "signal_type": "NetworkPolicyMissing",
            "severity": "high",
            "component": "namespace",
            "environment": "*",
            "priority": "P1",
        },
        {"networkIsolated": True, "gitOpsManaged": True, "gitOpsTool": "flux"},
        {},
    ),
)


def demo_workflows() -> list[WorkflowCreate]:
    workflows = []
    for name, title, description, labels, detected, custom in _DEMO:
        content = f"apiVersion: kubernaut.ai/v1alpha1\nkind: Workflow\nmetadata:\n  name: {name}\n"
        workflows.append(
            msgspec.convert(
                {
                    "workflow_name": name,
                    "version": "v1.0.0",
                    "name": title,
                    "description": description,
                    "content": content,
                    "content_hash": hashlib.sha256(content.encode()).hexdigest(),
                    "labels": labels,
                    "detected_labels": detected,
                    "custom_labels": custom,
                    "execution_engine": "tekton",
                    "container_image": f"ghcr.io/kubernaut/workflows/{name}:v1.0.0",
                    "owner": "platform-team",
                },
                WorkflowCreate,
            )
        )
    return workflows


async def seed_demo_catalog(session: AsyncSession, settings: Settings) -> int:
    """Add the demo workflows when the catalog is empty; return how many were added.

    They are stored with embeddings pending: the service embeds them once its model is in.
    """
    repository = WorkflowRepository(session)
    if await repository.count() > 0:
        return 0
    service = WorkflowService(repository, EmbeddingRuntime(settings.embedding_config()))
    workflows = demo_workflows()
    for workflow in workflows:
        await service.create(workflow)
    return len(workflows)
