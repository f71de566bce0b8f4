"""Definition validation: naive --start/--end bounds read by the same DST rule as a naive @at."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from jetcron.domain.definition import Job, ScheduleDefinition
from jetcron.domain.errors import CommandRejected
from jetcron.domain.fires import next_fire
from jetcron.domain.validation import validate_definition

BOUNDS = [
    pytest.param("2026-06-01T09:00", "Europe/Berlin", "2026-06-01T07:00:00+00:00", id="summer"),
    # 02:00 CET -> 03:00 CEST: 02:30 does not exist; the gap ends at 01:00Z (not 01:30Z)
    pytest.param("2026-03-29T02:30", "Europe/Berlin", "2026-03-29T01:00:00+00:00", id="spring-gap"),
    # 03:00 CEST -> 02:00 CET: 02:30 happens twice; the first pass (CEST), not the second
    pytest.param(
        "2026-10-25T02:30", "Europe/Berlin", "2026-10-25T00:30:00+00:00", id="autumn-overlap"
    ),
    pytest.param(
        "2026-10-04T02:15", "Australia/Lord_Howe", "2026-10-03T15:30:00+00:00", id="lord-howe-30min"
    ),
]


def definition(tz: str, **bounds: datetime) -> ScheduleDefinition:
    """A valid definition in `tz` with the given start/end."""
    return ScheduleDefinition(spec="*/5 * * * *", job=Job(command=["true"]), tz=tz, **bounds)


@pytest.mark.parametrize(("wall", "tz", "expected"), BOUNDS)
def test_naive_start_is_wall_time_in_the_zone(wall: str, tz: str, expected: str) -> None:
    got = validate_definition(definition(tz, start=datetime.fromisoformat(wall))).start
    assert got is not None and got.isoformat() == expected


@pytest.mark.parametrize(("wall", "tz", "expected"), BOUNDS)
def test_naive_end_is_wall_time_in_the_zone(wall: str, tz: str, expected: str) -> None:
    got = validate_definition(definition(tz, end=datetime.fromisoformat(wall))).end
    assert got is not None and got.isoformat() == expected


@pytest.mark.parametrize(("wall", "tz", "expected"), BOUNDS)
def test_a_naive_bound_and_a_naive_at_agree(wall: str, tz: str, expected: str) -> None:
    bound = validate_definition(definition(tz, start=datetime.fromisoformat(wall))).start
    fire = next_fire(f"@at {wall}", tz, datetime(2026, 1, 1, tzinfo=UTC))
    assert bound == fire


def test_a_bound_out_of_range_is_rejected() -> None:
    with pytest.raises(CommandRejected, match=r"end 9999-12-31T23:59:00 is out of range"):
        validate_definition(definition("America/New_York", end=datetime(9999, 12, 31, 23, 59)))


@pytest.mark.parametrize(
    ("secrets", "needle"),
    [
        ({"TOKEN": "hunter2"}, "'hunter2' is not a reference"),
        ({"TOKEN": "kv:a..b"}, "is not a reference"),
        ({"1X": "kv:a"}, "invalid secret variable name '1X'"),
        ({"A": "kv:a"}, "A is both a plain and a secret variable"),
    ],
)
def test_a_secret_is_only_ever_a_reference(secrets: dict[str, str], needle: str) -> None:
    job = Job(command=["true"], env={"A": "1"}, secrets=secrets)
    with pytest.raises(CommandRejected, match=re.escape(needle)):
        validate_definition(ScheduleDefinition(spec="@hourly", job=job))


@pytest.mark.parametrize(
    ("free", "in_lines"),
    [("a\nb", True), ("tab\there", True), ("\x1b[31mred", False), ("bidi \u202e", False),
     ("cr\roverwrites", False)],
)  # fmt: skip
def test_free_text_with_a_control_character_is_refused(free: str, in_lines: bool) -> None:
    """A reason is one line; a description may hold lines and tabs, never other controls."""
    from jetcron.domain.validation import validate_line

    with pytest.raises(CommandRejected, match="the reason holds a control character"):
        validate_line(free, "the reason")
    definition = ScheduleDefinition(spec="@daily", job=Job(command=["true"]), description=free)
    if in_lines:
        assert validate_definition(definition).description == free
    else:
        with pytest.raises(CommandRejected, match="the description holds a control character"):
            validate_definition(definition)


def test_plain_free_text_passes() -> None:
    from jetcron.domain.validation import validate_line

    assert validate_line("ünïcode — fine: 100%", "the reason") == "ünïcode — fine: 100%"
