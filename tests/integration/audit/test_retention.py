"""Retention on the real PostgreSQL: a month wholly past retention is dropped, the rest deleted in
batches, a held event never goes, and every chain left verifies."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import sqlalchemy.exc
from litestar import Litestar
from sqlalchemy import text

from app.audit.group_commit import GroupCommitter
from app.audit.partitions import PartitionKeeper
from app.audit.retention import Retention
from app.audit.retention_repository import RetentionRepository
from app.audit.schemas import AuditEventRequest
from app.audit.service import stored_row
from app.http.runtime import runtime_of
from tests.commands import SCRIPT, command_env
from tests.factories import audit_event_body

MARCH, APRIL = datetime(2025, 3, 10, 12, tzinfo=UTC), datetime(2025, 4, 10, 12, tzinfo=UTC)
VERIFY = "/api/v1/audit/verify-chain"


def row(at: datetime, correlation_id: str, category: str = "gateway") -> dict[str, Any]:
    body = audit_event_body(event_timestamp=at.isoformat(), correlation_id=correlation_id, event_category=category)
    return stored_row(msgspec.convert(body, AuditEventRequest, strict=False), uuid.uuid4())


async def count(app: Litestar, sql: str, **params: Any) -> int:
    async with runtime_of(app).engine.connect() as connection:
        return int(await connection.scalar(text(sql), params) or 0)


@pytest.fixture
async def trail(client: httpx.AsyncClient, app: Litestar) -> AsyncIterator[dict[str, str]]:
    """Gateway events kept 30 days. ``old``: three March events, then one of now. ``mixed``: an
    April event, then one of a category kept for ever, then another April one. ``held``: two
    April events under legal hold."""
    engine = runtime_of(app).engine
    names = {name: f"rr-{name}-{uuid.uuid4().hex[:6]}" for name in ("old", "mixed", "held")}
    committer = GroupCommitter(engine, PartitionKeeper(engine), commit_timeout=30.0)
    try:
        for write in (
            *(row(MARCH, names["old"]) for _ in range(3)),
            row(datetime.now(UTC), names["old"]),
            row(APRIL, names["mixed"]),
            row(APRIL, names["mixed"], category="workflow"),
            row(APRIL, names["mixed"]),
            *(row(APRIL, names["held"]) for _ in range(2)),
        ):
            await committer.write(write)
    finally:
        await committer.close()
    placed = await client.post("/api/v1/audit/legal-hold", json={"correlation_id": names["held"], "reason": "case"})
    assert placed.status_code == 200
    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM audit_retention_policies"))
        await connection.execute(text("INSERT INTO audit_retention_policies VALUES ('gateway', 30, now())"))
    yield names
    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM audit_retention_policies"))


async def test_retention_drops_whole_months_deletes_the_rest_and_never_a_held_event(
    client: httpx.AsyncClient, app: Litestar, trail: dict[str, str]
) -> None:
    retention = Retention(runtime_of(app).engine, batch_size=1)
    today = datetime.now(UTC).date()
    planned = await retention.run(today, dry_run=True)
    assert (planned.partitions_dropped, planned.events_in_dropped_partitions) == (["audit_events_y2025m03"], 3)
    assert (planned.events_deleted, planned.chains_pruned, planned.policies) == (1, 2, {"gateway": 30})
    assert await count(app, "SELECT count(*) FROM audit_events") == 10  # a dry run removes nothing

    done = await retention.run(today, dry_run=False)
    assert (done.partitions_dropped, done.events_in_dropped_partitions, done.events_deleted) == (
        ["audit_events_y2025m03"], 3, 1,
    )  # fmt: skip
    assert done.events_skipped_held == 0
    assert await count(app, "SELECT count(*) FROM pg_class WHERE relname = 'audit_events_y2025m03'") == 0
    remaining = {
        name: await count(app, "SELECT count(*) FROM audit_events WHERE correlation_id = :c", c=correlation)
        for name, correlation in trail.items()
    }
    # old: its event of now; mixed: the kept-for-ever event stops the prefix; held: all, plus the hold's event
    assert remaining == {"old": 1, "mixed": 2, "held": 3}
    for correlation in trail.values():
        answer = (await client.post(VERIFY, json={"correlation_id": correlation})).json()
        assert (answer["is_valid"], answer["tampered_events"]) == (True, []), answer
    old = (await client.post(VERIFY, json={"correlation_id": trail["old"]})).json()
    assert "oldest 3 events were removed by retention" in old["message"]

    again = await retention.run(today, dry_run=False)
    assert (again.partitions_dropped, again.events_deleted) == ([], 0)
    with pytest.raises(sqlalchemy.exc.IntegrityError, match="under legal hold"):
        async with runtime_of(app).engine.begin() as connection:
            await connection.execute(text("DELETE FROM audit_events WHERE correlation_id = :c"), {"c": trail["held"]})


async def test_a_chain_removed_whole_is_a_valid_empty_chain(client: httpx.AsyncClient, app: Litestar) -> None:
    engine = runtime_of(app).engine
    correlation = f"rr-gone-{uuid.uuid4().hex[:6]}"
    committer = GroupCommitter(engine, PartitionKeeper(engine), commit_timeout=30.0)
    try:
        for _ in range(2):
            await committer.write(row(APRIL, correlation))
    finally:
        await committer.close()
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO audit_retention_policies VALUES ('gateway', 30, now())"))
    try:
        report = await Retention(engine).run(datetime.now(UTC).date(), dry_run=False)
    finally:
        async with engine.begin() as connection:
            await connection.execute(text("DELETE FROM audit_retention_policies"))
    assert report.events_deleted + report.events_in_dropped_partitions == 2
    answer = (await client.post(VERIFY, json={"correlation_id": correlation})).json()
    assert (answer["is_valid"], answer["total_events"]) == (True, 0), answer


def test_the_command_reports_in_json_and_removes_nothing_on_a_dry_run(database_url: str, tmp_path: Path) -> None:
    env = command_env() | {"DATABASE_URL": database_url, "WORKFLOW_SEARCH_DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [*SCRIPT, "retention", "run", "--dry-run", "--json"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["dry_run"] is True
    assert date.fromisoformat(report["today"]) <= datetime.now(UTC).date()
    assert {"partitions_dropped", "events_deleted", "events_skipped_held", "policies"} <= set(report)
    text_run = subprocess.run(
        [*SCRIPT, "retention", "run", "--dry-run"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert text_run.returncode == 0, text_run.stderr
    assert "nothing is removed" in text_run.stdout or "would drop" in text_run.stdout


async def test_a_hold_placed_after_the_plan_still_keeps_its_events(
    client: httpx.AsyncClient, app: Litestar, trail: dict[str, str]
) -> None:
    """The race the plan cannot see: a hold placed between planning and removing. The month's
    drop re-checks under a lock and declines; a batch delete is refused by the trigger, whole."""
    engine = runtime_of(app).engine
    retention = Retention(engine)
    async with engine.connect() as connection:
        planned = await RetentionRepository(connection).removable(datetime.now(UTC).date())
    march = [r for r in planned if r["partition"] == "audit_events_y2025m03"]
    mixed = [r for r in planned if r["correlation_id"] == trail["mixed"]]
    for correlation in (trail["old"], trail["mixed"]):
        placed = await client.post("/api/v1/audit/legal-hold", json={"correlation_id": correlation, "reason": "late"})
        assert placed.status_code == 200
    assert await retention._drop("audit_events_y2025m03", march) is False  # the race, staged by hand
    assert await retention._delete(mixed) == (0, 1)
    assert await count(app, "SELECT count(*) FROM audit_events_y2025m03") == 3
    answer = (await client.post(VERIFY, json={"correlation_id": trail["mixed"]})).json()
    assert (answer["is_valid"], answer["total_events"]) == (True, 4), answer  # nothing marked pruned either


async def test_a_month_retention_may_drop_is_made_again_when_an_event_of_it_arrives(app: Litestar) -> None:
    """The keeper does not remember months older than the acceptance window: retention may
    drop them, and a late replay into one must find it made again."""
    keeper = PartitionKeeper(runtime_of(app).engine)
    for _ in range(2):
        await keeper.ensure([date(2025, 5, 10)])
        assert await count(app, "SELECT count(*) FROM pg_class WHERE relname = 'audit_events_y2025m05'") == 1
        async with runtime_of(app).engine.begin() as connection:
            await connection.execute(text("DROP TABLE audit_events_y2025m05"))
