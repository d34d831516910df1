"""The Kubernetes manifests agree with the service: probe routes, port, settings, shutdown timings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import yaml

from app.factory import create_app
from app.settings import Settings, env_name

MANIFESTS = Path(__file__).parents[2] / "deploy" / "kubernetes"
AUDIT_FLUSH_SECONDS = 10  # the fixed bound of shutdown step 3 (docs/operations.md)


def _load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((MANIFESTS / name).read_text())
    return loaded


def _container() -> dict[str, Any]:
    spec: dict[str, Any] = _load("deployment.yaml")["spec"]["template"]["spec"]
    container: dict[str, Any] = spec["containers"][0]
    return container


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
