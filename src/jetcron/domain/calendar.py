"""Calendars: named sets of time (maintenance windows, holidays) that schedules exclude or stay in.

A calendar covers an instant if it falls inside one of its windows (a cron start in the
calendar's zone plus a duration: "0 2 * * sun for 4h") or on one of its dates or ranges (whole
local days in the calendar's zone). Pure: no clock, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from functools import lru_cache

import msgspec
import pytz

from jetcron.domain.days import missing_day
from jetcron.domain.definition import ScheduleDefinition
from jetcron.domain.durations import format_duration, parse_duration
from jetcron.domain.errors import CommandRejected
from jetcron.domain.fires import fires_within, next_fire
from jetcron.domain.spec import parse_spec, validate_tz
from jetcron.domain.validation import NAME_RE, twice, validate_lines
from jetcron.errors import InvalidInput

MAX_WINDOW = timedelta(days=366)
"""A window longer than a year is a mistake (and would make `covers` look back too far)."""


class CalendarDefinition(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """What an operator writes for a calendar; its events carry it whole."""

    tz: str = "UTC"
    windows: list[str] = []
    """'CRON for DURATION', e.g. '0 2 * * sun for 4h': starts in `tz`, each lasting DURATION."""
    dates: list[date] = []
    """Whole local days."""
    ranges: list[str] = []
    """'FIRST..LAST' ISO dates, both included, whole local days."""
    description: str = ""


class CalendarPatch(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """Changes to a calendar: unset fields keep their value (lists are replaced whole)."""

    tz: str | msgspec.UnsetType = msgspec.UNSET
    windows: list[str] | msgspec.UnsetType = msgspec.UNSET
    dates: list[date] | msgspec.UnsetType = msgspec.UNSET
    ranges: list[str] | msgspec.UnsetType = msgspec.UNSET
    description: str | msgspec.UnsetType = msgspec.UNSET


def patched(cal: CalendarDefinition, patch: CalendarPatch) -> CalendarDefinition:
    """The calendar with every set field of `patch` replaced."""
    changes = {
        f: getattr(patch, f)
        for f in patch.__struct_fields__
        if getattr(patch, f) is not msgspec.UNSET
    }
    return msgspec.structs.replace(cal, **changes)


@lru_cache(maxsize=1024)
def replacing(cal: CalendarDefinition) -> CalendarPatch:
    """A patch that sets every field to the value in `cal` (what `apply` sends)."""
    return CalendarPatch(**msgspec.structs.asdict(cal))


@lru_cache(maxsize=1024)
def parse_window(text: str) -> tuple[str, timedelta]:
    """'0 2 * * sun for 4h' -> ('0 2 * * sun', 4h); InvalidInput naming the window if malformed."""
    spec, sep, length = text.rpartition(" for ")
    if not sep or not spec.strip():
        raise InvalidInput(f"window {text!r}: write 'CRON for DURATION', e.g. '0 2 * * sun for 4h'")
    try:
        duration = parse_duration(length.strip())
    except ValueError as err:
        raise InvalidInput(f"window {text!r}: {err}") from None
    if not timedelta(0) < duration <= MAX_WINDOW:
        raise InvalidInput(f"window {text!r}: the duration must be above 0 and at most 366d")
    if spec.strip().startswith(("@every", "@at")):
        raise InvalidInput(f"window {text!r}: a window starts on a cron time, not @every/@at")
    try:
        parse_spec(spec.strip())
    except InvalidInput as err:
        raise InvalidInput(f"window {text!r}: {err}") from None
    return spec.strip(), duration


def parse_date(text: str) -> date:
    """An ISO date (2026-12-25); InvalidInput saying whether the text is no ISO date or names
    a day that does not exist (2026-02-30: ISO-shaped, but February has no 30th)."""
    shape = _DATE.fullmatch(text)
    if shape is None:
        raise InvalidInput(f"{text!r} is not an ISO date (2026-12-25)")
    if problem := missing_day(text):
        raise InvalidInput(problem)
    return date(*(int(g) for g in shape.groups()))


_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def parse_range(text: str) -> tuple[date, date]:
    """'2026-12-24..2026-12-31' -> both dates; InvalidInput naming the range if malformed."""
    first, sep, last = text.partition("..")
    if not sep:
        raise InvalidInput(
            f"range {text!r}: write FIRST..LAST as ISO dates, e.g. 2026-12-24..2026-12-31"
        )
    try:
        a, b = parse_date(first.strip()), parse_date(last.strip())
    except InvalidInput as err:
        raise InvalidInput(f"range {text!r}: {err}") from None
    if b < a:
        raise InvalidInput(f"range {text!r}: the last day is before the first")
    return a, b


def validate_calendar_name(name: str) -> str:
    """The name, or CommandRejected explaining the rule (the schedule names' rule)."""
    if not NAME_RE.fullmatch(name):
        raise CommandRejected(
            f"invalid calendar name {name!r}: use 1-64 letters, digits, '_', '.' or '-'"
        )
    return name


def validate_calendar(cal: CalendarDefinition) -> CalendarDefinition:
    """The calendar normalized (canonical zone), or CommandRejected with a one-line reason."""
    try:
        tz = validate_tz(cal.tz)
        for w in cal.windows:
            parse_window(w)
        for r in cal.ranges:
            parse_range(r)
    except InvalidInput as err:
        raise CommandRejected(str(err)) from err
    if not (cal.windows or cal.dates or cal.ranges):
        raise CommandRejected("a calendar needs at least one --window, --dates or --range")
    for what, items in (("window", cal.windows), ("date", cal.dates), ("range", cal.ranges)):
        if (dup := twice(items)) is not None:
            raise CommandRejected(f"{what} {str(dup)!r} given twice")
    validate_lines(cal.description, "the description")
    return msgspec.structs.replace(cal, tz=tz)


def covering(cal: CalendarDefinition, when: datetime) -> str | None:
    """What of the calendar covers the UTC instant `when` ('window 0 2 * * sun for 4h',
    'date 2026-12-25', 'range 2026-12-24..2026-12-31'), or None if nothing does."""
    day = when.astimezone(pytz.timezone(cal.tz)).date()
    if day in cal.dates:
        return f"date {day.isoformat()}"
    for r in cal.ranges:
        first, last = parse_range(r)
        if first <= day <= last:
            return f"range {r}"
    for w in cal.windows:
        spec, duration = parse_window(w)
        # why: the window that covers `when` is the first start after when - duration, if that
        # start is not later than `when` (each window is [start, start + duration))
        start = next_fire(spec, cal.tz, when - duration)
        if start is not None and start <= when:
            return f"window {spec} for {format_duration(duration)}"
    return None


def covers(cal: CalendarDefinition, when: datetime) -> bool:
    """Whether the calendar covers the UTC instant `when`."""
    return covering(cal, when) is not None


OPERATOR_SKIP = "skipped by "
"""How the fate of a fire an operator skipped begins (FireSkipPlanned.fate)."""
CALENDAR_TAKES = ("excluded by ", "outside ")
"""How the fate of a fire a calendar took begins (calendar_fate)."""
DELIBERATE = (OPERATOR_SKIP, *CALENDAR_TAKES)
"""Skip reasons that were meant, not suffered: an operator's skip, a calendar."""


def calendar_fate(
    exclude: Sequence[str],
    only_within: Sequence[str],
    calendars: Mapping[str, CalendarDefinition],
    fire: datetime,
) -> str | None:
    """Why the calendars take this fire away ('excluded by maint (window …)', 'outside biz'),
    or None if it runs. A calendar that no longer exists excludes nothing and contains nothing."""
    for name in exclude:
        cal = calendars.get(name)
        hit = None if cal is None else covering(cal, fire)
        if hit is not None:
            return f"excluded by {name} ({hit})"
    if only_within and not any(
        (cal := calendars.get(n)) is not None and covers(cal, fire) for n in only_within
    ):
        return f"outside {' or '.join(only_within)} (only within)"
    return None


def used_by(name: str, schedules: Iterable[tuple[str, ScheduleDefinition]]) -> dict[str, str]:
    """Schedule name -> 'exclude' or 'only_within', for the schedules that refer to `name`."""
    uses = {}
    for schedule, d in schedules:
        if name in d.exclude:
            uses[schedule] = "exclude"
        elif name in d.only_within:
            uses[schedule] = "only_within"
    return uses


IN_USE_SHOWN = 10
"""Schedules a refused delete names (the rest are counted)."""


def in_use(name: str, uses: Mapping[str, str]) -> str:
    """Why a calendar that schedules refer to cannot be deleted (the decider's refusal)."""
    shown = sorted(uses.items())[:IN_USE_SHOWN]
    listed = ", ".join(f"{s} ({how})" for s, how in shown)
    if len(uses) > IN_USE_SHOWN:
        listed += f" and {len(uses) - IN_USE_SHOWN} more (jetcron calendar show {name})"
    return (
        f"calendar {name!r} is used by {listed}: take it out of them first "
        "(jetcron schedule update NAME --reset exclude / --reset only_within)"
    )


def unknown_calendar(name: str) -> CommandRejected:
    """The refusal of a schedule that names a calendar that does not exist."""
    return CommandRejected(
        f"unknown calendar {name!r} (add it first: jetcron calendar add {name} ...)"
    )


def named(d: ScheduleDefinition | None) -> list[str]:
    """The calendars a schedule definition refers to (exclude first), each once."""
    return [] if d is None else list(dict.fromkeys([*d.exclude, *d.only_within]))


SCAN_MAX = 10_000
"""Candidate fires looked at for one list of coming fires; a calendar that takes every fire for
longer than this ends the list early (e.g. only-within a yearly window of a minutely spec)."""
_BATCH = 256


def fires_left(
    d: ScheduleDefinition,
    calendars: Mapping[str, CalendarDefinition],
    after: datetime,
    *,
    limit: int,
    until: datetime | None = None,
) -> list[datetime]:
    """Up to `limit` fires of `d` after `after` (by `until`) that its calendars leave to run."""
    if not (d.exclude or d.only_within):
        return fires_within(d, after, until=until, limit=limit)
    left: list[datetime] = []
    scanned = 0
    while len(left) < limit and scanned < SCAN_MAX:
        batch = fires_within(d, after, until=until, limit=_BATCH)
        left += [f for f in batch if calendar_fate(d.exclude, d.only_within, calendars, f) is None]
        if len(batch) < _BATCH:
            break
        scanned, after = scanned + len(batch), batch[-1]
    return left[:limit]
