"""The spec language (cron, macros, @every, @at) and fire times under cronie's DST rules; pure."""

from __future__ import annotations

import calendar
import difflib
import re
from bisect import bisect_right
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from functools import cache, lru_cache
from itertools import islice, takewhile
from typing import Protocol

import msgspec
import pytz

from jetcron.domain.errors import InvalidSpec, InvalidTimezone
from jetcron.errors import InvalidInput

_UTC = UTC
_EPOCH = datetime(1970, 1, 1, tzinfo=_UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)
_EPOCH_ORD = date(1970, 1, 1).toordinal()
_REF_WALL = (datetime(2001, 1, 1) - _NAIVE_EPOCH) // timedelta(seconds=1)
_SEC = timedelta(seconds=1)
_US = timedelta(microseconds=1)
_DAY = timedelta(days=1)
_FAR = 1 << 62
_NEVER = 1 << 63  # beyond _FAR plus any offset
_SEARCH_YEARS = 30  # why: a Feb 29 that must also be a given weekday recurs within 28 years

_MONTHS = {n: i for i, n in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)}
_DAYS = {n: i for i, n in enumerate("sun mon tue wed thu fri sat".split())}
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day-of-month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day-of-week", 0, 7, _DAYS),
)
_MONTH_DAYS = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
_UNITS = {
    "d": 86_400_000_000,
    "h": 3_600_000_000,
    "m": 60_000_000,
    "s": 1_000_000,
    "ms": 1000,
    "us": 1,
}
_DURATION_PART = re.compile(r"(\d+)\s*(us|ms|s|m|h|d)\s*")
_EXT_CHARS = re.compile(r"[lw#?]", re.IGNORECASE)  # cron's day extensions (domain/cronext.py)
_EVERY = re.compile(r"(.+?)(?:\s+offset\s+(.+))?", re.IGNORECASE)


class Spec(msgspec.Struct, frozen=True):
    """A parsed schedule spec: hashable, comparable, encodable with msgspec."""

    text: str
    kind: str
    minutes: tuple[int, ...] = ()
    hours: tuple[int, ...] = ()
    days: tuple[int, ...] = ()
    months: tuple[int, ...] = ()
    weekdays: tuple[int, ...] = ()
    """Days of the week, 0 = Sunday (7 is folded into 0)."""
    day_or: bool = False
    """Vixie rule: both day fields are restricted, so a day matching either one fires."""
    interval_like: bool = False
    """Minute or hour field starts with '*' (cronie's DST class), or @every."""
    every_us: int = 0
    offset_us: int = 0
    at: datetime | None = None
    """@at: aware UTC if the text had an offset, else naive wall time in the schedule's zone."""
    last_day: bool = False
    """Day-of-month `L`: the last day of the month."""
    nearest: tuple[int, ...] = ()
    """Day-of-month `15W`: the weekday (Mon-Fri) nearest that day within its month; a day past
    the month's end counts as its last day, so `LW` (the last weekday) is 31."""
    nth: tuple[tuple[int, int], ...] = ()
    """Day-of-week `2#2` as (2, 2), the second Tuesday; `5L` as (5, -1), the last Friday."""


class _Problem(Exception):
    """A parse problem; `parse_spec` wraps it in InvalidSpec with the spec text."""


# ---------------------------------------------------------------- parsing


def parse_spec(text: str, tz: str = "UTC") -> Spec:
    """Parse a spec (cron, macro, @every, @at); raise InvalidSpec/InvalidTimezone on bad input."""
    validate_tz(tz)
    return _parse(text.strip())


@lru_cache(maxsize=4096)
def _parse(text: str) -> Spec:
    try:
        if not text:
            raise _Problem(
                "empty spec: expected 5 cron fields, a macro such as @daily, "
                "'@every <duration>' or '@at <date-time>'"
            )
        if text.startswith("@"):
            return _parse_keyword(text)
        return _cron_spec(text, text)
    except _Problem as err:
        raise InvalidSpec(text, str(err)) from None


