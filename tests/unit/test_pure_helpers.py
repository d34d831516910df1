"""The small pure rules the services lean on, each tested on its own edges."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
import sqlalchemy.exc
from hypothesis import given
from hypothesis import strategies as st

from app.audit.timewindow import BadInstantError, parse_instant, parse_window
from app.dlq.alerts import capacity_level
from app.lib.database_errors import is_outage, is_unique_violation
from app.lib.logs import json_line
from app.lib.metrics import failure_reason, field_label, register_field_names
from app.lib.validation import json_depth_exceeds
from search.labels import scoped_token

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("15m", NOW - timedelta(minutes=15)),
        ("24h", NOW - timedelta(hours=24)),
        ("7d", NOW - timedelta(days=7)),
        ("30s", NOW - timedelta(seconds=30)),
        ("2026-11-22", datetime(2026, 11, 22, tzinfo=UTC)),
        ("2026-11-22T10:00:00+02:00", datetime(2026, 11, 22, 8, tzinfo=UTC)),
        ("2026-11-22T10:00:00Z", datetime(2026, 11, 22, 10, tzinfo=UTC)),
        (" 1h ", NOW - timedelta(hours=1)),
    ],
)
def test_instants_relative_dated_or_rfc3339_come_back_in_utc(text: str, expected: datetime) -> None:
    assert parse_instant(text, NOW) == expected
    assert parse_instant(text, NOW).tzinfo == UTC


@pytest.mark.parametrize("text", ["2026-11-22T10:00:00", "yesterday", "15w", "1234567m", "", "2026-13-01"])
def test_an_instant_without_a_zone_or_a_unit_is_refused_with_a_reason(text: str) -> None:
    with pytest.raises(BadInstantError, match=repr(text) if text else "neither"):
        parse_instant(text, NOW)


def test_a_window_names_both_bad_bounds_at_once() -> None:
    since, until, errors = parse_window("soon", "later", NOW)
    assert (since, until) == (None, None)
    assert set(errors) == {"since", "until"}
    assert parse_window("1h", None, NOW) == (NOW - timedelta(hours=1), None, {})


@pytest.mark.parametrize(
    ("document", "limit", "deeper"),
    [(0, 0, False), ([], 0, True), ([], 1, False), ({"a": {"b": []}}, 2, True), ({"a": {"b": []}}, 3, False)],
)
def test_json_depth_counts_containers_without_recursion(document: object, limit: int, deeper: bool) -> None:
    assert json_depth_exceeds(document, limit) is deeper


def test_json_depth_of_a_hundred_thousand_levels_is_walked_without_recursion() -> None:
    document: object = []
    for _ in range(100_000):
        document = [document]
    assert json_depth_exceeds(document, 64)
    assert not json_depth_exceeds(document, 100_001)


def _postgres_error(sqlstate: str) -> asyncpg.PostgresError:
    error = asyncpg.PostgresError()
    error.sqlstate = sqlstate  # asyncpg sets it per error class
    return error


def _dbapi_error(sqlstate: str) -> sqlalchemy.exc.DBAPIError:
    return sqlalchemy.exc.DBAPIError("statement", {}, _postgres_error(sqlstate))


@pytest.mark.parametrize(
    ("error", "outage"),
    [
        (TimeoutError(), True),
        (ConnectionResetError(), True),
        (sqlalchemy.exc.TimeoutError(), True),
        (_dbapi_error("57P03"), True),  # cannot connect now
        (_dbapi_error("08006"), True),  # connection failure
        (_dbapi_error("53300"), True),  # too many connections
        (_dbapi_error("23505"), False),  # unique violation: not this, not not-now
        (_dbapi_error("22P02"), False),  # bad input
        (ValueError("bad"), False),
    ],
)
def test_only_errors_that_will_pass_are_outages(error: BaseException, outage: bool) -> None:
    assert is_outage(error) is outage


def test_a_duplicate_key_is_told_from_other_broken_constraints() -> None:
    duplicate = sqlalchemy.exc.IntegrityError("statement", {}, _postgres_error("23505"))
    check = sqlalchemy.exc.IntegrityError("statement", {}, _postgres_error("23514"))
    assert is_unique_violation(duplicate)
    assert not is_unique_violation(check)


def test_field_labels_keep_schema_names_and_drop_indexes_and_client_keys() -> None:
    register_field_names(["event_type", "event_data", "filters", "custom_labels"])
    assert field_label("[3].event_type") == "event_type"
    assert field_label('filters.custom_labels["team"]') == "filters.custom_labels"
    assert field_label("event_data.anykey") == "event_data.*"
    assert field_label("whatever-the-client-sent") == "*"
    assert field_label("body") == "body"


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("is required", "missing"),
        ("is larger than 256 KiB", "length"),
        ("is more than 5 minutes in the future", "range"),
        ("Expected `int`, got `str`", "type"),
        ("must be one of a, b", "choice"),
        ("names no stored event", "unknown"),
        ("is not a valid UUID", "invalid"),
    ],
)
def test_failure_reasons_are_a_small_fixed_set(message: str, reason: str) -> None:
    assert failure_reason(message) == reason


@pytest.mark.parametrize(
    ("depth", "level"),
    [
        (0, "ok"),
        (79, "ok"),
        (80, "warning"),
        (89, "warning"),
        (90, "critical"),
        (95, "overflow_imminent"),
        (100, "overflow_imminent"),
    ],
)
def test_capacity_levels_at_80_90_and_95_percent(depth: int, level: str) -> None:
    assert capacity_level(depth, 100) == level


def test_a_json_log_line_is_the_standard_form_and_writes_what_json_cannot_as_its_repr() -> None:
    event = {"event": "request completed", "status": 200, "ms": 1.25, "none": None, "nested": {"ids": [1, 2]}}
    assert json.loads(json_line(event)) == event
    marker = object()
    assert json.loads(json_line({"value": marker})) == {"value": repr(marker)}


@given(st.text(), st.text(), st.text())
def test_a_scoped_token_is_exactly_json_dumps_of_its_parts(signal_type: str, label: str, value: str) -> None:
    # The catalog's stored tokens were written by json.dumps; a search must build the same text.
    assert scoped_token(signal_type, label, value) == json.dumps([signal_type.lower(), label, value.lower()])
