"""``since``/``until`` as clients send them: relative (``15m``, ``24h``, ``7d``), a date, or RFC 3339."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

_RELATIVE = re.compile(r"^(?P<amount>\d{1,6})(?P<unit>[smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class BadInstantError(ValueError):
    pass


def parse_instant(value: str, now: datetime) -> datetime:
    """An absolute instant in UTC; relative values count back from ``now``."""
    text = value.strip()
    if match := _RELATIVE.match(text):
        return now - timedelta(**{_UNITS[match["unit"]]: int(match["amount"])})
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=UTC)
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise BadInstantError(
            f"{value!r} is neither relative (15m, 24h, 7d), a date (2026-11-22) nor RFC 3339"
        ) from None
    if instant.tzinfo is None:
        raise BadInstantError(f"{value!r} has no time zone (add Z or an offset)")
    return instant.astimezone(UTC)


def parse_window(
    since: str | None, until: str | None, now: datetime
) -> tuple[datetime | None, datetime | None, dict[str, str]]:
    """Both bounds, and an error for each bad one (both named at once, not the first alone)."""
    errors: dict[str, str] = {}
    bounds: dict[str, datetime | None] = {}
    for name, value in (("since", since), ("until", until)):
        try:
            bounds[name] = None if value is None else parse_instant(value, now)
        except BadInstantError as error:
            bounds[name], errors[name] = None, str(error)
    return bounds["since"], bounds["until"], errors
