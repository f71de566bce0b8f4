"""The spec language: parsing, validation, DST-pinned fire times, and a brute-force oracle."""

from __future__ import annotations

import calendar
import importlib.resources
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jetcron.domain.definition import Job, ScheduleDefinition
from jetcron.domain.durations import format_duration, parse_duration
from jetcron.domain.errors import InvalidSpec, InvalidTimezone
from jetcron.domain.fires import (
    fires_between,
    fires_within,
    next_fire,
    next_fire_within,
    next_fires,
    nominal_interval,
    wall_to_utc,
)
from jetcron.domain.spec import Spec, is_interval_like, parse_spec, validate_tz

MINUTE = timedelta(minutes=1)


def at(text: str) -> datetime:
    """An aware UTC datetime from an ISO string ending in Z."""
    return datetime.fromisoformat(text).astimezone(UTC)


def iso(when: datetime) -> str:
    assert when.utcoffset() == timedelta(0), when
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param("61 * * * *", "minute field: 61 is out of range 0-59", id="minute-61"),
        pytest.param("0 25 * * *", "hour field: 25 is out of range 0-23", id="hour-25"),
        pytest.param("0 0 0 * *", "day-of-month field: 0 is out of range 1-31", id="day-0"),
        pytest.param("0 0 1 13 *", "month field: 13 is out of range 1-12", id="month-13"),
        pytest.param("0 0 * * 8", "day-of-week field: 8 is out of range 0-7", id="weekday-8"),
        pytest.param("*/0 * * * *", "minute field: step in '*/0' must be", id="step-0"),
        pytest.param("5-3 * * * *", "minute field: range 5-3 runs backwards", id="range-backwards"),
        pytest.param("1,,2 * * * *", "minute field: empty item", id="empty-item"),
        pytest.param(
            "0 0 * foo *", "month field: 'foo' is not a number 1-12 or a name", id="month-name"
        ),
        pytest.param("0 0 * * fr", "day-of-week field: 'fr' is not a number", id="day-name"),
        pytest.param(
            "0 0 * * * *",
            "expected 5 fields (minute hour day-of-month month day-of-week), got 6",
            id="six-fields",
        ),
        pytest.param("0 0 *", "expected 5 fields", id="three-fields"),
        pytest.param("", "empty spec", id="empty"),
        pytest.param("0 0 31 2 *", "never fires: day-of-month 31 does not occur", id="feb-31"),
        pytest.param("@hourlyy", "unknown macro '@hourlyy' (did you mean '@hourly'?)", id="macro"),
        pytest.param("@daily 5", "@daily takes no arguments", id="macro-args"),
        pytest.param("@every 10x", "invalid duration '10x'", id="bad-duration"),
        pytest.param("@every 90", "missing a unit", id="duration-no-unit"),
        pytest.param("@every", "@every needs a duration", id="every-empty"),
        pytest.param("@every 0s", "duration must be > 0", id="every-zero"),
        pytest.param("@every 500ms", "duration must be at least 1s", id="every-sub-second"),
        pytest.param(
            "@every 1h offset 1h",
            "offset 1h must be less than the interval 1h",
            id="offset-too-big",
        ),
        pytest.param(
            "@at 2026-13-01T00:00",
            "'2026-13-01' does not exist: there is no month 13",
            id="at-month-13",
        ),
        pytest.param("@at tomorrow", "@at needs an ISO-8601 date-time", id="at-garbage"),
        # cron's extensions (domain/cronext.py)
        pytest.param(
            "0 0 * * 5#-1", "'5#-1' is not valid (did you mean '5L', the last Friday", id="#-1"
        ),
        pytest.param("0 0 * * fri#L", "did you mean 'friL', the last Friday", id="#L"),
        pytest.param(
            "0 0 * * 5#6", "'5#6': the week must be 1-5 (5#1 is the first Friday", id="#6"
        ),
        pytest.param("0 0 * * 2#0", "the week must be 1-5", id="#0"),
        pytest.param(
            "0 9 * * 1-3#2",
            "'1-3#2': '#' cannot be combined with a range or step, it takes one weekday "
            "(2#2 is the second Tuesday); list them: 1#2,2#2,3#2",
            id="#-range",
        ),
        pytest.param(
            "0 9 * * mon-wed#2", "'#' cannot be combined with a range", id="#-named-range"
        ),
        pytest.param("0 9 * * */2#1", "'#' cannot be combined with a range or step", id="#-step"),
        pytest.param(
            "0 9 * * 1-3L",
            "'L' cannot be combined with a range or step, it takes one weekday (5L is the last Friday); list them: 1L,2L,3L",
            id="L-range",
        ),
        pytest.param(
            "0 9 1-5W * *",
            "'W' cannot be combined with a range or step, it takes one day (15W: the weekday nearest the 15th); list them: 1W,2W,3W,4W,5W",
            id="W-range",
        ),
        pytest.param("0 0 * * L", "'L' needs a weekday before it, e.g. '5L'", id="bare-L-weekday"),
        pytest.param("0 0 * * 9L", "day-of-week field: '9L' is not valid (out of range)", id="9L"),
        pytest.param("0 0 * * 15W", "'W' belongs in day-of-month", id="W-in-weekday"),
        pytest.param("0 0 2#2 * *", "'#' belongs in day-of-week", id="#-in-day"),
        pytest.param(
            "0 0 32W * *", "day-of-month field: '32W' is not valid (nearest weekday", id="32W"
        ),
        pytest.param(
            "0 0 W * *", "day-of-month field: 'W' is not a number 1-31; also L", id="bare-W"
        ),
        pytest.param(
            "0 0 3L * *", "day-of-month field: '3L' is not a number 1-31; also L", id="3L"
        ),
        pytest.param("0 0 1,? * *", "'?' stands alone (it means '*')", id="?-in-list"),
        pytest.param(
            "0 ? * * *", "hour field: '?' is not a number 0-23; L, W, # and ?", id="?-hour"
        ),
        pytest.param(
            "L 0 * * *", "minute field: 'L' is not a number 0-59; L, W, # and ?", id="L-minute"
        ),
        pytest.param("0 0 * * jul", "'jul' is not a number 0-7 or a name", id="month-in-weekday"),
    ],
)
def test_invalid_spec_names_the_problem(text: str, problem: str) -> None:
    with pytest.raises(InvalidSpec, match=re.escape(problem)) as err:
        parse_spec(text)
    assert err.value.spec == text
    assert problem in err.value.problem


