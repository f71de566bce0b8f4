"""The spec language (cron, macros, @every, @at) parsed into a Spec, and zone names; pure.

What a spec's fire times are lives in fires.py (cronie's DST rules), how a cron spec matches
wall time in cronmatch.py, and durations (`15m`, `1h30m`) in durations.py.
"""

from __future__ import annotations

import difflib
import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import msgspec
import pytz

from jetcron.domain.days import missing_day
from jetcron.domain.durations import format_duration, parse_duration
from jetcron.domain.errors import InvalidSpec, InvalidTimezone

_UTC = UTC
_SEC = timedelta(seconds=1)
_US = timedelta(microseconds=1)

_MONTHS = {n: i for i, n in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)}
_DAYS = {n: i for i, n in enumerate("sun mon tue wed thu fri sat".split())}
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day-of-month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day-of-week", 0, 7, _DAYS),
)
MONTH_DAYS = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
"""Days in each month, by month number (February as in a leap year); cronmatch.py uses it too."""
_MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
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


def normal_spec(text: str) -> str:
    """A spec as it is stored and compared: stripped, its fields joined by one space."""
    # why: whitespace is no change; '30  2 * * *' made a new version and an audit entry
    return " ".join(text.split())


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
    if not (day_or or day_ext) and all(d > MONTH_DAYS[m] for m in months for d in days):
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
            f"@at {rest!r}: {missing}"
            if (missing := missing_day(rest))
            else f"@at needs an ISO-8601 date-time such as 2026-05-01T09:30 or "
            f"2026-05-01T09:30:00Z; {rest!r} is not one ({err})"
        ) from None
    if when.tzinfo is not None:
        try:
            when = when.astimezone(_UTC)
        except OverflowError:
            raise _Problem(f"@at {rest!r} is out of range") from None
    return Spec(text=text, kind="at", at=when)


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


_NO_DST_TRAPS = {"EST": "America/New_York", "MST": "America/Denver"}
"""Legacy zone names an operator may take for a place's local time: fixed offsets all year."""


def zone_note(zone: str) -> str | None:
    """A note when `zone` is a fixed-offset abbreviation likely meant as a place that keeps
    daylight saving time (EST for New York), else None; the zone itself is valid."""
    place = _NO_DST_TRAPS.get(zone)
    if place is None:
        return None
    return (
        f"{zone} is a fixed UTC offset all year (no daylight saving time); for local time "
        f"where clocks change, use a region zone such as {place}"
    )


@lru_cache(maxsize=1)
def _lowered_zones() -> dict[str, str]:
    return {z.lower(): z for z in pytz.all_timezones}


def is_interval_like(spec: Spec) -> bool:
    """True for @every and for cron whose minute or hour field starts with '*' (cronie's rule)."""
    return spec.kind == "every" or (spec.kind == "cron" and spec.interval_like)
