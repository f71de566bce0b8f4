"""What DST does to a fire time: the words `why`, `preview` and the console use; pure.

Kept apart from the projections so that `jetcron preview` (no server, no history) can say it
without importing them.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from datetime import datetime, timedelta

import pytz

from jetcron.domain.cronmatch import matcher
from jetcron.domain.spec import Spec, is_interval_like, parse_spec

_SHOWN = 3
"""Wall times a gap swallowed named in a note before `…`."""


def local(when: datetime, tz: str) -> str:
    """Wall time in the zone with its abbreviation: `03:00 CEST`, `01:45 +10:30`."""
    wall = when.astimezone(pytz.timezone(tz))
    shown = f"{wall:%H:%M:%S}" if wall.second else f"{wall:%H:%M}"
    return f"{shown} {zone_name(wall)}"


def zone_name(wall: datetime) -> str:
    """The abbreviation of an aware wall time (`CEST`), or its offset as `+10:30` where the
    zone has none.

    why: tz data writes a zone without an abbreviation as `+1030` or `+11`; the tables print
    offsets as `+10:30` (`local_cell`), and one time should read alike in a note and a column.
    """
    name = wall.tzname() or ""
    return wall.isoformat()[-6:] if name[:1] in ("", "+", "-") else name


def dst_notes(when: datetime, spec_text: str, tz: str) -> list[str]:
    """What DST did to a fire at `when`: a wall time it stands in for, or a repeated hour."""
    spec = parse_spec(spec_text, tz)
    if spec.kind == "at" and spec.at is not None and spec.at.tzinfo is None:
        return _at_notes(when, spec.at, tz)
    if spec.kind != "cron":
        return []
    zone = pytz.timezone(tz)
    wall = when.astimezone(zone)
    gap = _gap_walls(when, tz, spec.hours, spec.minutes)
    # why: cronie's rule: a fixed-time wall time lost in a spring-forward gap fires once, when
    # the gap ends; an interval-like spec just has no fires in the gap (nothing to explain)
    if gap is not None and not is_interval_like(spec):
        return [
            f"{gap:%H:%M} does not exist on {gap.date()} in {tz}; "
            f"per the gap rule it fires at {local(when, tz)}"
        ]
    try:
        zone.localize(wall.replace(tzinfo=None), is_dst=None)
    except pytz.AmbiguousTimeError:
        # why: in a fold a fixed-time spec fires on the first pass only, an interval-like one
        # on both (DESIGN.md); say which pass this fire is
        if is_interval_like(spec):
            return [f"{wall:%H:%M} occurs twice that night; this is the {zone_name(wall)} one"]
        return [
            f"{wall:%H:%M} occurs twice on {wall.date()} in {tz}; "
            f"a fixed-time spec fires on the first pass only ({zone_name(wall)})"
        ]
    return []


def gap_notes(prev: datetime | None, when: datetime, spec_text: str, tz: str) -> list[str]:
    """For an interval-like cron spec: the wall times a spring-forward gap between two
    successive fires (`prev`, `when`) swallowed, said on the fire after the gap.

    why: under cronie's rule such a spec has no fire in a gap; a preview that just leaves the
    row out reads as a bug, so say which fires did not happen (fixed-time specs fire at the
    gap's end instead, and `dst_notes` says so on that fire).
    """
    spec = parse_spec(spec_text, tz)
    if prev is None or spec.kind != "cron" or not is_interval_like(spec):
        return []
    zone = pytz.timezone(tz)
    times: list[datetime] = getattr(zone, "_utc_transition_times", [])
    lo, hi = (t.astimezone(pytz.utc).replace(tzinfo=None) for t in (prev, when))
    notes = []
    for t in times[bisect_right(times, lo) : bisect_right(times, hi)]:
        # the gap's wall span: from the last wall second before the change, plus one
        before = pytz.utc.localize(t - timedelta(seconds=1)).astimezone(zone)
        start = before.replace(tzinfo=None) + timedelta(seconds=1)
        end = pytz.utc.localize(t).astimezone(zone).replace(tzinfo=None)
        if lost := _lost_walls(spec, start, end):
            shown = ", ".join(f"{w:%H:%M}" for w in lost[:_SHOWN])
            more = f" … ({len(lost)} in all)" if len(lost) > _SHOWN else ""
            # why: a gap may span a day (Samoa, 2011-12-30): then both ends carry their date
            span = (
                f"from {start:%H:%M} to {end:%H:%M} on {start.date()}"
                if start.date() == end.date()
                else f"from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}"
            )
            notes.append(
                f"the clocks jumped {span} in {tz}: no fire at {shown}{more} "
                "(an interval-like spec has no fire in the gap)"
            )
    return notes


def _lost_walls(spec: Spec, start: datetime, end: datetime) -> list[datetime]:
    """The spec's wall times in [start, end) (naive: a gap's wall span)."""
    cron, stop = matcher(spec), end
    hours, minutes = set(spec.hours), set(spec.minutes)
    wall = start.replace(second=0) + timedelta(minutes=1 if start.second else 0)
    lost = []
    while wall < stop:
        if wall.hour in hours and wall.minute in minutes and cron.day_ok(wall.date()):
            lost.append(wall)
        wall += timedelta(minutes=1)
    return lost


def _at_notes(when: datetime, wall: datetime, tz: str) -> list[str]:
    """What DST did to an `@at` written as wall time (with an offset it is exact: nothing)."""
    zone = pytz.timezone(tz)
    shown = f"{wall:%H:%M:%S}" if wall.second else f"{wall:%H:%M}"
    try:
        zone.localize(wall, is_dst=None)
    except pytz.NonExistentTimeError:
        # why: wall_to_utc's rule for a one-off, the fixed-time cron rule: the gap's end
        return [
            f"{shown} does not exist on {wall.date()} in {tz}; "
            f"per the gap rule it fires at {local(when, tz)}"
        ]
    except pytz.AmbiguousTimeError:
        return [
            f"{shown} occurs twice on {wall.date()} in {tz}; "
            f"a one-off fires on the first pass ({local(when, tz)})"
        ]
    return []


def _gap_walls(
    when: datetime, tz: str, hours: Sequence[int], minutes: Sequence[int]
) -> datetime | None:
    """The spec's first wall time that a spring-forward gap ending at `when` swallowed (None if
    none), with its own date: a gap may span midnight, or a whole day (Samoa, 2011-12-30)."""
    zone = pytz.timezone(tz)
    before = (when - timedelta(seconds=1)).astimezone(zone).replace(tzinfo=None)
    after = when.astimezone(zone).replace(tzinfo=None)
    skipped = after - before - timedelta(seconds=1)
    if skipped <= timedelta(0):
        return None
    start = after - skipped
    day = start.date()
    while day <= after.date():
        for h in hours:
            for m in minutes:
                wall = datetime(day.year, day.month, day.day, h, m)
                if start <= wall < after:
                    return wall
        day += timedelta(days=1)
    return None