@pytest.mark.parametrize(
    ("text", "field", "expected"),
    [
        pytest.param("*/15 * * * *", "minutes", (0, 15, 30, 45), id="step"),
        pytest.param("10-50/10 * * * *", "minutes", (10, 20, 30, 40, 50), id="range-step"),
        pytest.param("5/20 * * * *", "minutes", (5, 25, 45), id="start-step"),
        pytest.param("0 1,3-5 * * *", "hours", (1, 3, 4, 5), id="list-and-range"),
        pytest.param("0 0 1 JAN,jul *", "months", (1, 7), id="month-names"),
        pytest.param("0 0 * * Mon-FRI", "weekdays", (1, 2, 3, 4, 5), id="day-names"),
        pytest.param("0 0 * * 7", "weekdays", (0,), id="seven-is-sunday"),
        pytest.param("0 0 * * 5-7", "weekdays", (0, 5, 6), id="range-to-seven"),
        pytest.param("@weekly", "weekdays", (0,), id="weekly"),
        pytest.param("@monthly", "days", (1,), id="monthly"),
        pytest.param("@annually", "months", (1,), id="annually"),
    ],
)
def test_fields_are_normalised(text: str, field: str, expected: tuple[int, ...]) -> None:
    assert getattr(parse_spec(text), field) == expected


def test_spec_is_hashable_and_round_trips() -> None:
    for text in [
        "0 9 * * mon-fri",
        "@every 1h offset 15m",
        "@at 2026-03-29T02:30",
        "@at 2026-01-01T00:00Z",
    ]:
        spec = parse_spec(f"  {text} ", "Europe/Berlin")
        assert spec.text == text
        assert hash(spec) == hash(parse_spec(text))
        assert msgspec.json.decode(msgspec.json.encode(spec), type=Spec) == spec


def test_kinds_and_values() -> None:
    every = parse_spec("@every 1h30m offset 15m")
    assert (every.kind, every.every_us, every.offset_us) == ("every", 5400 * 10**6, 900 * 10**6)
    assert parse_spec("@at 2026-06-01T09:00+02:00").at == at("2026-06-01T07:00:00+00:00")
    assert parse_spec("@at 2026-06-01T09:00").at == datetime(2026, 6, 1, 9, 0)
    assert parse_spec("@daily").kind == "cron"
    assert parse_spec("0 0 13 * 5").day_or and not parse_spec("0 0 */13 * 5").day_or


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("*/5 * * * *", True),
        ("0 * * * *", True),
        ("@hourly", True),
        ("*/30 2 * * *", True),
        ("30 2 * * *", False),
        ("0,30 1-3 * * *", False),
        ("@daily", False),
        ("@every 1h", True),
        ("@at 2026-01-01T00:00", False),
    ],
)
def test_is_interval_like(text: str, expected: bool) -> None:
    assert is_interval_like(parse_spec(text)) is expected


def test_validate_tz() -> None:
    assert validate_tz("Europe/Berlin") == "Europe/Berlin"
    assert validate_tz("europe/BERLIN") == "Europe/Berlin"
    assert validate_tz("utc") == "UTC"


