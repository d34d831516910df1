"""Backfill as operators run it: real processes against the test database."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar
from sqlalchemy import text

from app.http.runtime import runtime_of
from app.workflows.schemas import WorkflowCreate
from app.workflows.service import workflow_row_values
from embeddings.backfill import run_backfill
from embeddings.model import SentenceEncoder
from embeddings.text import text_sha256, workflow_text
from tests.factories import insert_workflow_rows, workflow_body

ZEROS = "repeat('0', 64)"


def _pending_rows(count: int) -> list[dict[str, Any]]:
    rows = []
    for index in range(count):
        data = msgspec.convert(
            workflow_body(workflow_name=f"bulk-{index}", description=f"remediation number {index} for a pod"),
            WorkflowCreate,
        )
        row = workflow_row_values(data, None)
        row["workflow_id"] = uuid.uuid4()
        row["text_hash"] = text_sha256(workflow_text(data.name, data.description, row["labels"]))
        rows.append(row)
    return rows


async def _insert_pending(app: Litestar, count: int) -> None:
    async with runtime_of(app).sessionmaker() as session, session.begin():
        await insert_workflow_rows(session, _pending_rows(count))


async def _embedded_count(app: Litestar) -> int:
    async with runtime_of(app).engine.connect() as connection:
        return int(await connection.scalar(text("SELECT count(*) FROM workflows WHERE embedding IS NOT NULL")) or 0)


def _backfill_process(database_url: str, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKFLOW_SEARCH_")}
    env.update(DATABASE_URL=database_url, PYTHONWARNINGS="ignore")
    return subprocess.Popen(
        [sys.executable, "-m", "app", "backfill", "--json", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _summary(process: subprocess.Popen[str]) -> dict[str, Any]:
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    return dict(json.loads(stdout.strip().splitlines()[-1]))


async def test_two_concurrent_backfills_embed_every_workflow_exactly_once(
    client: httpx.AsyncClient, app: Litestar, database_url: str
) -> None:
    await _insert_pending(app, 2000)

    first = _backfill_process(database_url, "--batch-size", "50")
    second = _backfill_process(database_url, "--batch-size", "50")
    summaries = await asyncio.gather(asyncio.to_thread(_summary, first), asyncio.to_thread(_summary, second))

    # each claim is exclusive (SKIP LOCKED), so the counts add up to the whole catalog, not more
    assert sum(s["embedded"] for s in summaries) == 2000
    assert all(s["embedded"] > 0 for s in summaries), summaries
    assert await _embedded_count(app) == 2000


async def test_a_killed_backfill_resumes_where_it_stopped(
    client: httpx.AsyncClient, app: Litestar, database_url: str
) -> None:
    await _insert_pending(app, 1000)

    interrupted = _backfill_process(database_url, "--batch-size", "20")
    deadline = time.monotonic() + 120
    while await _embedded_count(app) < 100 and time.monotonic() < deadline:  # noqa: ASYNC110 - polls the database
        await asyncio.sleep(0.1)
    interrupted.send_signal(signal.SIGKILL)
    interrupted.communicate(timeout=30)
    done_before = await _embedded_count(app)
    assert 100 <= done_before < 1000, "the kill should land mid-run"

    resumed = await asyncio.to_thread(_summary, _backfill_process(database_url, "--batch-size", "100"))

    assert resumed["embedded"] == 1000 - done_before  # nothing committed is redone
    assert await _embedded_count(app) == 1000


async def _embedded_at(app: Litestar) -> dict[str, Any]:
    async with runtime_of(app).engine.connect() as connection:
        rows = await connection.execute(text("SELECT workflow_name, embedded_at FROM workflows"))
        return {name: at for name, at in rows}  # noqa: C416 - rows are Row objects, not pairs


async def test_stale_embeddings_are_redone_and_fresh_ones_left_alone(
    client: httpx.AsyncClient, app: Litestar, sentence_encoder: SentenceEncoder
) -> None:
    for name in ("untouched", "other-model", "other-text", "old-recipe"):
        assert (await client.post("/api/v1/workflows", json=workflow_body(workflow_name=name))).status_code == 201
    stale = {
        "other-model": "embedding_model = 'old/model'",
        # the stored vector was computed from another text than the workflow's text now
        "other-text": f"embedding_text_hash = {ZEROS}",
        # both hashes from an older text recipe: the backfill recomputes the text hash first
        "old-recipe": f"text_hash = {ZEROS}, embedding_text_hash = {ZEROS}",
    }
    async with runtime_of(app).engine.begin() as connection:
        for name, change in stale.items():
            await connection.execute(text(f"UPDATE workflows SET {change} WHERE workflow_name = :n"), {"n": name})
    before = await _embedded_at(app)

    report = await run_backfill(runtime_of(app).engine, sentence_encoder, batch_size=10)

    assert (report.embedded, report.remaining) == (3, 0)
    after = await _embedded_at(app)
    assert after["untouched"] == before["untouched"]
    assert all(after[name] > before[name] for name in stale)
    listed = (await client.get("/api/v1/workflows")).json()["workflows"]
    assert {w["embedding_status"] for w in listed} == {"ready"}


async def test_limit_stops_early_and_reports_what_is_left(
    client: httpx.AsyncClient, app: Litestar, sentence_encoder: SentenceEncoder
) -> None:
    await _insert_pending(app, 30)

    report = await run_backfill(runtime_of(app).engine, sentence_encoder, batch_size=8, limit=20)

    assert (report.embedded, report.batches, report.remaining) == (20, 3, 10)


@pytest.mark.parametrize("args", [["--model", "someone/else"], ["--batch-size", "0"]])
def test_bad_backfill_arguments_are_refused(database_url: str, args: list[str]) -> None:
    process = _backfill_process(database_url, *args)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "workflow-search:" in stderr
