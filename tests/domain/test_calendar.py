"""Calendars, pure: what covers an instant (DST days, windows across midnight), validation."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest

from jetcron.domain.calendar import (
    CalendarDefinition,
    CalendarPatch,
    calendar_fate,
    covering,
    covers,
    parse_date,
    patched,
    validate_calendar,
)
from jetcron.domain.errors import CommandRejected
from jetcron.errors import InvalidInput

SUNDAY_2AM = CalendarDefinition(tz="Europe/Berlin", windows=["0 2 * * sun for 4h"])
FRIDAY_NIGHT = CalendarDefinition(tz="America/New_York", windows=["0 22 * * fri for 4h"])
XMAS = CalendarDefinition(tz="Europe/Berlin", dates=[date(2026, 12, 25)])
SPRING_DAY = CalendarDefinition(tz="Europe/Berlin", dates=[date(2026, 3, 29)])
HOLIDAYS = CalendarDefinition(ranges=["2026-12-24..2026-12-26"])


def z(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@pytest.mark.parametrize(
    ("cal", "when", "covered"),
    [
        # an ordinary Sunday: 02:00-06:00 CET is 01:00-05:00Z, start in, end out
        pytest.param(SUNDAY_2AM, "2026-03-01T00:59:59Z", False, id="before-window"),
        pytest.param(SUNDAY_2AM, "2026-03-01T01:00:00Z", True, id="window-start-inside"),
        pytest.param(SUNDAY_2AM, "2026-03-01T04:59:59Z", True, id="window-last-second"),
        pytest.param(SUNDAY_2AM, "2026-03-01T05:00:00Z", False, id="window-end-outside"),
        pytest.param(SUNDAY_2AM, "2026-03-02T01:30:00Z", False, id="monday-not-covered"),
        # spring-gap: 02:00 does not exist on 29 March; the window starts when the gap ends
        # (03:00 CEST = 01:00Z) and lasts 4 real hours
        pytest.param(SUNDAY_2AM, "2026-03-29T00:59:00Z", False, id="spring-gap-before"),
        pytest.param(SUNDAY_2AM, "2026-03-29T01:00:00Z", True, id="spring-gap-start"),
        pytest.param(SUNDAY_2AM, "2026-03-29T04:59:00Z", True, id="spring-gap-last-minute"),
        pytest.param(SUNDAY_2AM, "2026-03-29T05:00:00Z", False, id="spring-gap-end"),
        # autumn-overlap: 02:00 happens twice on 25 October; the window starts at the first
        # pass (02:00 CEST = 00:00Z)
        pytest.param(SUNDAY_2AM, "2026-10-25T00:00:00Z", True, id="autumn-overlap-start"),
        pytest.param(SUNDAY_2AM, "2026-10-25T03:59:00Z", True, id="autumn-overlap-last"),
        pytest.param(SUNDAY_2AM, "2026-10-25T04:00:00Z", False, id="autumn-overlap-end"),
        pytest.param(SUNDAY_2AM, "2026-10-24T23:59:00Z", False, id="autumn-overlap-before"),
        # a window across midnight: Friday 22:00 EDT to Saturday 02:00 EDT
        pytest.param(FRIDAY_NIGHT, "2026-07-11T01:59:00Z", False, id="midnight-before"),
        pytest.param(FRIDAY_NIGHT, "2026-07-11T02:00:00Z", True, id="midnight-friday-22"),
        pytest.param(FRIDAY_NIGHT, "2026-07-11T05:30:00Z", True, id="midnight-saturday-0130"),
        pytest.param(FRIDAY_NIGHT, "2026-07-11T06:00:00Z", False, id="midnight-saturday-0200"),
        # dates are whole local days in the calendar's zone
        pytest.param(XMAS, "2026-12-24T22:59:59Z", False, id="date-day-before-local"),
        pytest.param(XMAS, "2026-12-24T23:00:00Z", True, id="date-local-midnight"),
        pytest.param(XMAS, "2026-12-25T22:59:59Z", True, id="date-last-local-second"),
        pytest.param(XMAS, "2026-12-25T23:00:00Z", False, id="date-next-local-day"),
        # the spring-forward day is 23 hours long
        pytest.param(SPRING_DAY, "2026-03-28T23:00:00Z", True, id="dst-day-start"),
        pytest.param(SPRING_DAY, "2026-03-29T21:59:59Z", True, id="dst-day-last-second"),
        pytest.param(SPRING_DAY, "2026-03-29T22:00:00Z", False, id="dst-day-over"),
        # ranges include both ends
        pytest.param(HOLIDAYS, "2026-12-23T23:59:59Z", False, id="range-before"),
        pytest.param(HOLIDAYS, "2026-12-24T00:00:00Z", True, id="range-first-day"),
        pytest.param(HOLIDAYS, "2026-12-26T23:59:59Z", True, id="range-last-day"),
        pytest.param(HOLIDAYS, "2026-12-27T00:00:00Z", False, id="range-after"),
    ],
)
def test_covers(cal: CalendarDefinition, when: str, covered: bool) -> None:
    assert covers(cal, z(when)) is covered


def test_covering_names_the_rule() -> None:
    both = CalendarDefinition(
        windows=["0 2 * * sun for 4h"], dates=[date(2026, 3, 1)], ranges=["2026-03-02..2026-03-03"]
    )
    assert covering(both, z("2026-03-01T03:00:00Z")) == "date 2026-03-01"
    assert covering(both, z("2026-03-03T03:00:00Z")) == "range 2026-03-02..2026-03-03"
    assert covering(both, z("2026-03-08T03:00:00Z")) == "window 0 2 * * sun for 4h"
    assert covering(both, z("2026-03-09T03:00:00Z")) is None


def test_calendar_fate_exclude_and_only_within() -> None:
    cals = {"maint": SUNDAY_2AM, "xmas": XMAS}
    inside = z("2026-03-01T02:00:00Z")
    outside = z("2026-03-01T06:00:00Z")
    assert calendar_fate(["maint"], [], cals, inside) == (
        "excluded by maint (window 0 2 * * sun for 4h)"
    )
    assert calendar_fate(["maint"], [], cals, outside) is None
    assert calendar_fate([], ["maint"], cals, inside) is None
    assert calendar_fate([], ["maint", "xmas"], cals, outside) == (
        "outside maint or xmas (only within)"
    )
    # why: a deleted calendar excludes nothing and contains nothing
    assert calendar_fate(["gone"], [], cals, inside) is None
    assert calendar_fate([], ["gone"], cals, inside) == "outside gone (only within)"


@pytest.mark.parametrize(
    ("cal", "problem"),
    [
        pytest.param(CalendarDefinition(), "needs at least one", id="empty"),
        pytest.param(
            CalendarDefinition(windows=["0 2 * * sun"]),
            "window '0 2 * * sun': write 'CRON for DURATION'",
            id="no-duration",
        ),
        pytest.param(
            CalendarDefinition(windows=["0 2 * * sun for 4x"]),
            "window '0 2 * * sun for 4x': ",
            id="bad-duration",
        ),
        pytest.param(
            CalendarDefinition(windows=["0 2 * * sun for 400d"]),
            "at most 366d",
            id="too-long",
        ),
        pytest.param(
            CalendarDefinition(windows=["0 25 * * * for 1h"]),
            "window '0 25 * * * for 1h': ",
            id="bad-cron",
        ),
        pytest.param(
            CalendarDefinition(windows=["@every 1h for 5m"]),
            "not @every/@at",
            id="every",
        ),
        pytest.param(
            CalendarDefinition(ranges=["2026-12-31..2026-12-24"]),
            "the last day is before the first",
            id="reversed-range",
        ),
        pytest.param(
            CalendarDefinition(ranges=["2026-12-24"]), "write FIRST..LAST", id="one-date-range"
        ),
        pytest.param(
            CalendarDefinition(ranges=["2026-02-27..2026-02-30"]),
            "range '2026-02-27..2026-02-30': '2026-02-30' does not exist: February 2026 has "
            "28 days",
            id="range-to-a-day-that-does-not-exist",
        ),
        pytest.param(
            CalendarDefinition(tz="Mars/Olympus", dates=[date(2026, 1, 1)]),
            "Mars/Olympus",
            id="bad-zone",
        ),
    ],
)
def test_validation_says_what_is_wrong_in_one_line(cal: CalendarDefinition, problem: str) -> None:
    with pytest.raises(CommandRejected, match=re.escape(problem)) as err:
        validate_calendar(cal)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param("2026-02-30", "'2026-02-30' does not exist: February 2026 has 28 days",
                     id="no-30-february"),
        pytest.param("2028-02-30", "'2028-02-30' does not exist: February 2028 has 29 days",
                     id="leap-year"),
        pytest.param("2026-13-01", "'2026-13-01' does not exist: there is no month 13",
                     id="month-13"),
        pytest.param("2026-04-31", "'2026-04-31' does not exist: April 2026 has 30 days",
                     id="april-31"),
        pytest.param("25.12.2026", "'25.12.2026' is not an ISO date (2026-12-25)", id="not-iso"),
        pytest.param("2026-1-5", "'2026-1-5' is not an ISO date (2026-12-25)", id="short"),
    ],
)  # fmt: skip
def test_a_date_that_does_not_exist_is_told_from_one_that_is_no_iso_date(
    text: str, problem: str
) -> None:
    """newcomer18a #11: 2026-02-30 is ISO-shaped; the problem is that the day does not exist."""
    with pytest.raises(InvalidInput, match=f"^{re.escape(problem)}$"):
        parse_date(text)
    assert parse_date("2028-02-29") == date(2028, 2, 29)


def test_validation_canonicalizes_the_zone_and_patches_replace_lists() -> None:
    cal = validate_calendar(CalendarDefinition(tz="europe/berlin", dates=[date(2026, 1, 1)]))
    assert cal.tz == "Europe/Berlin"
    moved = patched(cal, CalendarPatch(windows=["0 1 * * * for 1h"]))
    assert moved.windows == ["0 1 * * * for 1h"] and moved.dates == cal.dates