@pytest.mark.parametrize(
    ("name", "hint"), [("Europe/Berln", "Europe/Berlin"), ("America/New_Yrok", "America/New_York")]
)
def test_unknown_tz_has_a_hint(name: str, hint: str) -> None:
    with pytest.raises(InvalidTimezone, match=re.escape(f"did you mean {hint!r}")):
        validate_tz(name)
    with pytest.raises(InvalidTimezone, match="unknown time zone"):
        parse_spec("0 0 * * *", name)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1h 30m", timedelta(hours=1, minutes=30)),
        ("2d", timedelta(days=2)),
        ("500ms", timedelta(milliseconds=500)),
        ("1d2h3m4s5ms6us", timedelta(days=1, hours=2, minutes=3, seconds=4, microseconds=5006)),
    ],
)
def test_duration_round_trip(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected
    assert parse_duration(format_duration(expected)) == expected


@pytest.mark.parametrize("text", ["", "90", "1x", "h", "-5m", "1.5h", "5m!"])
def test_bad_duration(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


def test_format_duration() -> None:
    assert format_duration(timedelta(hours=1, minutes=30)) == "1h30m"
    assert format_duration(timedelta(0)) == "0s"
    assert format_duration(timedelta(days=2, seconds=1)) == "2d1s"


# ---------------------------------------------------------------- pinned fire times

PINNED = [
    # Europe/Berlin 2026: 03-29 02:00 CET -> 03:00 CEST (01:00Z);
    # 10-25 03:00 CEST -> 02:00 CET (01:00Z)
    pytest.param(
        "30 2 * * *",
        "Europe/Berlin",
        "2026-03-28T12:00Z",
        3,
        ["2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z", "2026-03-31T00:30:00Z"],
        id="berlin-spring-gap",
    ),
    # local: 01:30 CET, then 03:00, 03:30, 04:00 CEST; 02:00 and 02:30 do not exist
    pytest.param(
        "*/30 * * * *",
        "Europe/Berlin",
        "2026-03-29T00:00Z",
        4,
        [
            "2026-03-29T00:30:00Z",
            "2026-03-29T01:00:00Z",
            "2026-03-29T01:30:00Z",
            "2026-03-29T02:00:00Z",
        ],
        id="berlin-spring-gap-interval",
    ),
    pytest.param(
        "*/30 2 * * *",
        "Europe/Berlin",
        "2026-03-28T12:00Z",
        3,  # no 02:xx that day
        ["2026-03-30T00:00:00Z", "2026-03-30T00:30:00Z", "2026-03-31T00:00:00Z"],
        id="berlin-spring-gap-interval-hour",
    ),
    pytest.param(
        "30 2 * * *",
        "Europe/Berlin",
        "2026-10-24T12:00Z",
        2,
        ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"],
        id="berlin-autumn-fold-fixed",
    ),
    pytest.param(
        "*/30 2 * * *",
        "Europe/Berlin",
        "2026-10-24T12:00Z",
        5,
        [
            "2026-10-25T00:00:00Z",
            "2026-10-25T00:30:00Z",
            "2026-10-25T01:00:00Z",
            "2026-10-25T01:30:00Z",
            "2026-10-26T01:00:00Z",
        ],
        id="berlin-autumn-fold-interval",
    ),
    pytest.param(
        "30 2 * * *",
        "Europe/Berlin",
        "2026-10-25T00:30Z",
        1,  # after the first pass
        ["2026-10-26T01:30:00Z"],
        id="berlin-autumn-fold-fixed-no-second-pass",
    ),
    # America/New_York 2026: 03-08 02:00 EST -> 03:00 EDT (07:00Z);
    # 11-01 02:00 EDT -> 01:00 EST (06:00Z)
    pytest.param(
        "30 2 * * *",
        "America/New_York",
        "2026-03-07T12:00Z",
        2,
        ["2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"],
        id="new-york-spring",
    ),
    pytest.param(
        "30 1 * * *",
        "America/New_York",
        "2026-10-31T12:00Z",
        2,
        ["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"],
        id="new-york-fall",
    ),
    # local: 01:00 EDT, 01:00 EST, 02:00 EST (interval-like: both passes)
    pytest.param(
        "@hourly",
        "America/New_York",
        "2026-11-01T04:30Z",
        3,
        ["2026-11-01T05:00:00Z", "2026-11-01T06:00:00Z", "2026-11-01T07:00:00Z"],
        id="new-york-fall-hourly",
    ),
    # Australia/Sydney 2026: 10-04 02:00 AEST -> 03:00 AEDT; 04-05 03:00 AEDT -> 02:00 AEST
    pytest.param(
        "30 2 * * *",
        "Australia/Sydney",
        "2026-10-03T00:00Z",
        2,
        ["2026-10-03T16:00:00Z", "2026-10-04T15:30:00Z"],
        id="sydney-spring",
    ),
    pytest.param(
        "30 2 * * *",
        "Australia/Sydney",
        "2026-04-04T00:00Z",
        2,
        ["2026-04-04T15:30:00Z", "2026-04-05T16:30:00Z"],
        id="sydney-autumn",
    ),
    # Australia/Lord_Howe 2026: 10-04 02:00 +10:30 -> 02:30 +11; 04-05 02:00 +11 -> 01:30 +10:30
    pytest.param(
        "15 2 * * *",
        "Australia/Lord_Howe",
        "2026-10-03T00:00Z",
        2,
        ["2026-10-03T15:30:00Z", "2026-10-04T15:15:00Z"],
        id="lord-howe-30min",
    ),
    pytest.param(
        "*/15 2 * * *",
        "Australia/Lord_Howe",
        "2026-10-03T00:00Z",
        3,
        ["2026-10-03T15:30:00Z", "2026-10-03T15:45:00Z", "2026-10-04T15:00:00Z"],
        id="lord-howe-30min-interval",
    ),
    pytest.param(
        "*/15 1 * * *",
        "Australia/Lord_Howe",
        "2026-04-04T12:00Z",
        6,
        [
            "2026-04-04T14:00:00Z",
            "2026-04-04T14:15:00Z",
            "2026-04-04T14:30:00Z",
            "2026-04-04T14:45:00Z",
            "2026-04-04T15:00:00Z",
            "2026-04-04T15:15:00Z",
        ],
        id="lord-howe-30min-fold-interval",
    ),
    pytest.param(
        "45 1 * * *",
        "Australia/Lord_Howe",
        "2026-04-04T12:00Z",
        2,
        ["2026-04-04T14:45:00Z", "2026-04-05T15:15:00Z"],
        id="lord-howe-30min-fold-fixed",
    ),
    # America/Santiago 2026: 09-06 00:00 -04 -> 01:00 -03; 04-05 00:00 -03 -> 04-04 23:00 -04
    pytest.param(
        "0 0 * * *",
        "America/Santiago",
        "2026-09-05T00:00Z",
        3,
        ["2026-09-05T04:00:00Z", "2026-09-06T04:00:00Z", "2026-09-07T03:00:00Z"],
        id="santiago-midnight",
    ),
    pytest.param(
        "30 23 * * *",
        "America/Santiago",
        "2026-04-04T12:00Z",
        2,
        ["2026-04-05T02:30:00Z", "2026-04-06T03:30:00Z"],
        id="santiago-fold-fixed",
    ),
    pytest.param(
        "*/30 23 * * *",
        "America/Santiago",
        "2026-04-04T12:00Z",
        4,
        [
            "2026-04-05T02:00:00Z",
            "2026-04-05T02:30:00Z",
            "2026-04-05T03:00:00Z",
            "2026-04-05T03:30:00Z",
        ],
        id="santiago-fold-interval",
    ),
    pytest.param(
        "30 9 * * *",
        "Asia/Kolkata",
        "2026-03-29T00:00Z",
        2,
        ["2026-03-29T04:00:00Z", "2026-03-30T04:00:00Z"],
        id="kolkata-no-dst",
    ),
    pytest.param(
        "0,15,30,45 2 * * *",
        "Europe/Berlin",
        "2026-03-28T12:00Z",
        3,
        ["2026-03-29T01:00:00Z", "2026-03-30T00:00:00Z", "2026-03-30T00:15:00Z"],
        id="coalesce-in-gap",
    ),
    # 02:00 (in the gap, so at its end) and 03:00 are the same instant: one fire
    pytest.param(
        "0 2,3 * * *",
        "Europe/Berlin",
        "2026-03-28T12:00Z",
        3,
        ["2026-03-29T01:00:00Z", "2026-03-30T00:00:00Z", "2026-03-30T01:00:00Z"],
        id="gap-end-meets-real-fire",
    ),
    # Vixie: both day fields restricted -> either; one starts with '*' -> both must match
    pytest.param(
        "0 12 10 * 1",
        "UTC",
        "2026-03-01T00:00Z",
        4,
        [
            "2026-03-02T12:00:00Z",
            "2026-03-09T12:00:00Z",
            "2026-03-10T12:00:00Z",
            "2026-03-16T12:00:00Z",
        ],
        id="vixie-day-or",
    ),
    pytest.param(
        "0 12 */10 * 1",
        "UTC",
        "2026-03-01T00:00Z",
        3,
        ["2026-05-11T12:00:00Z", "2026-06-01T12:00:00Z", "2026-08-31T12:00:00Z"],
        id="vixie-star-means-and",
    ),
    pytest.param(
        "0 9 * * mon-fri",
        "UTC",
        "2026-03-06T12:00Z",
        2,
        ["2026-03-09T09:00:00Z", "2026-03-10T09:00:00Z"],
        id="weekdays",
    ),
    pytest.param(
        "0 0 29 2 *",
        "UTC",
        "2026-01-01T00:00Z",
        2,
        ["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"],
        id="leap-day",
    ),
    pytest.param(
        "@every 90s",
        "UTC",
        "2026-01-01T00:00:10Z",
        2,
        ["2026-01-01T00:01:30Z", "2026-01-01T00:03:00Z"],
        id="every-90s-epoch-aligned",
    ),
    pytest.param(
        "@every 1h offset 15m",
        "UTC",
        "2026-01-01T00:20Z",
        2,
        ["2026-01-01T01:15:00Z", "2026-01-01T02:15:00Z"],
        id="every-offset",
    ),
    pytest.param(
        "@every 1h",
        "Europe/Berlin",
        "2026-03-29T00:30Z",
        3,
        ["2026-03-29T01:00:00Z", "2026-03-29T02:00:00Z", "2026-03-29T03:00:00Z"],
        id="every-ignores-dst",
    ),
    pytest.param(
        "@at 2026-06-01T09:00",
        "Europe/Berlin",
        "2026-01-01T00:00Z",
        3,
        ["2026-06-01T07:00:00Z"],
        id="at-naive",
    ),
    pytest.param(
        "@at 2026-03-29T02:30",
        "Europe/Berlin",
        "2026-01-01T00:00Z",
        1,
        ["2026-03-29T01:00:00Z"],
        id="at-naive-in-gap",
    ),
    pytest.param(
        "@at 2026-10-25T02:30",
        "Europe/Berlin",
        "2026-01-01T00:00Z",
        1,
        ["2026-10-25T00:30:00Z"],
        id="at-naive-in-fold",
    ),
    pytest.param(
        "@at 2026-06-01T09:00:00Z",
        "Europe/Berlin",
        "2026-01-01T00:00Z",
        1,
        ["2026-06-01T09:00:00Z"],
        id="at-absolute-z",
    ),
    pytest.param(
        "@at 2026-06-01T09:00+05:30",
        "America/New_York",
        "2026-01-01T00:00Z",
        1,
        ["2026-06-01T03:30:00Z"],
        id="at-absolute-offset",
    ),
    # Pacific/Apia skipped 2011-12-30 whole (-10:00 -> +14:00 at 10:00Z): the lost 09:00 fires
    # once at the gap's end, 00:00 on the 31st
    pytest.param(
        "0 9 * * *",
        "Pacific/Apia",
        "2011-12-29T12:00Z",
        3,
        ["2011-12-29T19:00:00Z", "2011-12-30T10:00:00Z", "2011-12-30T19:00:00Z"],
        id="samoa-skipped-day",
    ),
    pytest.param("@at 2026-01-01T00:00Z", "UTC", "2026-06-01T00:00Z", 1, [], id="at-in-the-past"),
    pytest.param(
        "@at 2026-01-01T00:00Z", "UTC", "2026-01-01T00:00Z", 1, [], id="at-strictly-after"
    ),
    pytest.param(
        "0 * * * *", "UTC", "2026-05-14T10:00Z", 1, ["2026-05-14T11:00:00Z"], id="strictly-after"
    ),
    pytest.param(
        "0 * * * *",
        "UTC",
        "2026-05-14T09:59:59.999999Z",
        1,
        ["2026-05-14T10:00:00Z"],
        id="just-before",
    ),
    pytest.param(
        "@every 1h",
        "UTC",
        "2026-05-14T10:00Z",
        1,
        ["2026-05-14T11:00:00Z"],
        id="every-strictly-after",
    ),
]


@pytest.mark.parametrize(("text", "tz", "after", "n", "expected"), PINNED)
def test_pinned_fire_times(text: str, tz: str, after: str, n: int, expected: list[str]) -> None:
    fires = next_fires(text, tz, at(after), n)
    assert [iso(f) for f in fires] == expected
    assert next_fires(parse_spec(text, tz), tz, at(after), n) == fires
    assert next_fire(text, tz, at(after)) == (fires[0] if fires else None)


def test_after_may_be_in_any_zone() -> None:
    after = datetime(2026, 3, 29, 3, 0, tzinfo=ZoneInfo("Europe/Berlin"))  # 01:00Z
    assert [iso(f) for f in next_fires("0 * * * *", "UTC", after, 1)] == ["2026-03-29T02:00:00Z"]


def test_naive_after_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_fire("0 * * * *", "UTC", datetime(2026, 1, 1))


def test_fires_between_is_inclusive_of_until_and_limited() -> None:
    after, until = at("2026-05-14T10:00Z"), at("2026-05-14T13:00Z")
    assert [iso(f) for f in fires_between("0 * * * *", "UTC", after, until)] == [
        "2026-05-14T11:00:00Z",
        "2026-05-14T12:00:00Z",
        "2026-05-14T13:00:00Z",
    ]
    assert len(fires_between("0 * * * *", "UTC", after, until, limit=2)) == 2
    assert fires_between("@at 2026-01-01T00:00Z", "UTC", after, until) == []


# ---------------------------------------------------------------- fires within start, end, run limit


def bounded(spec: str = "0 * * * *", **kw: object) -> ScheduleDefinition:
    """A definition with start/end/max_runs from `kw` (aware UTC ISO strings for the bounds)."""
    bounds = {k: at(v) if k in ("start", "end") else v for k, v in kw.items()}
    return ScheduleDefinition(spec=spec, job=Job(command=["true"]), **bounds)  # type: ignore[arg-type]


WITHIN = [
    pytest.param(bounded(), "2026-05-14T10:00Z", 0, "2026-05-14T11:00:00Z", id="unbounded"),
    pytest.param(
        bounded(start="2026-05-14T12:00Z"),
        "2026-05-14T10:00Z",
        0,
        "2026-05-14T12:00:00Z",
        id="start-is-inclusive",
    ),
    pytest.param(
        bounded(start="2026-05-14T12:30Z"),
        "2026-05-14T10:00Z",
        0,
        "2026-05-14T13:00:00Z",
        id="start-between-fires",
    ),
    pytest.param(
        bounded(start="2026-05-14T08:00Z"),
        "2026-05-14T10:00Z",
        0,
        "2026-05-14T11:00:00Z",
        id="start-passed",
    ),
    pytest.param(
        bounded(end="2026-05-14T11:00Z"),
        "2026-05-14T10:00Z",
        0,
        "2026-05-14T11:00:00Z",
        id="end-is-inclusive",
    ),
    pytest.param(
        bounded(end="2026-05-14T10:59Z"), "2026-05-14T10:00Z", 0, None, id="end-before-next"
    ),
    pytest.param(
        bounded(max_runs=3), "2026-05-14T10:00Z", 2, "2026-05-14T11:00:00Z", id="run-left"
    ),
    pytest.param(bounded(max_runs=3), "2026-05-14T10:00Z", 3, None, id="run-limit-reached"),
    pytest.param(
        bounded("@at 2026-05-14T12:00:00Z", start="2026-05-14T12:00Z"),
        "2026-05-14T10:00Z",
        0,
        "2026-05-14T12:00:00Z",
        id="one-off-on-its-start",
    ),
    pytest.param(
        bounded("@at 2026-05-14T09:00:00Z"), "2026-05-14T10:00Z", 0, None, id="one-off-passed"
    ),
]


@pytest.mark.parametrize(("schedule", "after", "runs", "expected"), WITHIN)
def test_next_fire_within(
    schedule: ScheduleDefinition, after: str, runs: int, expected: str | None
) -> None:
    fire = next_fire_within(schedule, at(after), runs)
    assert (iso(fire) if fire else None) == expected
    assert fires_within(schedule, at(after), runs=runs, limit=1) == ([fire] if fire else [])


def test_next_fire_within_asks_fire_after_for_the_spec() -> None:
    asked: list[datetime] = []

    def fire_after(point: datetime) -> datetime:
        asked.append(point)
        return at("2026-05-14T12:00Z")

    schedule = bounded(start="2026-05-14T12:00Z", end="2026-05-14T12:00Z")
    assert next_fire_within(schedule, at("2026-05-14T10:00Z"), fire_after=fire_after) == at(
        "2026-05-14T12:00Z"
    )
    assert asked == [at("2026-05-14T12:00Z") - timedelta(microseconds=1)]


@pytest.mark.parametrize(
    ("schedule", "until", "runs", "limit", "expected"),
    [
        pytest.param(
            bounded(), "2026-05-14T13:00Z", 0, 10, ["11", "12", "13"], id="until-inclusive"
        ),
        pytest.param(bounded(), None, 0, 2, ["11", "12"], id="limit"),
        pytest.param(bounded(end="2026-05-14T12:30Z"), None, 0, 10, ["11", "12"], id="end"),
        pytest.param(bounded(max_runs=5), None, 3, 10, ["11", "12"], id="run-limit"),
        pytest.param(bounded(max_runs=5), None, 7, 10, [], id="run-limit-passed"),
        pytest.param(
            bounded(start="2026-05-14T12:00Z"), "2026-05-14T13:00Z", 0, 10, ["12", "13"], id="start"
        ),
    ],
)
def test_fires_within(
    schedule: ScheduleDefinition, until: str | None, runs: int, limit: int, expected: list[str]
) -> None:
    after = at("2026-05-14T10:00Z")
    fires = fires_within(
        schedule, after, until=at(until) if until else None, runs=runs, limit=limit
    )
    assert [f"{f.hour:02}" for f in fires] == expected
    # the same fires, one by one, each counting as a run
    point: datetime | None = after
    one_by_one = []
    for done in range(runs, runs + len(fires)):
        assert point is not None
        point = next_fire_within(schedule, point, done)
        one_by_one.append(point)
    assert fires == one_by_one


# ---------------------------------------------------------------- wall time to UTC

WALL_TIMES = [
    pytest.param("2026-06-01T09:00", "Europe/Berlin", "2026-06-01T07:00:00Z", id="summer"),
    # 02:00 CET -> 03:00 CEST: 02:30 does not exist; the gap ends at 01:00Z
    pytest.param("2026-03-29T02:30", "Europe/Berlin", "2026-03-29T01:00:00Z", id="spring-gap"),
    # 03:00 CEST -> 02:00 CET: 02:30 happens twice; the first pass is CEST
    pytest.param("2026-10-25T02:30", "Europe/Berlin", "2026-10-25T00:30:00Z", id="autumn-overlap"),
    pytest.param(
        "2026-10-04T02:15", "Australia/Lord_Howe", "2026-10-03T15:30:00Z", id="lord-howe-30min"
    ),
    pytest.param(
        "2026-09-06T00:30", "America/Santiago", "2026-09-06T04:00:00Z", id="santiago-midnight"
    ),
    pytest.param(
        "2026-06-01T09:00+05:30", "Europe/Berlin", "2026-06-01T03:30:00Z", id="aware-keeps-offset"
    ),
]


@pytest.mark.parametrize(("wall", "tz", "expected"), WALL_TIMES)
def test_wall_to_utc(wall: str, tz: str, expected: str) -> None:
    assert iso(wall_to_utc(datetime.fromisoformat(wall), tz)) == expected


@pytest.mark.parametrize(("wall", "tz", "expected"), WALL_TIMES)
def test_at_fires_at_wall_to_utc(wall: str, tz: str, expected: str) -> None:
    fire = next_fire(f"@at {wall}", tz, at("2026-01-01T00:00Z"))
    assert fire is not None and iso(fire) == expected


def test_wall_to_utc_keeps_microseconds_of_a_time_that_exists() -> None:
    got = wall_to_utc(datetime(2026, 6, 1, 9, 0, 0, 500000), "Europe/Berlin")
    assert got.isoformat() == "2026-06-01T07:00:00.500000+00:00"


def test_wall_to_utc_out_of_range() -> None:
    with pytest.raises(OverflowError):
        wall_to_utc(datetime(1, 1, 1), "Asia/Tokyo")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("*/15 * * * *", timedelta(minutes=15)),
        ("0 9 * * 1-5", timedelta(days=1)),
        ("0 0 1 * *", timedelta(days=28)),
        ("0,1 0 * * *", timedelta(minutes=1)),
        ("@every 90s", timedelta(seconds=90)),
        ("@at 2026-01-01T00:00", None),
    ],
)
def test_nominal_interval(text: str, expected: timedelta | None) -> None:
    assert nominal_interval(parse_spec(text), "Europe/Berlin") == expected


