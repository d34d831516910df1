"""ADR-034 audit events through HTTP: write, batch, query, validation, partitions."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import uuid4

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import text

from app.audit.partitions import PartitionKeeper, months_around
from app.http.runtime import runtime_of
from tests.factories import audit_event_body as event
from tests.faults import trigger_fault

EVENTS = "/api/v1/audit/events"
BATCH = "/api/v1/audit/events/batch"
ADR_034_TYPES = [
    "gateway.signal.received", "gateway.signal.deduplicated", "gateway.storm.detected", "gateway.crd.created",
    "gateway.signal.rejected", "gateway.error.occurred", "signalprocessing.enrichment.started",
    "signalprocessing.enrichment.completed", "signalprocessing.categorization.completed",
    "signalprocessing.error.occurred", "analysis.investigation.started", "analysis.investigation.completed",
    "analysis.recommendation.generated", "analysis.approval.required", "analysis.error.occurred",
    "workflow.catalog.search_completed", "remediationorchestrator.request.created",
    "remediationorchestrator.phase.transitioned", "remediationorchestrator.approval.requested",
    "remediationorchestrator.child.created", "remediationorchestrator.error.occurred",
    "effectivenessmonitor.evaluation.started", "effectivenessmonitor.evaluation.completed",
    "effectivenessmonitor.playbook.updated", "notification.sent", "notification.failed", "notification.escalated",
]  # fmt: skip
CATEGORY = {
    "gateway": "gateway", "signalprocessing": "signalprocessing", "analysis": "analysis", "workflow": "workflow",
    "remediationorchestrator": "orchestration", "effectivenessmonitor": "effectiveness",
    "notification": "notification",
}  # fmt: skip


async def stored_count(app: Litestar) -> int:
    async with runtime_of(app).engine.connect() as connection:
        return int(await connection.scalar(text("SELECT count(*) FROM audit_events")) or 0)


def field_errors(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/validation-error")
    return dict(response.json()["field_errors"])


@pytest.mark.parametrize("event_type", ADR_034_TYPES)
async def test_every_adr_034_event_type_is_stored_queried_and_found_by_detail(
    client: httpx.AsyncClient, event_type: str
) -> None:
    service = event_type.split(".", maxsplit=1)[0]
    marker = f"m-{uuid4().hex[:8]}"
    action = event_type.rsplit(".", maxsplit=1)[-1]
    data = {"marker": marker, "service": service, "count": 3}
    sent = event(event_type=event_type, event_category=CATEGORY[service], event_action=action, event_data=data)

    created = await client.post(EVENTS, json=sent)
    assert created.status_code == 201, created.text
    event_id = created.json()["event_id"]
    assert created.json()["message"]
    assert created.json()["status"] == "created"

    by_type = (await client.get(EVENTS, params={"event_type": event_type})).json()
    assert [e["event_id"] for e in by_type["data"]] == [event_id]
    stored = by_type["data"][0]
    assert {k: stored[k] for k in sent if k != "event_timestamp"} == {
        k: v for k, v in sent.items() if k != "event_timestamp"
    }
    assert datetime.fromisoformat(stored["event_timestamp"]) == datetime.fromisoformat(sent["event_timestamp"])
    assert stored["event_date"] == datetime.fromisoformat(sent["event_timestamp"]).date().isoformat()

    by_detail = (await client.get(EVENTS, params={"detail_key": "marker", "detail_value": marker})).json()
    assert [e["event_id"] for e in by_detail["data"]] == [event_id]
    by_number = (await client.get(EVENTS, params={"detail_key": "count", "detail_value": "3"})).json()
    assert event_id in [e["event_id"] for e in by_number["data"]]


MALFORMED = [
    pytest.param({"event_type": None}, ["event_type"], id="null-event-type"),
    pytest.param({"correlation_id": ""}, ["correlation_id"], id="empty-correlation-id"),
    pytest.param({"event_outcome": "maybe"}, ["event_outcome"], id="bad-outcome"),
    pytest.param({"event_category": "kitchen"}, ["event_category"], id="bad-category"),
    pytest.param({"event_timestamp": "yesterday"}, ["event_timestamp"], id="timestamp-not-a-date"),
    pytest.param({"event_timestamp": "2026-11-22T10:00:00"}, ["event_timestamp"], id="timestamp-without-zone"),
    pytest.param({"event_data": ["not", "an", "object"]}, ["event_data"], id="event-data-array"),
    pytest.param({"event_data": "text"}, ["event_data"], id="event-data-string"),
    pytest.param({"duration_ms": "12"}, ["duration_ms"], id="duration-as-text"),
    pytest.param({"parent_event_id": "not-a-uuid"}, ["parent_event_id"], id="parent-not-a-uuid"),
    pytest.param(
        {"event_type": "", "event_outcome": "maybe", "correlation_id": None, "event_data": 3},
        ["event_type", "event_outcome", "correlation_id", "event_data"],
        id="several-at-once",
    ),
]


@pytest.mark.parametrize(("changes", "fields"), MALFORMED)
async def test_a_malformed_event_is_refused_naming_its_fields_and_nothing_is_stored(
    client: httpx.AsyncClient, app: Litestar, changes: dict[str, Any], fields: list[str]
) -> None:
    errors = field_errors(await client.post(EVENTS, json=event(**changes)))
    assert set(fields) <= set(errors), errors
    assert await stored_count(app) == 0


@pytest.mark.parametrize("missing", ["event_type", "correlation_id", "event_timestamp", "event_data", "version"])
async def test_a_missing_required_field_is_named(client: httpx.AsyncClient, app: Litestar, missing: str) -> None:
    body = event()
    del body[missing]
    assert missing in field_errors(await client.post(EVENTS, json=body))
    assert await stored_count(app) == 0


@pytest.mark.parametrize(
    ("when", "message"),
    [(timedelta(minutes=10), "future"), (-timedelta(days=8), "past")],
)
async def test_timestamps_outside_the_accepted_window_are_refused(
    client: httpx.AsyncClient, when: timedelta, message: str
) -> None:
    at = (datetime.now(UTC) + when).isoformat()
    errors = field_errors(await client.post(EVENTS, json=event(event_timestamp=at)))
    assert message in errors["event_timestamp"]


async def test_event_data_is_bounded_in_size_and_depth(client: httpx.AsyncClient) -> None:
    too_big = {"blob": "x" * (256 * 1024)}
    assert "event_data" in field_errors(await client.post(EVENTS, json=event(event_data=too_big)))
    deep: dict[str, Any] = {}
    for _ in range(11):
        deep = {"d": deep}
    assert "event_data" in field_errors(await client.post(EVENTS, json=event(event_data=deep)))
    ten_deep: dict[str, Any] = {}
    for _ in range(9):
        ten_deep = {"d": ten_deep}
    assert (await client.post(EVENTS, json=event(event_data=ten_deep))).status_code == 201


async def test_a_parent_must_name_a_stored_event(client: httpx.AsyncClient, app: Litestar) -> None:
    assert "parent_event_id" in field_errors(await client.post(EVENTS, json=event(parent_event_id=str(uuid4()))))
    assert await stored_count(app) == 0
    parent = (await client.post(EVENTS, json=event())).json()["event_id"]
    child = await client.post(EVENTS, json=event(parent_event_id=parent))
    assert child.status_code == 201


async def test_a_batch_is_stored_whole_in_order(client: httpx.AsyncClient, app: Litestar) -> None:
    batch = [event(correlation_id=f"batch-{i}", event_data={"i": i}) for i in range(500)]
    response = await client.post(BATCH, json=batch)
    assert response.status_code == 201, response.text
    ids = response.json()["event_ids"]
    assert response.json()["status"] == "created"
    assert len(set(ids)) == 500
    assert await stored_count(app) == 500
    first = (await client.get(EVENTS, params={"correlation_id": "batch-0"})).json()["data"][0]
    assert (first["event_id"], first["event_data"]) == (ids[0], {"i": 0})


@pytest.mark.parametrize(
    ("batch", "fields"),
    [
        pytest.param([event(), event(event_type=""), event()], ["[1].event_type"], id="one-bad-item"),
        pytest.param(
            [event(event_outcome="maybe"), event(), event(correlation_id=None)],
            ["[0].event_outcome", "[2].correlation_id"],
            id="two-bad-items",
        ),
        pytest.param(
            [event(), event(event_timestamp=(datetime.now(UTC) + timedelta(hours=1)).isoformat())],
            ["[1].event_timestamp"],
            id="item-in-the-future",
        ),
        pytest.param([event(), "not an object"], ["[1]"], id="item-not-an-object"),
        pytest.param([], ["body"], id="empty"),
        pytest.param([event()] * 501, ["body"], id="over-500"),
    ],
)
async def test_a_batch_with_any_bad_item_is_refused_whole(
    client: httpx.AsyncClient, app: Litestar, batch: list[Any], fields: list[str]
) -> None:
    errors = field_errors(await client.post(BATCH, json=batch))
    assert set(fields) <= set(errors), errors
    assert await stored_count(app) == 0


async def test_a_batch_body_that_is_not_an_array_is_invalid(client: httpx.AsyncClient) -> None:
    response = await client.post(BATCH, json=event())
    assert response.status_code == 400
    assert response.json()["type"].endswith(("/invalid-request", "/validation-error"))


async def test_concurrent_single_writes_are_all_stored_exactly_once(client: httpx.AsyncClient, app: Litestar) -> None:
    responses = await asyncio.gather(
        *(client.post(EVENTS, json=event(correlation_id=f"c-{i}", event_data={"i": i})) for i in range(150))
    )
    assert [r.status_code for r in responses] == [201] * 150
    ids = {r.json()["event_id"] for r in responses}
    assert len(ids) == 150
    async with runtime_of(app).engine.connect() as connection:
        rows = await connection.execute(text("SELECT event_id, count(*) FROM audit_events GROUP BY event_id"))
        counts = {str(event_id): n for event_id, n in rows}
    assert counts == dict.fromkeys(ids, 1)
    # and they shared transactions: group commit, one commit for many writers
    group_commit = runtime_of(app).audit_writer.group_commit
    assert group_commit is not None
    assert max(group_commit.group_sizes[-150:]) > 1


async def test_one_row_the_database_refuses_fails_only_its_own_writer(client: httpx.AsyncClient, app: Litestar) -> None:
    body = "IF NEW.event_data ->> 'poison' = 'yes' THEN RAISE EXCEPTION 'poisoned'; END IF; RETURN NEW;"
    async with trigger_fault(runtime_of(app).engine, "refuse_poison", table="audit_events", event="INSERT", body=body):
        bodies = [event(event_data={"i": i, "poison": "yes" if i == 7 else "no"}) for i in range(20)]
        responses = await asyncio.gather(*(client.post(EVENTS, json=body) for body in bodies))
    statuses = [r.status_code for r in responses]
    assert statuses[7] == 500
    assert statuses[:7] + statuses[8:] == [201] * 19
    assert await stored_count(app) == 19


async def test_query_filters_window_order_and_pagination(client: httpx.AsyncClient) -> None:
    now = datetime.now(UTC)
    for minutes, outcome in ((1, "success"), (30, "failure"), (120, "success"), (60 * 30, "pending")):
        at = (now - timedelta(minutes=minutes)).isoformat()
        assert (await client.post(EVENTS, json=event(event_timestamp=at, event_outcome=outcome))).status_code == 201

    everything = (await client.get(EVENTS)).json()
    stamps = [e["event_timestamp"] for e in everything["data"]]
    assert stamps == sorted(stamps, reverse=True)
    assert everything["pagination"] == {"limit": 50, "offset": 0, "total": 4, "has_more": False}

    assert (await client.get(EVENTS, params={"since": "15m"})).json()["pagination"]["total"] == 1
    assert (await client.get(EVENTS, params={"since": "3h"})).json()["pagination"]["total"] == 3
    assert (await client.get(EVENTS, params={"since": "2d"})).json()["pagination"]["total"] == 4
    until = (now - timedelta(minutes=10)).isoformat()
    assert (await client.get(EVENTS, params={"until": until})).json()["pagination"]["total"] == 3
    today = now.date()
    stored_today = sum((now - timedelta(minutes=m)).date() == today for m in (1, 30, 120, 60 * 30))
    assert (await client.get(EVENTS, params={"since": today.isoformat()})).json()["pagination"]["total"] == stored_today
    assert (await client.get(EVENTS, params={"event_outcome": "success"})).json()["pagination"]["total"] == 2

    page = (await client.get(EVENTS, params={"limit": 3, "offset": 0})).json()
    assert page["pagination"]["has_more"] is True
    rest = (await client.get(EVENTS, params={"limit": 3, "offset": 3})).json()
    assert rest["pagination"]["has_more"] is False
    assert [e["event_id"] for e in page["data"] + rest["data"]] == [e["event_id"] for e in everything["data"]]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-11-22T10:00:00"}, "until"),
        ({"detail_key": "a-b", "detail_value": "x"}, "detail_key"),
        ({"detail_key": "a"}, "detail_value"),
        ({"limit": 1001}, "limit"),  # limit=0 and offset=-1 fall back to the defaults (test_reference_leniency)
        ({"offset": "first"}, "offset"),
        ({"event_outcome": "maybe"}, "event_outcome"),
    ],
)
async def test_bad_query_parameters_are_400_naming_them(
    client: httpx.AsyncClient, params: dict[str, Any], field: str
) -> None:
    assert field in field_errors(await client.get(EVENTS, params=params))


async def test_partitions_exist_ahead_and_are_made_on_demand_under_concurrency(app: Litestar) -> None:
    async with runtime_of(app).engine.connect() as connection:
        names = set((await connection.execute(text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'audit_events'::regclass"
        ))).scalars())  # fmt: skip
    for month in months_around(datetime.now(UTC).date()):
        assert f"audit_events_y{month:%Y}m{month:%m}" in names

    far = date(2031, 5, 17)
    keepers = [PartitionKeeper(runtime_of(app).engine) for _ in range(5)]  # as if five replicas raced
    await asyncio.gather(*(keeper.ensure([far]) for keeper in keepers))
    async with runtime_of(app).engine.begin() as connection:
        assert await connection.scalar(text("SELECT to_regclass('audit_events_y2031m05') IS NOT NULL"))
        await connection.execute(text("DROP TABLE audit_events_y2031m05"))


async def test_a_query_matching_nothing_is_an_empty_page(client: httpx.AsyncClient) -> None:
    assert (await client.post(EVENTS, json=event())).status_code == 201
    answer = (await client.get(EVENTS, params={"correlation_id": "no-such-correlation"})).json()
    assert answer == {"data": [], "pagination": {"limit": 50, "offset": 0, "total": 0, "has_more": False}}
