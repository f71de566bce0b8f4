"""Cron's day extensions (L, W, #, ?): parsing through croniter, pinned fires, DST, errors.

The minute-by-minute oracle in test_spec.py covers them in eight zones around transitions;
here croniter itself is a second oracle on UTC (its own iteration; the tz rules are ours).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from jetcron.domain.fires import fires_between, next_fires
from jetcron.domain.spec import parse_spec


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def days(text: str, after: str, n: int) -> list[str]:
    """The next n fires (UTC) with their weekday, e.g. 'Fri 2026-01-30 09:00'."""
    return [f.strftime("%a %Y-%m-%d %H:%M") for f in next_fires(text, "UTC", at(after), n)]


# ---------------------------------------------------------------- hand-worked expectations

HAND = [
    pytest.param(
        "0 9 L * *",
        ["Sat 2026-01-31 09:00", "Sat 2026-02-28 09:00", "Tue 2026-03-31 09:00"],
        id="L-last-day",
    ),
    pytest.param(
        "0 9 L 2 *",
        ["Sat 2026-02-28 09:00", "Sun 2027-02-28 09:00", "Tue 2028-02-29 09:00"],
        id="L-leap-february",
    ),
    pytest.param(
        "0 9 * * 5L",
        ["Fri 2026-01-30 09:00", "Fri 2026-02-27 09:00", "Fri 2026-03-27 09:00"],
        id="5L-last-friday",
    ),
    pytest.param("0 9 * * friL", ["Fri 2026-01-30 09:00", "Fri 2026-02-27 09:00"], id="friL"),
    pytest.param("0 9 * * L5", ["Fri 2026-01-30 09:00", "Fri 2026-02-27 09:00"], id="L5-croniter"),
    pytest.param(
        "0 9 * * 2#2",
        ["Tue 2026-01-13 09:00", "Tue 2026-02-10 09:00", "Tue 2026-03-10 09:00"],
        id="2#2-second-tuesday",
    ),
    pytest.param("0 9 * * tue#2", ["Tue 2026-01-13 09:00", "Tue 2026-02-10 09:00"], id="tue#2"),
    # 2026's months with five Thursdays: January, April, July, October, December
    pytest.param(
        "0 9 * * 4#5",
        ["Thu 2026-01-29 09:00", "Thu 2026-04-30 09:00", "Thu 2026-07-30 09:00"],
        id="4#5-only-some-months",
    ),
    pytest.param(
        "0 9 * * 1#1,5L",
        ["Mon 2026-01-05 09:00", "Fri 2026-01-30 09:00", "Mon 2026-02-02 09:00"],
        id="first-monday-and-last-friday",
    ),
    # 2026-02-15 is a Sunday -> Monday 16th; 2026-03-15 Sunday -> 16th; 2026-08-15 Sat -> 14th
    pytest.param(
        "0 9 15W * *",
        ["Thu 2026-01-15 09:00", "Mon 2026-02-16 09:00", "Mon 2026-03-16 09:00"],
        id="15W",
    ),
    pytest.param("0 9 15W 8 *", ["Fri 2026-08-14 09:00"], id="15W-saturday-to-friday"),
    # 2026-08-01 is a Saturday: Friday would leave the month, so Monday the 3rd
    pytest.param("0 9 1W 8 *", ["Mon 2026-08-03 09:00"], id="1W-saturday-stays-in-month"),
    # 2026-05-31 is a Sunday: Monday would leave the month, so Friday the 29th
    pytest.param("0 9 31W 5 *", ["Fri 2026-05-29 09:00"], id="31W-sunday-stays-in-month"),
    # 31W in a 30-day month is the weekday nearest the 30th: 2026-04-30 is a Thursday
    pytest.param("0 9 31W 4 *", ["Thu 2026-04-30 09:00"], id="31W-short-month"),
    pytest.param(
        "0 9 LW * *",
        ["Fri 2026-01-30 09:00", "Fri 2026-02-27 09:00", "Tue 2026-03-31 09:00"],
        id="LW-last-weekday",
    ),
    pytest.param(
        "0 9 ? * mon",
        ["Mon 2026-01-05 09:00", "Mon 2026-01-12 09:00", "Mon 2026-01-19 09:00"],
        id="question-mark-is-star",
    ),
    # Vixie rule: both day fields restricted, either matches (L or any Monday)
    pytest.param(
        "0 9 L 1 mon",
        [
            "Mon 2026-01-05 09:00",
            "Mon 2026-01-12 09:00",
            "Mon 2026-01-19 09:00",
            "Mon 2026-01-26 09:00",
            "Sat 2026-01-31 09:00",
        ],
        id="vixie-L-or-monday",
    ),  # fmt: skip
    pytest.param("0 9 1-L 1 *", ["Thu 2026-01-01 09:00", "Fri 2026-01-02 09:00"], id="1-L"),
]


@pytest.mark.parametrize(("text", "expected"), HAND)
def test_extensions_fire_on_hand_worked_days(text: str, expected: list[str]) -> None:
    assert days(text, after="2025-12-31T12:00Z", n=len(expected)) == expected


# ---------------------------------------------------------------- DST (our rules apply)

# Europe/Berlin 2026: 03-29 (the last Sunday of March) 02:00 CET -> 03:00 CEST at 01:00Z;
# 10-25 (the last Sunday of October) 03:00 CEST -> 02:00 CET at 01:00Z
DST = [
    pytest.param(
        "30 2 * 3 0L", "2026-03-01T00:00Z", ["2026-03-29T01:00:00Z"], id="spring-gap-0L-fixed"
    ),
    pytest.param(
        "30 * * 3 0L",
        "2026-03-28T23:00Z",
        ["2026-03-28T23:30:00Z", "2026-03-29T00:30:00Z", "2026-03-29T01:30:00Z"],
        id="spring-gap-0L-interval-skips-the-missing-hour",
    ),
    pytest.param(
        "30 2 * 10 0L", "2026-10-01T00:00Z", ["2026-10-25T00:30:00Z"], id="autumn-overlap-0L-fixed"
    ),
    pytest.param(
        "30 * * 10 0L",
        "2026-10-25T00:00Z",
        ["2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z", "2026-10-25T02:30:00Z"],
        id="autumn-overlap-0L-interval-fires-both-passes",
    ),
    pytest.param(
        "15 2 LW 3 *", "2026-03-01T00:00Z", ["2026-03-31T00:15:00Z"], id="LW-after-the-switch"
    ),
    pytest.param(
        "45 2 29W 3 *", "2026-03-01T00:00Z", ["2026-03-30T00:45:00Z"], id="29W-sunday-to-monday"
    ),
]


@pytest.mark.parametrize(("text", "after", "expected"), DST)
def test_extensions_obey_the_dst_rules(text: str, after: str, expected: list[str]) -> None:
    fires = next_fires(text, "Europe/Berlin", at(after), len(expected))
    assert [iso(f) for f in fires] == expected


def test_extensions_keep_the_dst_class_of_their_time_fields() -> None:
    assert not parse_spec("30 2 L * *").interval_like
    assert parse_spec("*/5 2 * * 5L").interval_like


# ---------------------------------------------------------------- parsed form


def test_parsed_form() -> None:
    assert parse_spec("0 0 L * *").last_day
    assert parse_spec("0 0 LW * *").nearest == (31,)
    assert parse_spec("0 0 1W,15W * *").nearest == (1, 15)
    assert parse_spec("0 0 * * 5L,2#2").nth == ((2, 2), (5, -1))
    assert parse_spec("0 0 * * 7L").nth == ((0, -1),)
    assert parse_spec("0 0 * * 1,5L").weekdays == (1,)
    assert parse_spec("0 0 ? * *") == parse_spec("0 0 ? * *")
    assert not parse_spec("0 0 ? * mon").day_or
    assert parse_spec("0 0 L * mon").day_or


# ---------------------------------------------------------------- croniter as an oracle (UTC)

DOM_EXT = st.one_of(
    st.just("L"), st.integers(1, 31).map(lambda d: f"{d}W"), st.just("?"), st.just("1-L")
)
DOW_EXT = st.one_of(
    st.tuples(st.integers(0, 7), st.integers(1, 5)).map(lambda wn: f"{wn[0]}#{wn[1]}"),
    st.integers(0, 7).map(lambda w: f"L{w}"),  # croniter's spelling of 5L
    st.sampled_from(["mon#1", "fri#3", "?"]),
)


@settings(max_examples=150, deadline=None, database=None)
@given(
    day=st.one_of(DOM_EXT.map(lambda d: (d, "*")), DOW_EXT.map(lambda w: ("*", w))),
    minute=st.sampled_from(["0", "30", "*/20"]),
    hour=st.sampled_from(["9", "0,23", "*/6"]),
    month=st.sampled_from(["*", "2", "2,8", "*/3"]),
    after=st.datetimes(datetime(2020, 1, 1), datetime(2035, 1, 1), timezones=st.just(UTC)),
)
def test_extensions_agree_with_croniter_on_utc(
    day: tuple[str, str], minute: str, hour: str, month: str, after: datetime
) -> None:
    text = f"{minute} {hour} {day[0]} {month} {day[1]}"
    ours = next_fires(text, "UTC", after, 8)
    walk = croniter(text, after)
    assert ours == [walk.get_next(datetime) for _ in ours], text
    assert ours, text  # why: a fifth Sunday of February can be 28 years away; none is rarer


def test_long_ranges_stay_fast_and_exact() -> None:
    fires = fires_between("0 0 * 2 1#5", "UTC", at("2000-01-01T00:00Z"), at("2050-01-01T00:00Z"))
    # a fifth Monday in February needs a leap year whose 1 February is a Monday
    assert [iso(f) for f in fires] == [
        "2016-02-29T00:00:00Z", "2044-02-29T00:00:00Z",
    ]  # fmt: skip
    assert fires[0] - fires[0].replace(day=1) == timedelta(days=28)