# ---------------------------------------------------------------- property test against an oracle

ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Asia/Kolkata",
    "Europe/London",
    "Pacific/Chatham",
]


@cache
def oracle_zone(name: str) -> ZoneInfo:
    """The zone from the tzdata wheel (pytz's IANA release train) if present, else the system's."""
    try:
        files = importlib.resources.files("tzdata.zoneinfo")
    except ModuleNotFoundError:
        return ZoneInfo(name)
    with files.joinpath(*name.split("/")).open("rb") as data:
        return ZoneInfo.from_file(data, key=name)


@cache
def transitions(zone: str) -> list[datetime]:
    """Hours (UTC) in 2025-2027 at whose end the zone's offset has changed; mid-2026 if none."""
    tz, found = oracle_zone(zone), []
    t = datetime(2025, 1, 1, tzinfo=UTC)
    while t < datetime(2028, 1, 1, tzinfo=UTC):
        if t.astimezone(tz).utcoffset() != (t + timedelta(hours=1)).astimezone(tz).utcoffset():
            found.append(t)
        t += timedelta(hours=1)
    return found or [datetime(2026, 6, 1, tzinfo=UTC)]


Field = tuple[str, frozenset[int]]
DayField = tuple[str, frozenset[int] | Callable[[date], bool]]
"""A day field: its text, and the days it matches (days of the month, weekdays or a rule)."""


