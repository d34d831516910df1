"""Notification delivery audit through HTTP (reference ``createNotificationAudit``)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import text

from app.http.runtime import runtime_of
from tests.factories import notification_audit_body as notification
from tests.problems import assert_problem, field_errors

NOTIFICATIONS = "/api/v1/audit/notifications"
REQUIRED = ["remediation_id", "notification_id", "recipient", "channel", "message_summary", "status", "sent_at"]
SENT_FIELDS = [*REQUIRED, "delivery_status", "error_message", "escalation_level"]


async def stored_rows(app: Litestar) -> list[dict[str, Any]]:
    async with runtime_of(app).engine.connect() as connection:
        result = await connection.execute(text("SELECT * FROM notification_audit ORDER BY id"))
        return [dict(row) for row in result.mappings()]


def problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    body = assert_problem(response, status, slug)
    assert body["instance"] == NOTIFICATIONS
    return body


def as_sent(value: Any) -> Any:
    """A stored value in the form it was sent (timestamps as instants)."""
    return value.isoformat() if isinstance(value, datetime) else value


def same_instant(left: str, right: str) -> bool:
    return datetime.fromisoformat(left) == datetime.fromisoformat(right)


# ---------------------------------------------------------------- stored


async def test_a_notification_audit_is_stored_as_sent(client: httpx.AsyncClient, app: Litestar) -> None:
    sent = notification(
        channel="slack",
        status="failed",
        sent_at="2025-11-03T14:05:00.250+02:00",
        delivery_status="500 Internal Server Error",
        error_message="Slack API timeout after 30 seconds",
        escalation_level=2,
    )

    response = await client.post(NOTIFICATIONS, json=sent)

    assert response.status_code == 201, response.text
    body = response.json()
    assert isinstance(body["id"], int)
    assert body["created_at"] == body["updated_at"]
    assert same_instant(body["sent_at"], sent["sent_at"])
    assert {k: body[k] for k in SENT_FIELDS if k != "sent_at"} == {k: sent[k] for k in SENT_FIELDS if k != "sent_at"}
    (row,) = await stored_rows(app)
    assert row["id"] == body["id"]
    assert same_instant(as_sent(row["sent_at"]), sent["sent_at"])
    assert {k: row[k] for k in SENT_FIELDS if k != "sent_at"} == {k: sent[k] for k in SENT_FIELDS if k != "sent_at"}
    assert same_instant(as_sent(row["created_at"]), body["created_at"])
    assert same_instant(as_sent(row["updated_at"]), body["updated_at"])


async def test_optional_fields_may_be_left_out_or_null(client: httpx.AsyncClient, app: Litestar) -> None:
    minimal = {k: v for k, v in notification().items() if k in REQUIRED}
    nulls = notification(delivery_status=None, error_message=None)

    first = await client.post(NOTIFICATIONS, json=minimal)
    second = await client.post(NOTIFICATIONS, json=nulls)

    assert (first.status_code, second.status_code) == (201, 201), first.text + second.text
    for body in (first.json(), second.json()):
        assert (body["delivery_status"], body["error_message"], body["escalation_level"]) == (None, None, 0)
    assert [row["escalation_level"] for row in await stored_rows(app)] == [0, 0]


@pytest.mark.parametrize("channel", ["email", "slack", "pagerduty", "webhook"])
@pytest.mark.parametrize("status", ["sent", "failed", "pending"])
async def test_every_channel_and_status_is_accepted(client: httpx.AsyncClient, channel: str, status: str) -> None:
    response = await client.post(NOTIFICATIONS, json=notification(channel=channel, status=status))
    assert response.status_code == 201, response.text
    assert (response.json()["channel"], response.json()["status"]) == (channel, status)


async def test_strings_at_their_maximum_length_are_stored_whole(client: httpx.AsyncClient, app: Litestar) -> None:
    # Lengths count characters, not bytes: 'é' is two bytes in UTF-8.
    longest = {
        "remediation_id": "é" * 255,
        "notification_id": "é" * 255,
        "recipient": "é" * 500,
        "message_summary": "é" * 1000,
        "delivery_status": "é" * 255,
        "error_message": "é" * 1000,
    }
    response = await client.post(NOTIFICATIONS, json=notification(escalation_level=5, **longest))
    assert response.status_code == 201, response.text
    (row,) = await stored_rows(app)
    assert {k: row[k] for k in longest} == longest
    assert row["escalation_level"] == 5


# ---------------------------------------------------------------- refused


@pytest.mark.parametrize("missing", REQUIRED)
async def test_a_missing_required_field_is_named(client: httpx.AsyncClient, app: Litestar, missing: str) -> None:
    body = notification()
    del body[missing]
    errors = field_errors(await client.post(NOTIFICATIONS, json=body))
    assert list(errors) == [missing]
    assert await stored_rows(app) == []


async def test_every_missing_required_field_is_named_at_once(client: httpx.AsyncClient, app: Litestar) -> None:
    errors = field_errors(await client.post(NOTIFICATIONS, json={}))
    assert set(errors) == set(REQUIRED)
    assert await stored_rows(app) == []


MALFORMED = [
    pytest.param({"channel": "sms"}, ["channel"], id="unknown-channel"),
    pytest.param({"channel": "Email"}, ["channel"], id="channel-case"),
    pytest.param({"status": "delivered"}, ["status"], id="unknown-status"),
    pytest.param({"remediation_id": "r" * 256}, ["remediation_id"], id="long-remediation-id"),
    pytest.param({"notification_id": "n" * 256}, ["notification_id"], id="long-notification-id"),
    pytest.param({"recipient": "r" * 501}, ["recipient"], id="long-recipient"),
    pytest.param({"message_summary": "m" * 1001}, ["message_summary"], id="long-message-summary"),
    pytest.param({"delivery_status": "d" * 256}, ["delivery_status"], id="long-delivery-status"),
    pytest.param({"error_message": "e" * 1001}, ["error_message"], id="long-error-message"),
    pytest.param({"notification_id": ""}, ["notification_id"], id="empty-notification-id"),
    pytest.param({"remediation_id": None}, ["remediation_id"], id="null-remediation-id"),
    pytest.param({"channel": None}, ["channel"], id="null-channel"),
    pytest.param({"remediation_id": 123}, ["remediation_id"], id="number-for-string"),
    pytest.param({"recipient": ["ops@example.com"]}, ["recipient"], id="array-for-string"),
    pytest.param({"escalation_level": "1"}, ["escalation_level"], id="string-for-number"),
    pytest.param({"escalation_level": 1.5}, ["escalation_level"], id="fractional-level"),
    pytest.param({"escalation_level": True}, ["escalation_level"], id="boolean-level"),
    pytest.param({"escalation_level": None}, ["escalation_level"], id="null-level"),
    pytest.param({"escalation_level": -1}, ["escalation_level"], id="negative-level"),
    pytest.param({"escalation_level": 6}, ["escalation_level"], id="level-above-5"),
    pytest.param({"sent_at": "yesterday"}, ["sent_at"], id="sent-at-not-a-date"),
    pytest.param({"sent_at": "2025-11-03T12:00:00"}, ["sent_at"], id="sent-at-without-zone"),
    pytest.param({"sent_at": 1762171200}, ["sent_at"], id="sent-at-number"),
    pytest.param({"message_summary": "a\u0000b"}, ["message_summary"], id="nul-character"),
    pytest.param(
        {"channel": "sms", "status": "gone", "recipient": "r" * 501, "escalation_level": "2", "sent_at": None},
        ["channel", "status", "recipient", "escalation_level", "sent_at"],
        id="several-at-once",
    ),
]


@pytest.mark.parametrize(("changes", "fields"), MALFORMED)
async def test_a_malformed_notification_audit_is_refused_naming_its_fields_and_nothing_is_stored(
    client: httpx.AsyncClient, app: Litestar, changes: dict[str, Any], fields: list[str]
) -> None:
    errors = field_errors(await client.post(NOTIFICATIONS, json=notification(**changes)))
    assert set(errors) == set(fields), errors
    assert await stored_rows(app) == []


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"[]", b'"text"', b"42"],
    ids=["not-json", "array", "string", "number"],
)
async def test_a_body_that_is_not_a_json_object_is_invalid(
    client: httpx.AsyncClient, app: Litestar, content: bytes
) -> None:
    response = await client.post(NOTIFICATIONS, content=content, headers={"content-type": "application/json"})
    problem(response, 400, "invalid-request")
    assert await stored_rows(app) == []


# ---------------------------------------------------------------- duplicates


async def test_a_duplicate_notification_id_is_a_conflict_and_the_first_stays(
    client: httpx.AsyncClient, app: Litestar
) -> None:
    first = notification()
    assert (await client.post(NOTIFICATIONS, json=first)).status_code == 201

    again = notification(notification_id=first["notification_id"], recipient="someone-else@example.com")
    body = problem(await client.post(NOTIFICATIONS, json=again), 409, "conflict")

    assert first["notification_id"] in body["detail"]
    rows = await stored_rows(app)
    assert [(row["notification_id"], row["recipient"]) for row in rows] == [
        (first["notification_id"], first["recipient"])
    ]
    other = await client.post(NOTIFICATIONS, json=notification())
    assert other.status_code == 201, other.text
    assert len(await stored_rows(app)) == 2


async def test_concurrent_writes_of_one_notification_id_store_exactly_one(
    client: httpx.AsyncClient, app: Litestar
) -> None:
    notification_id = "notification-raced"
    bodies = [notification(notification_id=notification_id, recipient=f"r{i}@example.com") for i in range(20)]

    responses = await asyncio.gather(*(client.post(NOTIFICATIONS, json=body) for body in bodies))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 19, [r.text for r in responses if r.status_code not in (201, 409)]
    for response in responses:
        if response.status_code == 409:
            problem(response, 409, "conflict")
    (winner,) = [r.json() for r in responses if r.status_code == 201]
    rows = await stored_rows(app)
    assert [(row["id"], row["notification_id"], row["recipient"]) for row in rows] == [
        (winner["id"], notification_id, winner["recipient"])
    ]
