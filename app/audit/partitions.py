"""Monthly partitions of ``audit_events``: made ahead, and on demand for any month written."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

logger = logging.getLogger(__name__)

MONTHS_AHEAD = 3
UPKEEP_INTERVAL_SECONDS = 6 * 3600
DDL_TIMEOUT_SECONDS = 10.0
# No event accepted now falls in a month that ended longer ago than this (events are at most
# 7 days old): such a month may be dropped by retention (app.audit.retention).
ACCEPTANCE_WINDOW = timedelta(days=8)


def month_start(day: date) -> date:
    return day.replace(day=1)


def month_end(day: date) -> date:
    """The first day of the month after ``day``'s."""
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def months_around(today: date, behind: int = 1, ahead: int = MONTHS_AHEAD) -> list[date]:
    """First days of the months from ``behind`` before to ``ahead`` after ``today``'s month."""
    index = today.year * 12 + today.month - 1
    return [date(i // 12, i % 12 + 1, 1) for i in range(index - behind, index + ahead + 1)]


class PartitionKeeper:
    """Creates partitions in their own short transactions, never inside a caller's, so DDL locks
    on the parent table are held for milliseconds; remembers which months already exist."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._known: set[date] = set()
        self._lock = asyncio.Lock()

    async def ensure(self, days: Iterable[date]) -> None:
        missing = {month_start(day) for day in days} - self._known
        if not missing:
            return
        async with self._lock, asyncio.timeout(DDL_TIMEOUT_SECONDS):
            for month in sorted(missing - self._known):
                async with self.engine.begin() as connection:
                    await connection.execute(text("SELECT ensure_audit_events_partition(:day)"), {"day": month})
                if month_end(month) > datetime.now(UTC).date() - ACCEPTANCE_WINDOW:
                    self._known.add(month)  # an older month may be dropped meanwhile: asked again each time

    async def ensure_ahead(self) -> None:
        await self.ensure(months_around(datetime.now(UTC).date()))

    async def keep_ahead(self) -> None:
        """Background upkeep: the current month and three ahead always exist."""
        while True:
            try:
                await self.ensure_ahead()
            except Exception:  # the next round retries; writes also create what they need
                logger.exception("audit partition upkeep failed")
            await asyncio.sleep(UPKEEP_INTERVAL_SECONDS)
