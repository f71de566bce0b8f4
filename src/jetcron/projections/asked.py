"""The times `why`, `schedule skip` and `backfill` are asked about, and how answers write a
time: an instant from ISO, a wall time in the schedule's zone or `HH:MM`; pure."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import msgspec
import pytz

from jetcron.clock import iso_z
from jetcron.domain.dst import local
from jetcron.domain.fires import Bounded, next_fire_within, previous_fire_within, wall_to_utc
from jetcron.domain.spec import is_interval_like, parse_spec

_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")


class Asked(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A time the user asked about, as an instant, with what the wall clock says of it."""

    instant: datetime
    notes: list[str] = []
    """Sentences about the wall time itself (it does not exist, or occurs twice)."""
    lost: str = ""
    """The wall time asked, when a spring-forward gap swallowed it and the spec is
    interval-like: then no fire stands in for it (`instant` is the gap's end)."""


def z(when: datetime) -> str:
    """UTC as 2026-03-29T01:00Z (seconds, and fractions of one, shown only when there are some:
    a fire of an older log's sub-second spec is named as it can be asked about)."""
    u = when.astimezone(UTC)
    if u.microsecond:
        return iso_z(u)
    return u.strftime("%Y-%m-%dT%H:%M:%SZ" if u.second else "%Y-%m-%dT%H:%MZ")


def headline(when: datetime, tz: str) -> str:
    """`2026-03-29T01:00Z (03:00 CEST Europe/Berlin)`; just the UTC time in UTC."""
    return z(when) if tz == "UTC" else f"{z(when)} ({local(when, tz)} {tz})"


def is_clock(text: str) -> bool:
    """Whether `text` is a bare `HH:MM[:SS]` (a wall time whose day the command picks)."""
    return _CLOCK.fullmatch(text.strip()) is not None


def parse_asked(text: str, tz: str, now: datetime, spec: str | None = None) -> Asked:
    """An instant from ISO with an offset, a naive ISO wall time in `tz`, or `HH:MM[:SS]` (the latest
    such wall time at or before `now`). ValueError if it is none of these. A wall time lost in
    a spring-forward gap means the gap's end for a fixed-time spec (the gap rule), and no
    instant at all (`lost`) for an interval-like `spec`."""
    text = text.strip()
    fixed = spec is None or not is_interval_like(parse_spec(spec, tz))
    clock = _CLOCK.fullmatch(text)
    if clock:
        today = now.astimezone(pytz.timezone(tz)).date()
        hour, minute, second = int(clock[1]), int(clock[2]), int(clock[3] or 0)
        for day in (today, today - timedelta(days=1)):
            wall = datetime(day.year, day.month, day.day, hour, minute, second)
            asked = _wall(wall, tz, fixed=fixed)
            if asked.instant <= now:
                return asked
        return asked
    when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if when.tzinfo is not None:
        return Asked(instant=when.astimezone(UTC))
    return _wall(when, tz, fixed=fixed)


def _wall(wall: datetime, tz: str, *, fixed: bool = True) -> Asked:
    zone = pytz.timezone(tz)
    instant = wall_to_utc(wall, tz)
    shown = f"{wall:%H:%M}"
    try:
        zone.localize(wall, is_dst=None)
    except pytz.NonExistentTimeError:
        gone = f"{shown} does not exist on {wall.date()} in {tz} (the clocks jump forward)"
        if not fixed:
            # why: cronie's gap rule is for fixed-time specs; an interval-like one has no
            # fire in the gap, so the time names none (README "Time zones and DST")
            return Asked(instant=instant, lost=gone)
        return Asked(
            instant=instant, notes=[f"{gone}; per the gap rule it means {local(instant, tz)}"]
        )
    except pytz.AmbiguousTimeError:
        note = (
            f"{shown} occurs twice on {wall.date()} in {tz}; "
            f"taking the first, {local(instant, tz)} ({z(instant)})"
        )
        if not fixed:
            # why: an interval-like spec fires in both passes; the note says how to ask for
            # the second (with its offset, as TIME takes it), not only that it was passed over
            second = zone.localize(wall, is_dst=False)
            named = second.isoformat(timespec="seconds" if wall.second else "minutes")
            note += f"; for the second, {local(second, tz)}, give {named}"
        return Asked(instant=instant, notes=[note])
    return Asked(instant=instant)


def lost_in_gap(asked: Asked, schedule: Bounded) -> str:
    """Why a wall time lost in a gap is no fire time of an interval-like spec, with the fires
    on either side of the gap ("" when the time was not lost)."""
    if not asked.lost:
        return ""
    # why: `instant` is the gap's end; a fire right there is the nearest after the gap
    sides = (
        previous_fire_within(schedule, asked.instant),
        next_fire_within(schedule, asked.instant - timedelta(microseconds=1)),
    )
    nearest = " and ".join(headline(f, schedule.tz) for f in sides if f is not None)
    return (
        f"{asked.lost}, so it is no fire time of {schedule.spec!r}: an interval-like spec "
        "has no fire in the gap" + (f"; the nearest are {nearest}" if nearest else "")
    )