def _last_day(d: date) -> bool:
    return d.day == calendar.monthrange(d.year, d.month)[1]


def _nearest_weekday_is(n: int) -> Callable[[date], bool]:
    """`nW`, by its definition: the Mon-Fri day of the month closest to n (or to its end)."""

    def rule(d: date) -> bool:
        length = calendar.monthrange(d.year, d.month)[1]
        target = min(n, length)
        weekdays = [x for x in range(1, length + 1) if date(d.year, d.month, x).weekday() < 5]
        return d.day == min(weekdays, key=lambda x: abs(x - target))

    return rule


def _nth_weekday_is(weekday: int, nth: int) -> Callable[[date], bool]:
    """`w#n` (and `wL` for nth -1), by counting that weekday's days in the month."""

    def rule(d: date) -> bool:
        length = calendar.monthrange(d.year, d.month)[1]
        same = [x for x in range(1, length + 1) if date(d.year, d.month, x).isoweekday() % 7 == w]
        return nth <= len(same) and d.day == same[nth if nth < 0 else nth - 1]

    w = weekday

    return rule


def day_hit(values: frozenset[int] | Callable[[date], bool], d: date, value: int) -> bool:
    return values(d) if callable(values) else value in values


def _range_item(bounds: tuple[int, int, int]) -> Field:
    lo, hi = sorted(bounds[:2])
    step = bounds[2]
    text = f"{lo}-{hi}" + (f"/{step}" if step > 1 else "")
    return text, frozenset(range(lo, hi + 1, step))


