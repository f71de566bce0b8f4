"""Fire times under cronie's DST rules: a zone's offset periods, the fires of a spec after an
instant, and within a schedule's bounds (start, end, run limit); pure."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import cache, lru_cache
from itertools import islice, takewhile
from typing import Protocol

import pytz

from jetcron.domain.cronmatch import NEVER, Cron, Seeker, matcher
from jetcron.domain.durations import format_duration
from jetcron.domain.spec import Spec, parse_spec, validate_tz

_UTC = UTC
_EPOCH = datetime(1970, 1, 1, tzinfo=_UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)
_REF_WALL = (datetime(2001, 1, 1) - _NAIVE_EPOCH) // timedelta(seconds=1)
_SEC = timedelta(seconds=1)
_US = timedelta(microseconds=1)
_FAR = 1 << 62
LAST_FIRE = datetime(9999, 1, 1, tzinfo=_UTC)
"""Every fire time is before this instant; a spec's fires end there.

why: far beyond any real schedule, yet a fire plus any duration a definition holds (at most
366 days: validation.MAX_DURATION_S) or a look-ahead stays inside datetime's range (year 9999):
past it, a fire crashed the ticker's fold, `preview`, `show` and the create decider."""
_LAST_S = (LAST_FIRE - _EPOCH) // _SEC
_LAST_US = (LAST_FIRE - _EPOCH) // _US


class _Zone:
    """A zone as offset periods: period i covers UTC instants [starts[i], starts[i+1])."""

    __slots__ = ("starts", "offs", "covered")

    def __init__(self, starts: list[int], offs: list[int]) -> None:
        self.starts, self.offs = starts, offs
        # covered[i]: the wall time up to which periods before i already showed the clock
        self.covered = [-_FAR]
        for i in range(1, len(starts)):
            self.covered.append(max(self.covered[-1], starts[i] + offs[i - 1]))

    def period(self, instant: int) -> int:
        return bisect_right(self.starts, instant) - 1

    def end(self, i: int) -> int:
        return self.starts[i + 1] if i + 1 < len(self.starts) else _FAR

    def resolve(self, wall: int) -> tuple[int, bool]:
        """(instant, exists) for a wall time: its first pass, or the gap end if it is missing."""
        i = max(self.period(wall - 16 * 3600), 0)  # why: offsets stay within -12h..+14h
        while True:
            start, off = self.starts[i], self.offs[i]
            if wall < start + off:
                return start, False
            if wall < self.end(i) + off:
                return wall - off, True
            i += 1


