"""Group commit: concurrent single audit events share one transaction.

Each caller's ``write`` returns only after the transaction holding its row has committed, so a
201 always means durably stored, while a burst of N writers costs one commit instead of N. A
group that fails on its data is retried row by row, so one bad row fails only its own caller; an
outage fails the whole group at once (each caller then falls back to the dead letter queue). A caller that is
cancelled before its group starts is left out; once its group is committing, the row is stored
(as with any request whose deadline passes after its commit).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from app.audit.partitions import PartitionKeeper
from app.audit.repository import audit_events
from app.outages import is_outage

Pending = tuple[dict[str, Any], asyncio.Future[None]]


class GroupCommitter:
    def __init__(
        self,
        engine: AsyncEngine,
        partitions: PartitionKeeper,
        *,
        commit_timeout: float,
        max_group: int = 256,
        max_wait: float = 0.002,
    ) -> None:
        self.engine = engine
        self.commit_timeout = commit_timeout  # a stuck group must not hold up the groups behind it
        self.partitions = partitions
        self.max_group = max_group
        self.max_wait = max_wait
        self.group_sizes: list[int] = []  # recent committed group sizes, newest last (bounded)
        self._queue: list[Pending] = []
        self._wakeup = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None

    async def write(self, row: dict[str, Any]) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((row, future))
        if self._worker is None:
            self._worker = asyncio.create_task(self._run(), name="audit-group-commit")
        self._wakeup.set()
        await future

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            if len(self._queue) < self.max_group:
                await asyncio.sleep(self.max_wait)  # let the rest of a burst join
            while self._queue:
                group = [(row, future) for row, future in self._queue[: self.max_group] if not future.done()]
                del self._queue[: self.max_group]
                if group:
                    await self._commit(group)

    async def _commit(self, group: Sequence[Pending]) -> None:
        try:
            async with asyncio.timeout(self.commit_timeout):
                await self.partitions.ensure(row["event_date"] for row, _ in group)
                async with self.engine.begin() as transaction:
                    await transaction.execute(insert(audit_events), [row for row, _ in group])
        except Exception as error:  # noqa: BLE001 - whatever failed, each caller learns its own outcome
            if len(group) == 1 or is_outage(error):  # an outage fails every row alike
                _settle(group, error)
                return
            for pending in group:  # isolate the failure: each row alone
                await self._commit([pending])
            return
        self.group_sizes = [*self.group_sizes[-999:], len(group)]
        _settle(group, None)

    async def close(self) -> None:
        """Commit what is queued, then stop."""
        waiting = [pending for pending in self._queue if not pending[1].done()]
        self._queue.clear()
        if waiting:
            await self._commit(waiting)
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)


def _settle(group: Sequence[Pending], error: Exception | None) -> None:
    for _, future in group:
        if not future.done():
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)