def field(lo: int, hi: int, hot: list[int]) -> st.SearchStrategy[Field]:
    value = st.sampled_from(hot) | st.integers(lo, hi)
    single_hot = st.sampled_from(hot).map(lambda v: (str(v), frozenset([v])))
    return st.one_of(
        single_hot,
        single_hot,
        st.just(("*", frozenset(range(lo, hi + 1)))),
        st.integers(2, 30).map(lambda k: (f"*/{k}", frozenset(range(lo, hi + 1, k)))),
        value.map(lambda v: (str(v), frozenset([v]))),
        st.lists(value, min_size=2, max_size=4, unique=True).map(
            lambda vs: (",".join(map(str, vs)), frozenset(vs))
        ),
        st.tuples(value, value, st.sampled_from([1, 1, 2, 5, 15])).map(_range_item),
    )


STAR_DAYS: DayField = ("*", frozenset(range(1, 32)))
STAR_WEEK: DayField = ("*", frozenset(range(7)))
days_field = st.one_of(
    st.just(STAR_DAYS),
    st.just(STAR_DAYS),
    st.just(STAR_DAYS),
    st.integers(1, 31).map(lambda d: (str(d), frozenset([d]))),
    st.just(("*/2", frozenset(range(1, 32, 2)))),
    # cron's extensions (domain/cronext.py), each checked by its own definition above
    st.just(("?", frozenset(range(1, 32)))),
    st.just(("L", _last_day)),
    st.just(("LW", _nearest_weekday_is(31))),
    st.integers(1, 31).map(lambda d: (f"{d}W", _nearest_weekday_is(d))),
)
week_field = st.one_of(
    st.just(STAR_WEEK),
    st.just(STAR_WEEK),
    st.just(STAR_WEEK),
    st.just(("?", frozenset(range(7)))),
    st.tuples(st.integers(0, 6), st.integers(1, 5)).map(
        lambda wn: (f"{wn[0]}#{wn[1]}", _nth_weekday_is(*wn))
    ),
    st.integers(0, 7).map(lambda w: (f"{w}L", _nth_weekday_is(w % 7, -1))),
    st.sampled_from(
        [
            ("mon-fri", frozenset(range(1, 6))),
            ("0,6", frozenset([0, 6])),
            ("sun", frozenset([0])),
            ("7", frozenset([0])),
            ("5-7", frozenset([0, 5, 6])),
            ("*/2", frozenset([0, 2, 4, 6])),
        ]
    ),
)