@cache
def _zone(name: str) -> _Zone:
    tz = pytz.timezone(validate_tz(name))
    # why: pytz's own localize/normalize carry DST bugs into croniter; we only read its tables
    times: list[datetime] = getattr(tz, "_utc_transition_times", [])
    infos: list[tuple[timedelta, timedelta, str]] = getattr(tz, "_transition_info", [])
    if not times:
        return _Zone([-_FAR], [(tz.utcoffset(datetime(2000, 1, 1)) or timedelta(0)) // _SEC])
    starts, offs = [-_FAR], [infos[0][0] // _SEC]
    for when, info in zip(times[1:], infos[1:], strict=True):
        if info[0] // _SEC != offs[-1]:  # name-only changes are not transitions for us
            starts.append((when - _NAIVE_EPOCH) // _SEC)
            offs.append(info[0] // _SEC)
    return _Zone(starts, offs)


def _cron_instants(c: Cron, z: _Zone, after: int) -> Iterator[int]:
    """UTC instants (epoch seconds) strictly after `after`, ascending, under cronie's DST rules."""
    i, last, seek = z.period(after), after, Seeker(c)
    while i < len(z.starts):
        start, off, end = z.starts[i], z.offs[i], z.end(i)
        if c.fixed and i > 0 and start > last and seek.find(start + z.offs[i - 1]) < start + off:
            # why: fixed-time wall times lost in a spring-forward gap fire once, when the gap ends
            last = start
            yield last
        # why: fixed-time skips walls an earlier period already showed (a fold fires on its
        # first pass only); interval-like fires every instant whose wall time matches
        wall = seek.find(max(start + off, last + 1 + off, z.covered[i] if c.fixed else -_FAR))
        while wall < end + off:
            last = wall - off
            yield last
            wall = seek.find(wall + 60)
        if wall == NEVER:
            return
        i += 1


def _every_instants(spec: Spec, after: datetime) -> Iterator[datetime]:
    # why: epoch-aligned in absolute time, so DST and restarts never shift it
    step, offset = spec.every_us, spec.offset_us
    t = offset + ((after - _EPOCH) // _US - offset) // step * step + step
    while t < _LAST_US:
        yield _EPOCH + timedelta(microseconds=t)
        t += step


def _cron_times(instants: Iterator[int]) -> Iterator[datetime]:
    """The instants as datetimes, ending before LAST_FIRE."""
    while True:
        try:
            s = next(instants)
        except (StopIteration, OverflowError, ValueError):
            # why: the matcher's calendar steps past year 9999 (date() raises) near the end
            return
        if s >= _LAST_S:
            return
        yield _EPOCH + timedelta(seconds=s)


def wall_to_utc(when: datetime, tz: str) -> datetime:
    """`when` as aware UTC; a naive `when` is wall time in zone `tz` (for `@at` and bounds).

    A wall time skipped by a spring-forward gap maps to the instant the gap ends, a repeated
    one to its first pass. OverflowError if the instant is outside datetime's range.
    """
    if when.tzinfo is not None:
        return when.astimezone(_UTC)
    # why: the fixed-time DST rule of cron fires (README), so a one-off or a bound written
    # as 02:30 means the same instant as a `30 2 * * *` fire on that day
    instant, exists = _zone(tz).resolve((when - _NAIVE_EPOCH) // _SEC)
    return _EPOCH + timedelta(seconds=instant, microseconds=when.microsecond if exists else 0)


def search_after(when: datetime, tz: str) -> datetime:
    """Where a search for fires strictly after `when` starts (`preview --after`, the API's
    `after`); a naive `when` is wall time in `tz`, as for `wall_to_utc`."""
    if when.tzinfo is not None:
        return when.astimezone(_UTC)
    instant, exists = _zone(tz).resolve((when - _NAIVE_EPOCH) // _SEC)
    if exists:
        return _EPOCH + timedelta(seconds=instant, microseconds=when.microsecond)
    # why: no instant has a wall time inside a spring-forward gap, so one asked for comes
    # before the gap's end: the fire there (02:30's under the gap rule, at 03:00) is after it
    return _EPOCH + timedelta(seconds=instant) - _US


def _fires(spec: Spec | str, tz: str, after: datetime) -> Iterator[datetime]:
    _require_aware(after, "after")
    zone = _zone(tz)
    parsed = parse_spec(spec, tz) if isinstance(spec, str) else spec
    if parsed.kind == "every":
        return _every_instants(parsed, after)
    if parsed.kind == "at":
        assert parsed.at is not None
        at = at_instant(parsed.at, tz)
        return iter([at] if at is not None and at > after else [])
    return _cron_times(_cron_instants(matcher(parsed), zone, (after - _EPOCH) // _SEC))


def at_instant(when: datetime, tz: str) -> datetime | None:
    """The instant of an `@at` (wall_to_utc), or None if it is not before LAST_FIRE."""
    try:
        at = wall_to_utc(when, tz)
    except OverflowError:
        return None
    return at if at < LAST_FIRE else None


def _require_aware(when: datetime, name: str) -> None:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {when.isoformat()}")


def next_fires(spec: Spec | str, tz: str, after: datetime, n: int = 1) -> list[datetime]:
    """The next `n` fire times strictly after `after`, as aware UTC datetimes (fewer if it ends)."""
    return list(islice(_fires(spec, tz, after), max(n, 0)))


def next_fire(spec: Spec | str, tz: str, after: datetime) -> datetime | None:
    """The first fire time strictly after `after` (aware UTC), or None if there is none."""
    return next(_fires(spec, tz, after), None)


def fires_between(
    spec: Spec | str, tz: str, after: datetime, until: datetime, limit: int | None = None
) -> list[datetime]:
    """All fire times in (after, until], oldest first, at most `limit` of them."""
    _require_aware(until, "until")
    out: list[datetime] = []
    for when in _fires(spec, tz, after):
        if when > until or (limit is not None and len(out) >= limit):
            break
        out.append(when)
    return out


class Bounded(Protocol):
    """A schedule's timing as far as its fires go: a definition, or the ticker's Timing."""

    @property
    def spec(self) -> str: ...
    @property
    def tz(self) -> str: ...
    @property
    def start(self) -> datetime | None:
        """No fires before this instant (inclusive)."""
        ...

    @property
    def end(self) -> datetime | None:
        """No fires after this instant (inclusive)."""
        ...

    @property
    def max_runs(self) -> int | None:
        """No fires once this many clock runs were triggered."""
        ...


def next_fire_within(
    schedule: Bounded,
    after: datetime,
    runs: int = 0,
    *,
    fire_after: Callable[[datetime], datetime | None] | None = None,
) -> datetime | None:
    """The first fire strictly after `after` within start, end and the run limit, or None.

    `runs` is how many clock runs the schedule had; `fire_after` stands in for `next_fire`
    on the schedule's spec and zone (the planner passes one with a memo).
    """
    if _runs_left(schedule, runs) == 0:
        return None
    point = _search_from(schedule, after)
    if fire_after is None:
        fire = next_fire(schedule.spec, schedule.tz, point)
    else:
        fire = fire_after(point)
    return fire if fire is not None and _before_end(schedule, fire) else None


def fires_within(
    schedule: Bounded,
    after: datetime,
    *,
    limit: int,
    until: datetime | None = None,
    runs: int = 0,
) -> list[datetime]:
    """The fires next_fire_within gives one by one after `after` (up to `until`), at most `limit`."""
    if until is not None:
        _require_aware(until, "until")
    left = _runs_left(schedule, runs)
    fires = _fires(schedule.spec, schedule.tz, _search_from(schedule, after))
    bounded = takewhile(lambda f: _before_end(schedule, f) and (until is None or f <= until), fires)
    return list(islice(bounded, limit if left is None else min(left, limit)))


def previous_fire_within(schedule: Bounded, before: datetime) -> datetime | None:
    """The latest fire strictly before `before` (within start and end), looking back ~4 years."""
    span = timedelta(hours=1)
    while span < timedelta(days=1500):
        found = fires_within(schedule, before - span, until=before, limit=100_000)
        found = [f for f in found if f < before]
        if found:
            return found[-1]
        span *= 4
    return None


def _search_from(schedule: Bounded, after: datetime) -> datetime:
    # why: fires are searched strictly after a point, and the start itself may be a fire time
    start = schedule.start
    return after if start is None or start <= after else start - _US


def _before_end(schedule: Bounded, fire: datetime) -> bool:
    return schedule.end is None or fire <= schedule.end


def _runs_left(schedule: Bounded, runs: int) -> int | None:
    """Fires the run limit still allows; None without a limit."""
    return None if schedule.max_runs is None else max(schedule.max_runs - runs, 0)


def jitter_bound(jitter_s: float, interval: timedelta | None) -> float:
    """The most a fire is delayed by its jitter: below half the interval, so jitter never
    reorders two fires."""
    return jitter_s if interval is None else min(jitter_s, interval.total_seconds() / 2)


def jitter_note(spec: Spec, tz: str, jitter_s: float) -> str | None:
    """What a jitter above half the interval comes to (None when it is not capped)."""
    bound = jitter_bound(jitter_s, interval := nominal_interval(spec, tz))
    if interval is None or bound >= jitter_s:
        return None
    shown = format_duration(timedelta(seconds=bound))
    return (
        f"jitter {format_duration(timedelta(seconds=jitter_s))} is more than half the "
        f"{format_duration(interval)} between fires: each fire waits less than {shown}"
    )


@lru_cache(maxsize=4096)
def nominal_interval(spec: Spec, tz: str) -> timedelta | None:
    """The smallest usual gap between fires, in wall time, to bound jitter; None for @at."""
    _zone(tz)
    if spec.kind == "every":
        return timedelta(microseconds=spec.every_us)
    if spec.kind != "cron":
        return None
    # why: measured in wall time from a fixed date, so a DST day's 23h gap does not count
    cron, best = matcher(spec), _FAR
    wall = cron.next_wall(_REF_WALL)
    for _ in range(64):
        following = cron.next_wall(wall + 60) if wall is not None else None
        if wall is None or following is None:
            break
        best, wall = min(best, following - wall), following
    return timedelta(seconds=best) if best < _FAR else None
