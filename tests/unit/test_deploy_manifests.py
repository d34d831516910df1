"""The Kubernetes manifests are valid Kubernetes objects, and agree with the service: probe routes,
port, settings, shutdown timings."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import msgspec
import pytest
import yaml

from app.factory import create_app
from app.lib.settings import Settings, env_name

MANIFESTS = Path(__file__).parents[2] / "deploy" / "kubernetes"
AUDIT_FLUSH_SECONDS = 10  # the fixed bound of shutdown step 3 (docs/operations.md)
# The Kubernetes API the manifests are checked against, from the schemas kubernetes-validate ships.
KUBERNETES_VERSION = "1.33.0"
EXPECTED_KINDS = {"ConfigMap", "Deployment", "Job", "Secret", "Service"}


def _documents() -> list[tuple[str, dict[str, Any]]]:
    """Every YAML document in deploy/kubernetes/, with the file it came from."""
    return [
        (path.name, document)
        for path in sorted(MANIFESTS.glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
        if document is not None
    ]


def _load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((MANIFESTS / name).read_text())
    return loaded


def _container() -> dict[str, Any]:
    spec: dict[str, Any] = _load("deployment.yaml")["spec"]["template"]["spec"]
    container: dict[str, Any] = spec["containers"][0]
    return container


def test_every_kind_the_service_needs_is_there() -> None:
    assert {document["kind"] for _, document in _documents()} == EXPECTED_KINDS


@pytest.mark.parametrize(("name", "document"), _documents(), ids=[name for name, _ in _documents()])
def test_every_manifest_is_valid_against_the_kubernetes_schemas(name: str, document: dict[str, Any]) -> None:
    # strict: an unknown or misspelt field fails, as `kubectl apply --validate=strict` would refuse it.
    used = kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    assert used == KUBERNETES_VERSION.rsplit(".", 1)[0], f"{name}: checked against {used}'s schemas, not ours"


def test_the_schema_check_refuses_an_unknown_field() -> None:
    deployment = copy.deepcopy(_load("deployment.yaml"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError, match="readinessProbes"):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_the_schema_check_refuses_a_wrong_type() -> None:
    deployment = copy.deepcopy(_load("deployment.yaml"))
    deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = "seventy"
    with pytest.raises(kubernetes_validate.ValidationError, match="seventy"):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_probe_paths_are_routes(tmp_path: Path) -> None:
    routes = {route.path for route in create_app(Settings(data_dir=str(tmp_path))).routes}
    container = _container()
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready" in routes
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live" in routes


def test_ports_match_the_default_serve_port() -> None:
    default = Settings().port
    assert _container()["ports"][0]["containerPort"] == default
    assert _load("service.yaml")["spec"]["ports"][0]["port"] == default
    assert _load("configmap.yaml")["data"]["WORKFLOW_SEARCH_PORT"] == str(default)


def test_every_configmap_name_is_a_setting() -> None:
    names = {env_name(field.name) for field in msgspec.structs.fields(Settings)}
    assert set(_load("configmap.yaml")["data"]) <= names
    assert set(_load("secret.yaml")["stringData"]) <= names


def test_grace_period_covers_pre_stop_and_the_shutdown_steps() -> None:
    data = _load("configmap.yaml")["data"]
    settings = Settings()
    propagation = float(data.get("WORKFLOW_SEARCH_SHUTDOWN_PROPAGATION_SECONDS", settings.shutdown_propagation_seconds))
    grace = float(data.get("WORKFLOW_SEARCH_SHUTDOWN_GRACE_SECONDS", settings.shutdown_grace_seconds))
    drain = float(data.get("WORKFLOW_SEARCH_SHUTDOWN_DRAIN_SECONDS", settings.shutdown_drain_seconds))
    command = _container()["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    pre_stop = float(command[1])
    period = _load("deployment.yaml")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert period >= pre_stop + drain
    assert period >= pre_stop + propagation + grace + AUDIT_FLUSH_SECONDS + drain