@cache
def hot_hours(zone: str) -> list[int]:
    """Local hours that a transition skips or repeats, where the DST rules matter."""
    tz, hours = oracle_zone(zone), set()
    for hour in transitions(zone):
        before = hour.astimezone(tz).utcoffset()
        after = (hour + timedelta(hours=1)).astimezone(tz).utcoffset()
        moment = next(
            hour + k * MINUTE
            for k in range(61)
            if (hour + k * MINUTE).astimezone(tz).utcoffset() == after
        )
        assert before is not None and after is not None
        wall, end = sorted([moment + before, moment + after])  # the gap or the fold, as wall times
        while wall < end:
            hours.add(wall.hour)
            wall += MINUTE
    return sorted(hours) or [0, 9, 23]


@st.composite
def cron_case(draw: st.DrawFn) -> tuple[tuple[Field, Field, DayField, DayField], str, datetime]:
    """Fields, zone and start instant, biased towards wall times a transition moves."""
    zone = draw(st.sampled_from(ZONES))
    base = draw(st.sampled_from(transitions(zone)))
    start = base + timedelta(
        minutes=draw(st.integers(-40 * 60, 3 * 60)),
        seconds=draw(st.sampled_from([0, 0, 0, 30, 59])),
    )
    near_doms, near_dows = extensions_near(base.astimezone(oracle_zone(zone)).date())
    fields = (
        draw(field(0, 59, [0, 15, 30, 45, 59])),
        draw(field(0, 23, hot_hours(zone))),
        draw(days_field | st.sampled_from(near_doms)),
        draw(week_field | st.sampled_from(near_dows)),
    )
    return fields, zone, start


