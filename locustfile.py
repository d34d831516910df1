"""Locust load profile: the traffic a kubernaut deployment sends to workflow-search.

Three kinds of clients, all ``FastHttpUser``:

- ``AgentUser`` (most users): an AI agent investigating an incident. It asks for the
  remediation workflow by labels alone or by its own description of the incident plus the labels
  and detected facts (hybrid search), then checks the ``workflow.catalog.search_completed`` event
  the search left in the audit trail (queried by the search's ``remediation_id``).
- ``AuditWriter``: the kubernaut services writing their ADR-034 audit trail: single events and
  whole remediation trails as batches, covering all 27 ADR-034 event types, plus notification
  delivery audits.
- ``CatalogAdmin`` (rare): an operator publishing a workflow in two versions, listing it, and
  disabling it again. Names are unique per run, so the profile can run repeatedly against the
  same database and leaves no active workflow behind.

What it sends (incidents, audit events, workflows) is in benchmarks/load_profile.py; the incidents
are written for the demo catalog (``workflow-search seed --demo``, which ``make run`` loads), so
every search has at least one match. Every response is checked: a non-2xx status or a
body that breaks the API's promises is a failure. Request names (``name=``) group the stats table.

Run it:

    make load                        # starts its own service, 60 s headless, fails on any failure
    make load LOAD_SECONDS=300
    .venv/bin/python -m benchmarks.load_run --with-token      # the service checks tokens
    make soak SOAK_SECONDS=600       # fixed request rate, per-minute RSS and latency record

or against a service you started yourself (``make run``):

    .venv/bin/locust -f locustfile.py --headless -u 12 -r 4 -t 60s --host http://127.0.0.1:8080
    .venv/bin/locust -f locustfile.py            # web UI on http://localhost:8089

With access tokens configured (docs/security.md), set ``WORKFLOW_SEARCH_LOAD_TOKEN`` to a token
with the ``admin`` scope (the profile searches, reads and writes); by default none is sent.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import gevent
from locust import FastHttpUser, between, events, task
from locust.contrib.fasthttp import ResponseContextManager
from locust.env import Environment

# Locust puts this file's directory on sys.path: the repository root, where benchmarks/ is.
from benchmarks.corpus import ADR_034_EVENT_TYPES
from benchmarks.load_profile import (
    INCIDENTS,
    PUBLISHED,
    SEARCH_COMPLETED,
    TRAILS,
    Incident,
    audit_event,
    utc_now,
    workflow_body,
)

DEFAULT_HOST = "http://127.0.0.1:8080"
TOKEN_ENV = "WORKFLOW_SEARCH_LOAD_TOKEN"  # noqa: S105 - the variable's name, not a token
STATS_FILE_ENV = "WORKFLOW_SEARCH_LOAD_STATS_FILE"

SEARCH = "/api/v1/workflows/search"
WORKFLOWS = "/api/v1/workflows"
EVENTS = "/api/v1/audit/events"
EVENTS_BATCH = "/api/v1/audit/events/batch"
NOTIFICATIONS = "/api/v1/audit/notifications"

# Unique per process: CatalogAdmin names and notification ids never collide with earlier runs.
RUN_ID = f"{datetime.now(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(3)}"

# Search self-audits are written in the background (buffered, flushed every 0.2 s), so the agent
# looks for its event after a pause and, under load, polls a little before calling it missing.
SELF_AUDIT_ATTEMPTS = 6
SELF_AUDIT_POLL_SECONDS = 1.0


def auth_headers() -> dict[str, str]:
    token = os.environ.get(TOKEN_ENV, "").strip()
    return {"Authorization": f"Bearer {token}"} if token else {}


@events.quitting.add_listener  # type: ignore[untyped-decorator]  # locust's EventHook.add_listener is unannotated
def save_final_counts(environment: Environment, **_kwargs: Any) -> None:
    """Requests and failures per request group, once every user has stopped, to the file named by
    ``WORKFLOW_SEARCH_LOAD_STATS_FILE`` (for benchmarks/load_run.py: Locust's CSV lags by up to a second)."""
    path = os.environ.get(STATS_FILE_ENV)
    if not path or environment.stats is None:
        return
    counts = [
        {"name": entry.name, "method": entry.method, "requests": entry.num_requests, "failures": entry.num_failures}
        for entry in environment.stats.entries.values()
    ]
    Path(path).write_text(json.dumps(counts, indent=1))


# ---------------------------------------------------------------------------------------------
# Response checks
# ---------------------------------------------------------------------------------------------


class UnexpectedBody(Exception):
    """The status was right but the body breaks the API's promise."""


def checked_json(response: ResponseContextManager, statuses: tuple[int, ...], check: Callable[[Any], None]) -> Any:
    """The response's JSON when its status is one of ``statuses`` and ``check`` accepts it; else
    the response is marked failed (with a reason that says what) and None is returned.

    The ignores: locust leaves ``success``/``failure`` unannotated, and sets ``error`` on a failed
    request's response at run time without declaring it."""
    if response.status_code not in statuses:
        text = (response.text or "")[:300] if response.status_code else str(response.error)  # type: ignore[attr-defined]
        response.failure(f"HTTP {response.status_code}, expected {'/'.join(map(str, statuses))}: {text}")  # type: ignore[no-untyped-call]
        return None
    try:
        body = response.json()
        check(body)
    except (ValueError, KeyError, TypeError, IndexError, UnexpectedBody) as error:
        response.failure(f"unexpected body ({type(error).__name__}: {error}): {(response.text or '')[:300]}")  # type: ignore[no-untyped-call]
        return None
    response.success()  # type: ignore[no-untyped-call]
    return body


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise UnexpectedBody(message)


def is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Users
# ---------------------------------------------------------------------------------------------


class ServiceUser(FastHttpUser):
    """What every client shares: the host, the token, and a reproducible random stream per user."""

    abstract = True
    host = DEFAULT_HOST
    network_timeout = 30.0
    connection_timeout = 10.0
    # Steady-pacing rate for `make soak` (tasks per second per user), near this class's
    # natural rate under its think time: the soak's mix then matches the load profile.
    paced_tasks_per_second: ClassVar[float] = 0.5
    _serial: ClassVar[Iterator[int]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._serial = itertools.count(1)

    def __init__(self, environment: Any) -> None:
        self.default_headers = auth_headers() or None
        super().__init__(environment)
        self.serial = next(type(self)._serial)
        # Seeded by class and serial: user n of a class draws the same incidents on every run.
        self.rng = random.Random(f"{type(self).__name__}-{self.serial}")  # noqa: S311 - test data, not secrets


class AgentUser(ServiceUser):
    """An AI agent asking which workflow fits an incident, then checking the search was audited."""

    weight = 8
    wait_time = between(1.0, 3.0)
    paced_tasks_per_second = 0.5

    @task(2)
    def label_search(self) -> None:
        self.investigate(hybrid=False)

    @task(3)
    def hybrid_search(self) -> None:
        self.investigate(hybrid=True)

    def investigate(self, *, hybrid: bool) -> None:
        incident = self.rng.choice(INCIDENTS)
        remediation_id = f"rr-load-{RUN_ID}-{self.serial}-{uuid.UUID(int=self.rng.getrandbits(128)).hex[:12]}"
        body: dict[str, Any] = {
            "remediation_id": remediation_id,
            "filters": incident.filters(with_detected=hybrid or self.rng.random() < 0.5),
            "top_k": 5,
        }
        mode = "label"
        if hybrid:
            body["query"] = self.rng.choice(incident.descriptions)
            mode = "hybrid"

        def check_results(answer: dict[str, Any]) -> None:
            results = answer["workflows"]
            expect(answer["total_results"] >= 1, f"no workflow for {incident.signal_type}; is the demo catalog seeded?")
            expect(1 <= len(results) <= min(5, answer["total_results"]), f"{len(results)} results")
            expect([r["rank"] for r in results] == list(range(1, len(results) + 1)), "ranks are not 1..n")
            scores = [r["final_score"] for r in results]
            expect(scores == sorted(scores, reverse=True), "results not ordered by final_score")
            expect(all(0 <= s <= 1 for s in scores), "a score outside 0..1")
            expect(
                all(r["signal_type"].lower() == incident.signal_type.lower() for r in results),
                "a result of another signal type",
            )
            if hybrid:
                expect(all("similarity" in r for r in results), "hybrid results without similarity")
                # A workflow published a moment ago may still be pending: counted, not an error.
                expect(isinstance(answer.get("skipped_without_embedding"), int), "no skipped_without_embedding count")

        with self.client.post(SEARCH, json=body, name=f"search: {mode}", catch_response=True) as response:
            answer = checked_json(response, (200,), check_results)
        if answer is None:
            return
        returned = [r["workflow_id"] for r in answer["workflows"]]
        gevent.sleep(self.rng.uniform(0.5, 1.5))  # the agent reads the results before checking the trail
        self.check_self_audit(remediation_id, mode, returned)

    def check_self_audit(self, remediation_id: str, mode: str, returned: list[str]) -> None:
        params = {"event_type": SEARCH_COMPLETED, "correlation_id": remediation_id, "since": "15m"}

        def check_event(page: dict[str, Any]) -> None:
            expect(page["pagination"]["total"] == len(page["data"]), "pagination total differs from data")
            if not page["data"]:
                return  # not flushed yet: polled again below
            expect(len(page["data"]) == 1, f"{len(page['data'])} self-audit events for one search")
            event = page["data"][0]
            expect(event["event_category"] == "workflow", f"category {event['event_category']!r}")
            expect(event["event_data"]["mode"] == mode, f"mode {event['event_data']['mode']!r}, expected {mode!r}")
            recorded = [r["workflow_id"] for r in event["event_data"]["results"]]
            expect(recorded == returned, "the audited results differ from the returned ones")

        for attempt in range(SELF_AUDIT_ATTEMPTS):
            name = "audit: search self-audit" if attempt == 0 else "audit: search self-audit (poll)"
            with self.client.get(EVENTS, params=params, name=name, catch_response=True) as response:
                page = checked_json(response, (200,), check_event)
                if page is None or page["data"]:
                    return
                if attempt == SELF_AUDIT_ATTEMPTS - 1:
                    response.failure(f"no {SEARCH_COMPLETED} event for {remediation_id} after {attempt + 1} polls")
                    return
            gevent.sleep(SELF_AUDIT_POLL_SECONDS)


@dataclass
class Remediation:
    """The remediation an AuditWriter is currently reporting on; its events chain by parent id."""

    correlation_id: str
    incident: Incident
    last_event_id: str | None = None
    events: int = 0


class AuditWriter(ServiceUser):
    """The kubernaut services writing the ADR-034 trail, one event or one trail at a time."""

    weight = 3
    wait_time = between(0.5, 2.0)
    paced_tasks_per_second = 0.8
    EVENTS_PER_REMEDIATION = 9

    def on_start(self) -> None:
        # Each writer starts at a different point of the cycle, so a few writers cover all 27 types fast.
        start = self.serial % len(ADR_034_EVENT_TYPES)
        self.event_types = itertools.cycle(ADR_034_EVENT_TYPES[start:] + ADR_034_EVENT_TYPES[:start])
        self.remediation = self.new_remediation()
        self.notifications = itertools.count(1)
        # One complete trail first: every run, however short, stores all 27 types.
        self.write_trail(ADR_034_EVENT_TYPES)

    def new_remediation(self) -> Remediation:
        correlation_id = f"rr-load-{RUN_ID}-w{self.serial}-{self.rng.getrandbits(32):08x}"
        return Remediation(correlation_id, self.rng.choice(INCIDENTS))

    @task(6)
    def single_event(self) -> None:
        if self.remediation.events >= self.EVENTS_PER_REMEDIATION:
            self.remediation = self.new_remediation()
        remediation = self.remediation
        event_type = next(self.event_types)
        body = audit_event(event_type, remediation.correlation_id, remediation.incident, self.rng)
        if remediation.last_event_id is not None:
            body["parent_event_id"] = remediation.last_event_id

        def check_created(answer: dict[str, Any]) -> None:
            expect(is_uuid(answer["event_id"]), f"event_id {answer['event_id']!r}")
            expect(bool(answer["message"]), "no message")
            datetime.fromisoformat(answer["event_timestamp"])

        with self.client.post(EVENTS, json=body, name="audit: event", catch_response=True) as response:
            answer = checked_json(response, (201, 202), check_created)
        remediation.events += 1
        # Only a stored event can be a parent; a queued one (202) is not in the table yet.
        remediation.last_event_id = answer["event_id"] if answer is not None and response.status_code == 201 else None

    @task(2)
    def remediation_trail(self) -> None:
        self.write_trail(self.rng.choice(TRAILS))

    def write_trail(self, trail: tuple[str, ...]) -> None:
        incident = self.rng.choice(INCIDENTS)
        correlation_id = f"rr-load-{RUN_ID}-b{self.serial}-{self.rng.getrandbits(32):08x}"
        batch = [audit_event(event_type, correlation_id, incident, self.rng) for event_type in trail]

        def check_created(answer: dict[str, Any]) -> None:
            ids = answer["event_ids"]
            expect(len(ids) == len(batch), f"{len(ids)} event ids for {len(batch)} events")
            expect(all(is_uuid(i) for i in ids) and len(set(ids)) == len(ids), "event ids not distinct UUIDs")

        name = "audit: batch (all 27 types)" if len(batch) == len(ADR_034_EVENT_TYPES) else "audit: batch"
        with self.client.post(EVENTS_BATCH, json=batch, name=name, catch_response=True) as response:
            checked_json(response, (201, 202), check_created)

    @task(1)
    def notification(self) -> None:
        incident = self.rng.choice(INCIDENTS)
        notification_id = f"notification-load-{RUN_ID}-{self.serial}-{next(self.notifications)}"
        delivered = self.rng.random() < 0.9
        body = {
            "remediation_id": self.remediation.correlation_id,
            "notification_id": notification_id,
            "recipient": f"oncall-{incident.namespace}@example.com",
            "channel": self.rng.choice(["email", "slack", "pagerduty", "webhook"]),
            "message_summary": f"Incident alert: {incident.resource} {incident.signal_type} in {incident.environment}",
            "status": "sent" if delivered else "failed",
            "sent_at": utc_now().isoformat(),
            "delivery_status": "200 OK" if delivered else "503 Service Unavailable",
            "error_message": None if delivered else "delivery endpoint unavailable",
            "escalation_level": 0 if delivered else 1,
        }

        def check_stored(answer: dict[str, Any]) -> None:
            expect(answer["notification_id"] == notification_id, f"notification_id {answer['notification_id']!r}")

        with self.client.post(NOTIFICATIONS, json=body, name="audit: notification", catch_response=True) as response:
            checked_json(response, (201, 202), check_stored)


class CatalogAdmin(ServiceUser):
    """An operator publishing a workflow in two versions and retiring it again."""

    weight = 1
    wait_time = between(5.0, 15.0)
    paced_tasks_per_second = 0.1

    @task
    def publish_and_retire(self) -> None:
        name = f"load-{RUN_ID}-{self.serial}-{secrets.token_hex(3)}"
        purpose = self.rng.choice(PUBLISHED)
        first = self.create(workflow_body(name, "v1.0.0", purpose), "catalog: create version")
        if first is None:
            return
        latest = self.create(workflow_body(name, "v1.1.0", purpose), "catalog: create next version")
        if latest is None:
            return

        def check_listed(page: dict[str, Any]) -> None:
            expect(page["total"] == 2, f"{page['total']} versions listed for {name}")
            expect({w["workflow_id"] for w in page["workflows"]} == {first, latest}, "other workflows listed")

        with self.client.get(
            WORKFLOWS, params={"workflow_name": name}, name="catalog: list by name", catch_response=True
        ) as response:
            checked_json(response, (200,), check_listed)

        def check_versions(answer: dict[str, Any]) -> None:
            versions = answer["versions"]
            expect([v["version"] for v in versions] == ["v1.1.0", "v1.0.0"], "versions not newest first")
            expect([v["is_latest_version"] for v in versions] == [True, False], "latest version flag wrong")

        with self.client.get(
            f"{WORKFLOWS}/by-name/{name}/versions", name="catalog: versions", catch_response=True
        ) as response:
            checked_json(response, (200,), check_versions)

        def check_page(page: dict[str, Any]) -> None:
            expect(page["limit"] == 20 and len(page["workflows"]) <= 20, "page larger than its limit")
            expect(all(w["status"] == "active" for w in page["workflows"]), "an inactive workflow listed")

        params = {"status": "active", "component": purpose[2]["component"], "limit": 20}
        with self.client.get(WORKFLOWS, params=params, name="catalog: list active", catch_response=True) as response:
            checked_json(response, (200,), check_page)

        reason = "load test: retired after publishing"

        def check_disabled(workflow: dict[str, Any]) -> None:
            expect(workflow["status"] == "disabled", f"status {workflow['status']!r}")
            expect(workflow.get("disabled_reason") == reason, "disabled_reason not recorded")
            expect(workflow.get("disabled_at") is not None, "disabled_at not recorded")

        with self.client.patch(
            f"{WORKFLOWS}/{latest}/disable",
            json={"reason": reason, "updated_by": "ops@example.com"},
            name="catalog: disable",
            catch_response=True,
        ) as response:
            checked_json(response, (200,), check_disabled)

    def create(self, body: dict[str, Any], name: str) -> str | None:
        """The new workflow's id, or None when creating it failed."""

        def check_created(workflow: dict[str, Any]) -> None:
            expect(is_uuid(workflow["workflow_id"]), f"workflow_id {workflow['workflow_id']!r}")
            expect(workflow["workflow_name"] == body["workflow_name"], "another workflow_name")
            expect(workflow["version"] == body["version"] and workflow["is_latest_version"], "not the latest version")
            expect(workflow["status"] == "active", f"status {workflow['status']!r}")
            expect(workflow["embedding_status"] in {"ready", "pending"}, f"embedding {workflow['embedding_status']!r}")

        with self.client.post(WORKFLOWS, json=body, name=name, catch_response=True) as response:
            workflow = checked_json(response, (201,), check_created)
        return None if workflow is None else str(workflow["workflow_id"])
