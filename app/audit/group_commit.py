"""Group commit: concurrent single audit events share one transaction.

Each caller's ``write`` returns only after the transaction holding its row has committed, so a
201 always means durably stored, while a burst of N writers costs one commit instead of N. A
group that fails on its data is retried row by row, so one bad row fails only its own caller; an
outage fails the whole group at once (each caller then falls back to the dead letter queue).

Groups never mix months: each monthly partition has a lane of its own (its queue and its
committer), so a partition that is locked or failing delays or queues only its own events.

The commit point is the moment the group's COMMIT is sent. A caller cancelled (its deadline,
its step budget, its client gone) before it is left out: a group not yet started skips it, and a
group that already inserted its row rolls back and inserts the rest again (deleting the row
instead would break the hash chain of the rows linked after it). A caller cancelled after
it waits for the COMMIT (``app.lib.deadlines.past_commit_point``), so its answer says what was
stored. Between the last check for callers gone and the COMMIT there is no await, so no caller
can leave unseen.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from app.audit.chain import ChainAppender
from app.audit.partitions import PartitionKeeper
from app.lib.database_errors import is_outage
from app.lib.deadlines import past_commit_point


@dataclass(slots=True, eq=False)
class Pending:
    row: dict[str, Any]
    future: asyncio.Future[None]
    committing: bool = False  # past the commit point: the caller waits for the outcome


@dataclass(slots=True, eq=False)
class _Lane:
    """One month's queue and its committer task."""

    queue: list[Pending] = field(default_factory=list)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    worker: asyncio.Task[None] | None = None


class GroupCommitter:
    def __init__(
        self,
        engine: AsyncEngine,
        partitions: PartitionKeeper,
        *,
        commit_timeout: float,
        max_group: int = 256,
        max_wait: float = 0.002,
        chain: ChainAppender | None = None,
    ) -> None:
        self.engine = engine
        self.chain = chain or ChainAppender()
        self.commit_timeout = commit_timeout  # a stuck group must not hold up the groups behind it
        self.partitions = partitions
        self.max_group = max_group
        self.max_wait = max_wait
        self.group_sizes: list[int] = []  # recent committed group sizes, newest last (bounded)
        self._lanes: dict[tuple[int, int], _Lane] = {}

    async def write(self, row: dict[str, Any]) -> None:
        pending = Pending(row, asyncio.get_running_loop().create_future())
        lane = self._lane(row["event_date"])
        lane.queue.append(pending)
        lane.wakeup.set()
        try:
            await asyncio.shield(pending.future)
        except asyncio.CancelledError:
            if not pending.committing:
                pending.future.cancel()  # left out of its group: nothing is stored
                raise
            await past_commit_point(pending.future)

    def _lane(self, day: date) -> _Lane:
        key = (day.year, day.month)
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane()
            lane.worker = asyncio.create_task(self._run(lane), name=f"audit-group-commit-{day:%Y-%m}")
        return lane

    async def _run(self, lane: _Lane) -> None:
        while True:
            await lane.wakeup.wait()
            lane.wakeup.clear()
            if len(lane.queue) < self.max_group:
                await asyncio.sleep(self.max_wait)  # let the rest of a burst join
            while lane.queue:
                group = [pending for pending in lane.queue[: self.max_group] if not pending.future.done()]
                del lane.queue[: self.max_group]
                if group:
                    await self._commit(group)

    async def _commit(self, group: Sequence[Pending]) -> None:
        try:
            async with asyncio.timeout(self.commit_timeout):
                await self.partitions.ensure(pending.row["event_date"] for pending in group)
                async with self.engine.connect() as connection:
                    await connection.begin()
                    while True:
                        staying = [pending for pending in group if not pending.future.done()]
                        await self.chain.append(connection, [pending.row for pending in staying])
                        if all(not pending.future.done() for pending in staying):
                            break  # no await from this check to the COMMIT: nobody leaves unseen
                        await connection.rollback()  # somebody left after the INSERT: without them
                        await connection.begin()
                    for pending in staying:
                        pending.committing = True
                    await connection.commit()
        except Exception as error:  # noqa: BLE001 - whatever failed, each caller learns its own outcome
            if len(group) == 1 or is_outage(error):  # an outage fails every row alike
                _settle(group, error)
                return
            for pending in group:  # isolate the failure: each row alone, its caller still free to leave
                if not pending.future.done():
                    pending.committing = False
                    await self._commit([pending])
            return
        self.group_sizes = [*self.group_sizes[-999:], len(group)]
        _settle(group, None)

    async def close(self) -> None:
        """Commit what is queued, then stop."""
        lanes = list(self._lanes.values())
        self._lanes.clear()
        for lane in lanes:
            waiting = [pending for pending in lane.queue if not pending.future.done()]
            lane.queue.clear()
            if waiting:
                await self._commit(waiting)
        workers = [lane.worker for lane in lanes if lane.worker is not None]
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)


def _settle(group: Sequence[Pending], error: Exception | None) -> None:
    for pending in group:
        if not pending.future.done():
            if error is None:
                pending.future.set_result(None)
            else:
                pending.future.set_exception(error)