def extensions_near(day: date) -> tuple[list[DayField], list[DayField]]:
    """L, W and # items aimed at a transition's day (they match a few days a month)."""
    weekday, week = day.isoweekday() % 7, (day.day - 1) // 7 + 1
    doms: list[DayField] = [("L", _last_day), ("LW", _nearest_weekday_is(31))]
    doms += [
        (f"{n}W", _nearest_weekday_is(n)) for n in (day.day - 1, day.day, day.day + 1) if 0 < n < 32
    ]
    dows: list[DayField] = [(f"{weekday}L", _nth_weekday_is(weekday, -1))]
    dows += [(f"{weekday}#{week}", _nth_weekday_is(weekday, week))]
    dows += [(f"{(weekday + 1) % 7}#{week}", _nth_weekday_is((weekday + 1) % 7, week))]
    return doms, dows


def oracle(
    fields: tuple[Field, Field, DayField, DayField], zone: str, after: datetime, until: datetime
) -> list[str]:
    """Walk UTC minute by minute and apply the DST rules to each local wall time."""
    (mt, minutes), (ht, hours), (dt, days), (wt, weekdays) = fields
    interval_like = mt.startswith("*") or ht.startswith("*")
    day_or = dt[0] not in "*?" and wt[0] not in "*?"

    def matches(wall: datetime) -> bool:
        dom = day_hit(days, wall.date(), wall.day)
        dow = day_hit(weekdays, wall.date(), wall.isoweekday() % 7)
        day_ok = (dom or dow) if day_or else (dom and dow)
        return wall.minute in minutes and wall.hour in hours and day_ok

    tz, seen, fires = oracle_zone(zone), set(), []
    t = after.replace(second=0, microsecond=0) - timedelta(days=1)  # history for "first pass"
    previous: datetime | None = None
    while t <= until:
        wall = t.astimezone(tz).replace(tzinfo=None)
        if interval_like:
            hit = matches(wall)
        else:
            hit = matches(wall) and wall not in seen
            skipped = previous + MINUTE if previous is not None else wall
            while skipped < wall:  # wall times that never exist: fire at the gap end
                hit, skipped = hit or matches(skipped), skipped + MINUTE
            seen.add(wall)
        if hit and t > after:
            fires.append(iso(t))
        previous, t = wall, t + MINUTE
    return fires


@settings(max_examples=150, deadline=None, database=None)
@given(case=cron_case())
def test_cron_matches_minute_by_minute_oracle(
    case: tuple[tuple[Field, Field, DayField, DayField], str, datetime],
) -> None:
    fields, zone, after = case
    until = after + timedelta(days=2)
    text = f"{fields[0][0]} {fields[1][0]} {fields[2][0]} * {fields[3][0]}"
    expected = oracle(fields, zone, after, until)
    assert [iso(f) for f in fires_between(text, zone, after, until)] == expected, text
    assert [iso(f) for f in next_fires(text, zone, after, len(expected))] == expected, text


@settings(max_examples=100, deadline=None, database=None)
@given(
    every=st.integers(1, 3 * 86400),
    offset_fraction=st.floats(0, 0.999),
    after=st.datetimes(datetime(2000, 1, 1), datetime(2040, 1, 1), timezones=st.just(UTC)),
)
def test_every_is_epoch_aligned(every: int, offset_fraction: float, after: datetime) -> None:
    offset = int(every * offset_fraction)
    fires = next_fires(f"@every {every}s offset {offset}s", "Europe/Berlin", after, 3)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert after < fires[0] <= after + timedelta(seconds=every)
    assert all(
        (f - epoch - timedelta(seconds=offset)) % timedelta(seconds=every) == timedelta(0)
        for f in fires
    )
    assert [b - a for a, b in zip(fires, fires[1:], strict=False)] == [timedelta(seconds=every)] * 2


@settings(max_examples=100, deadline=None, database=None)
@given(zone=st.sampled_from(ZONES), data=st.data())
def test_wall_to_utc_is_where_a_fixed_time_cron_fires(zone: str, data: st.DataObject) -> None:
    # why: one DST rule for @at, --start/--end and cron fires; walk wall time across a transition
    base = data.draw(st.sampled_from(transitions(zone))).astimezone(oracle_zone(zone))
    wall = base.replace(tzinfo=None) + timedelta(minutes=data.draw(st.integers(-120, 180)))
    spec = f"{wall.minute} {wall.hour} {wall.day} {wall.month} *"
    instant = wall_to_utc(wall, zone)
    assert next_fire(spec, zone, instant - timedelta(microseconds=1)) == instant, (spec, zone)