def _parse_keyword(text: str) -> Spec:
    head, *tail = text.split(None, 1)
    word, rest = head.lower(), "".join(tail).strip()
    if word == "@every":
        return _every_spec(text, rest)
    if word == "@at":
        return _at_spec(text, rest)
    if word in _MACROS:
        if rest:
            raise _Problem(f"{word} takes no arguments, got {rest!r}")
        return _cron_spec(text, _MACROS[word])
    close = difflib.get_close_matches(word, [*_MACROS, "@every", "@at"], n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise _Problem(f"unknown macro {head!r}{hint}; known: {', '.join(_MACROS)}, @every, @at")


def _cron_spec(text: str, fields_text: str) -> Spec:
    fields = fields_text.split()
    if len(fields) != 5:
        extra = "; there is no seconds or year field" if fields[5:] else ""
        raise _Problem(
            "expected 5 fields (minute hour day-of-month month day-of-week), "
            f"got {len(fields)}{extra}"
        )
    minutes, hours, months = (_parse_field(fields[i], i) for i in (0, 1, 3))
    days, day_ext = _day_field(fields[2], 2)
    weekdays, nth = _day_field(fields[4], 4)
    # why: '?' is '*' (Quartz's "no specific value"), for the Vixie rule too
    day_or = not fields[2].startswith(("*", "?")) and not fields[4].startswith(("*", "?"))
    if not (day_or or day_ext) and all(d > _MONTH_DAYS[m] for m in months for d in days):
        raise _Problem(f"never fires: day-of-month {fields[2]} does not occur in month {fields[3]}")
    return Spec(
        text=text,
        kind="cron",
        minutes=minutes,
        hours=hours,
        days=days,
        months=months,
        weekdays=weekdays,
        day_or=day_or,
        interval_like=fields[0].startswith("*") or fields[1].startswith("*"),
        last_day=0 in day_ext,
        nearest=tuple(sorted(d for d in day_ext if isinstance(d, int) and d)),
        nth=tuple(sorted(d for d in nth if isinstance(d, tuple))),
    )


def _day_field(text: str, index: int) -> tuple[tuple[int, ...], frozenset[int | tuple[int, int]]]:
    """A day field's plain values, and the extension values croniter expands (cronext.py)."""
    if not _EXT_CHARS.search(text):
        return _parse_field(text, index), frozenset()
    values: set[int] = set()
    ext: set[int | tuple[int, int]] = set()
    for item in text.split(","):
        try:
            values.update(_parse_item(item, *_FIELDS[index]))
        except _Problem as problem:
            if not _EXT_CHARS.search(item):
                raise
            plain, special = _expand_extension(item, text, index, problem)
            values.update(plain)
            ext.update(special)
    if index == 4:
        values = {v % 7 for v in values}  # 7 and 0 both mean Sunday
    return tuple(sorted(values)), frozenset(ext)


def _expand_extension(
    item: str, text: str, index: int, plain_problem: _Problem
) -> tuple[frozenset[int], frozenset[int] | frozenset[tuple[int, int]]]:
    from jetcron.domain import cronext  # why: croniter costs ~150 ms to import; few specs need it

    try:
        if index == 2:
            return cronext.expand_days(item, text)
        return cronext.expand_weekdays(item, text)
    except cronext.ExtensionError as err:
        # why: 'jul' in day-of-week is a plain mistake; say what the field takes, both kinds
        usage = f"{plain_problem}; {cronext.USAGE[_FIELDS[index][0]]}"
        raise _Problem(usage if err.generic else str(err)) from None


def _parse_field(text: str, index: int) -> tuple[int, ...]:
    name, lo, hi, names = _FIELDS[index]
    values: set[int] = set()
    for item in text.split(","):
        values.update(_parse_item(item, name, lo, hi, names))
    if name == "day-of-week":
        values = {v % 7 for v in values}  # 7 and 0 both mean Sunday
    return tuple(sorted(values))


def _parse_item(item: str, name: str, lo: int, hi: int, names: dict[str, int]) -> range:
    if not item:
        raise _Problem(f"{name} field: empty item in the list")
    base, slash, step_text = item.partition("/")
    step = 1
    if slash:
        if not (step_text.isascii() and step_text.isdigit()) or int(step_text) < 1:
            raise _Problem(f"{name} field: step in {item!r} must be a whole number of at least 1")
        step = int(step_text)
    if base == "*":
        return range(lo, hi + 1, step)
    first, dash, last = base.partition("-")
    start = _parse_value(first, name, lo, hi, names)
    end = _parse_value(last, name, lo, hi, names) if dash else (hi if slash else start)
    if start > end:
        raise _Problem(f"{name} field: range {base} runs backwards ({start} > {end})")
    return range(start, end + 1, step)


def _parse_value(text: str, name: str, lo: int, hi: int, names: dict[str, int]) -> int:
    if text.isascii() and text.isdigit():
        value = int(text)
        if not lo <= value <= hi:
            raise _Problem(f"{name} field: {value} is out of range {lo}-{hi}")
        return value
    if text.lower() in names:
        return names[text.lower()]
    allowed = f" or a name ({', '.join(names)})" if names else ""
    if _EXT_CHARS.search(text) and name not in ("day-of-month", "day-of-week"):
        allowed += "; L, W, # and ? belong in day-of-month and day-of-week"
    raise _Problem(f"{name} field: {text!r} is not a number {lo}-{hi}{allowed}")


def _every_spec(text: str, rest: str) -> Spec:
    match = _EVERY.fullmatch(rest)
    if match is None:
        raise _Problem("@every needs a duration, e.g. '@every 15m' or '@every 1h offset 15m'")
    every = _spec_duration(match[1])
    offset = _spec_duration(match[2]) if match[2] else timedelta(0)
    if every <= timedelta(0):
        raise _Problem("duration must be > 0")
    if every < _SEC:
        raise _Problem(f"duration must be at least 1s, got {format_duration(every)}")
    if offset >= every:
        raise _Problem(
            f"offset {format_duration(offset)} must be less than the interval "
            f"{format_duration(every)}"
        )
    return Spec(
        text=text, kind="every", interval_like=True, every_us=every // _US, offset_us=offset // _US
    )


def _spec_duration(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as err:
        raise _Problem(str(err)) from None


def _at_spec(text: str, rest: str) -> Spec:
    try:
        when = datetime.fromisoformat(rest)
    except ValueError as err:
        raise _Problem(
            f"@at needs an ISO-8601 date-time such as 2026-05-01T09:30 or "
            f"2026-05-01T09:30:00Z; {rest!r} is not one ({err})"
        ) from None
    if when.tzinfo is not None:
        try:
            when = when.astimezone(_UTC)
        except OverflowError:
            raise _Problem(f"@at {rest!r} is out of range") from None
    return Spec(text=text, kind="at", at=when)


def parse_duration(text: str) -> timedelta:
    """Parse a duration such as '90s', '15m', '1h30m', '2d' or '500ms'."""
    source, pos, total = text.strip().lower(), 0, 0
    if source.isascii() and source.isdigit():
        raise ValueError(
            f"invalid duration {text!r}: missing a unit, e.g. '{source}s' or '{source}m'"
        )
    while pos < len(source) and (match := _DURATION_PART.match(source, pos)):
        total, pos = total + int(match[1]) * _UNITS[match[2]], match.end()
    if not source or pos < len(source):
        raise ValueError(
            f"invalid duration {text!r}: expected numbers with units "
            "(d, h, m, s, ms, us), e.g. '90s', '15m', '1h30m', '500ms'"
        )
    try:
        return timedelta(microseconds=total)
    except OverflowError:
        raise ValueError(f"invalid duration {text!r}: too large") from None


def window_seconds(text: str, what: str = "--window") -> float:
    """A window or look-ahead (`30d`, `--within 7d`) in seconds, longer than zero; InvalidInput
    naming `what` otherwise (the CLI's options and the API's parameters alike)."""
    try:
        seconds = parse_duration(text).total_seconds()
    except ValueError as err:
        raise InvalidInput(f"{what}: {err}") from err
    if seconds <= 0:
        raise InvalidInput(f"{what} must be longer than 0s")
    return seconds


def time_or_ago(text: str, now: datetime) -> datetime:
    """A point in time as `--since`, `--until` and `--as-of` take it: ISO-8601 (a `Z` allowed,
    naive means UTC) or a duration back from `now` (`2h`, `3d`, `1h30m`). ValueError saying both."""
    source = text.strip()
    try:
        dt = datetime.fromisoformat(source.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        pass
    else:
        return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    try:
        return now - parse_duration(source)
    except (ValueError, OverflowError):
        raise ValueError(
            f"invalid time {text!r}: use ISO-8601 (2026-03-03T14:00:00Z) or a duration back "
            "from now (2h, 3d)"
        ) from None


def format_duration(td: timedelta) -> str:
    """Format a timedelta the way parse_duration reads it, e.g. '1h30m'."""
    rest = td // _US
    sign, rest = ("-" if rest < 0 else ""), abs(rest)
    parts = []
    for unit, size in _UNITS.items():
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return sign + ("".join(parts) or "0s")


@lru_cache(maxsize=1024)
def validate_tz(name: str) -> str:
    """Return the canonical IANA name (case-insensitive); raise InvalidTimezone with a hint."""
    key = name.strip()
    try:
        # why: loading the one zone is the fast path (pytz.all_timezones_set checks ~600 files)
        return str(pytz.timezone(key).zone)
    except (pytz.UnknownTimeZoneError, ValueError):
        pass
    lowered = _lowered_zones()
    if key.lower() in lowered:
        return lowered[key.lower()]
    close = difflib.get_close_matches(key.lower(), lowered, n=1, cutoff=0.6)
    raise InvalidTimezone(name, lowered[close[0]] if close else None)


@lru_cache(maxsize=1)
def _lowered_zones() -> dict[str, str]:
    return {z.lower(): z for z in pytz.all_timezones}


def is_interval_like(spec: Spec) -> bool:
    """True for @every and for cron whose minute or hour field starts with '*' (cronie's rule)."""
    return spec.kind == "every" or (spec.kind == "cron" and spec.interval_like)


# ---------------------------------------------------------------- wall-time matching


class _Cron:
    """Lookup tables that find the next matching naive wall-time minute quickly."""

    __slots__ = (
        "next_time", "first", "month", "dom", "dow", "day_or", "fixed", "next_dom", "ext", "spec"
    )  # fmt: skip

    def __init__(self, spec: Spec) -> None:
        times = {h * 60 + m for h in spec.hours for m in spec.minutes}
        self.next_time = [-1] * 1441
        for t in range(1439, -1, -1):
            self.next_time[t] = t if t in times else self.next_time[t + 1]
        self.first = self.next_time[0]
        self.month = [m in spec.months for m in range(13)]
        self.dom = [d in spec.days for d in range(32)]
        self.dow = [d in spec.weekdays for d in range(7)]
        self.day_or, self.fixed = spec.day_or, not spec.interval_like
        self.ext, self.spec = bool(spec.last_day or spec.nearest or spec.nth), spec
        # next_dom[d]: the next day-of-month worth checking (a day field match is required
        # unless the Vixie OR rule applies); 32 = none left this month
        maybe = _extension_days(spec)
        self.next_dom = [32] * 33
        for d in range(31, 0, -1):
            worth = self.day_or or self.dom[d] or d in maybe
            self.next_dom[d] = d if worth else self.next_dom[d + 1]

    def day_ok(self, d: date) -> bool:
        dom, dow = self.dom[d.day], self.dow[d.isoweekday() % 7]
        if self.ext:
            dom, dow = dom or _dom_extension(self.spec, d), dow or _dow_extension(self.spec, d)
        return self.month[d.month] and ((dom or dow) if self.day_or else (dom and dow))

    def next_day(self, day: int) -> int | None:
        """First matching day (days since 1970-01-01) at or after `day`, within the horizon."""
        d = date.fromordinal(day + _EPOCH_ORD)
        stop = min(d.year + _SEARCH_YEARS, 9999)
        while d.year < stop:
            dom = self.next_dom[d.day]
            if not self.month[d.month] or dom > _month_len(d.year, d.month):
                d = date(d.year + d.month // 12, d.month % 12 + 1, 1)
            elif dom != d.day:
                d = d.replace(day=dom)
            elif self.day_ok(d):
                return d.toordinal() - _EPOCH_ORD
            else:
                d += _DAY
        return None

    def next_wall(self, wall: int) -> int | None:
        """First matching wall minute (in wall seconds since 1970) at or after `wall`."""
        day, minute = divmod(-(-wall // 60), 1440)
        t = self.next_time[minute]
        if t < 0 or not self.day_ok(date.fromordinal(day + _EPOCH_ORD)):
            found = self.next_day(day + 1)
            if found is None:
                return None
            day, t = found, self.first
        return (day * 1440 + t) * 60


def _extension_days(spec: Spec) -> set[int]:
    """Days of the month on which an extension may match (a superset, to skip the others)."""
    days: set[int] = set(range(28, 32)) if spec.last_day else set()
    for n in spec.nearest:  # why: the nearest weekday is at most 2 days away, or the last days
        days.update(range(max(n - 2, 1), min(n + 2, 31) + 1))
        days.update(range(26, 32) if n >= 28 else ())
    for _, nth in spec.nth:
        days.update(range(22, 32) if nth < 0 else range(nth * 7 - 6, min(nth * 7, 31) + 1))
    return days


def _dom_extension(spec: Spec, d: date) -> bool:
    """Day-of-month L or nW matches date `d`."""
    last = _month_len(d.year, d.month)
    return (spec.last_day and d.day == last) or any(
        _nearest_weekday(d.year, d.month, min(n, last), last) == d.day for n in spec.nearest
    )


def _nearest_weekday(year: int, month: int, day: int, last: int) -> int:
    """The weekday (Mon-Fri) nearest `day`, never leaving the month (Quartz's and croniter's W)."""
    weekday = calendar.weekday(year, month, day)
    if weekday == 5:
        return day - 1 if day > 1 else day + 2
    if weekday == 6:
        return day + 1 if day < last else day - 2
    return day


def _dow_extension(spec: Spec, d: date) -> bool:
    """Day-of-week n#k or nL matches date `d`."""
    weekday, week = d.isoweekday() % 7, (d.day - 1) // 7 + 1
    last = d.day + 7 > _month_len(d.year, d.month)
    return any(w == weekday and (n == week or (n < 0 and last)) for w, n in spec.nth)


class _Seeker:
    """next_wall with a one-entry memo, so stepping over DST periods repeats no search."""

    __slots__ = ("cron", "lo", "wall")

    def __init__(self, cron: _Cron) -> None:
        self.cron, self.lo, self.wall = cron, _NEVER, _NEVER

    def find(self, lo: int) -> int:
        """The first matching wall minute at or after `lo`; _NEVER if there is none."""
        # no match lies in [self.lo, self.wall), so any lo in that range has the same answer
        if not self.lo <= lo <= self.wall:
            found = self.cron.next_wall(lo)
            self.lo, self.wall = lo, _NEVER if found is None else found
        return self.wall


def _month_len(year: int, month: int) -> int:
    return _MONTH_DAYS[month] - (month == 2 and not calendar.isleap(year))


_MATCHERS: dict[str, tuple[Spec, _Cron]] = {}


def _matcher(spec: Spec) -> _Cron:
    # keyed by text plus an identity check: hashing a whole Spec costs more than the lookup
    hit = _MATCHERS.get(spec.text)
    if hit is not None and (hit[0] is spec or hit[0] == spec):
        return hit[1]
    if len(_MATCHERS) >= 4096:
        _MATCHERS.clear()
    cron = _MATCHERS[spec.text] = spec, _Cron(spec)
    return cron[1]


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


# ---------------------------------------------------------------- fire times


def _cron_instants(c: _Cron, z: _Zone, after: int) -> Iterator[int]:
    """UTC instants (epoch seconds) strictly after `after`, ascending, under cronie's DST rules."""
    i, last, seek = z.period(after), after, _Seeker(c)
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
        if wall == _NEVER:
            return
        i += 1


def _every_instants(spec: Spec, after: datetime) -> Iterator[datetime]:
    # why: epoch-aligned in absolute time, so DST and restarts never shift it
    step, offset = spec.every_us, spec.offset_us
    t = offset + ((after - _EPOCH) // _US - offset) // step * step + step
    while True:
        yield _EPOCH + timedelta(microseconds=t)
        t += step


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


def _fires(spec: Spec | str, tz: str, after: datetime) -> Iterator[datetime]:
    _require_aware(after, "after")
    zone = _zone(tz)
    parsed = parse_spec(spec, tz) if isinstance(spec, str) else spec
    if parsed.kind == "every":
        return _every_instants(parsed, after)
    if parsed.kind == "at":
        assert parsed.at is not None
        at = wall_to_utc(parsed.at, tz)
        return iter([at] if at > after else [])
    instants = _cron_instants(_matcher(parsed), zone, (after - _EPOCH) // _SEC)
    return (_EPOCH + timedelta(seconds=s) for s in instants)


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


@lru_cache(maxsize=4096)
def nominal_interval(spec: Spec, tz: str) -> timedelta | None:
    """The smallest usual gap between fires, in wall time, to bound jitter; None for @at."""
    _zone(tz)
    if spec.kind == "every":
        return timedelta(microseconds=spec.every_us)
    if spec.kind != "cron":
        return None
    # why: measured in wall time from a fixed date, so a DST day's 23h gap does not count
    cron, best = _matcher(spec), _FAR
    wall = cron.next_wall(_REF_WALL)
    for _ in range(64):
        following = cron.next_wall(wall + 60) if wall is not None else None
        if wall is None or following is None:
            break
        best, wall = min(best, following - wall), following
    return timedelta(seconds=best) if best < _FAR else None
