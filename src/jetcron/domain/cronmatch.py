"""A cron spec against naive wall time: lookup tables that find the next matching minute; pure.

Includes the day extensions (`L`, `W`, `#`); fires.py maps the wall times it finds to UTC
under the zone's DST rules.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta

from jetcron.domain.spec import MONTH_DAYS, Spec

_EPOCH_ORD = date(1970, 1, 1).toordinal()
_DAY = timedelta(days=1)
NEVER = 1 << 63  # beyond fires._FAR plus any offset
_SEARCH_YEARS = 30  # why: a Feb 29 that must also be a given weekday recurs within 28 years


class Cron:
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


class Seeker:
    """next_wall with a one-entry memo, so stepping over DST periods repeats no search."""

    __slots__ = ("cron", "lo", "wall")

    def __init__(self, cron: Cron) -> None:
        self.cron, self.lo, self.wall = cron, NEVER, NEVER

    def find(self, lo: int) -> int:
        """The first matching wall minute at or after `lo`; NEVER if there is none."""
        # no match lies in [self.lo, self.wall), so any lo in that range has the same answer
        if not self.lo <= lo <= self.wall:
            found = self.cron.next_wall(lo)
            self.lo, self.wall = lo, NEVER if found is None else found
        return self.wall


def _month_len(year: int, month: int) -> int:
    return MONTH_DAYS[month] - (month == 2 and not calendar.isleap(year))


_MATCHERS: dict[str, tuple[Spec, Cron]] = {}


def matcher(spec: Spec) -> Cron:
    """The spec's Cron, shared by every caller of the same spec (a small memo)."""
    # keyed by text plus an identity check: hashing a whole Spec costs more than the lookup
    hit = _MATCHERS.get(spec.text)
    if hit is not None and (hit[0] is spec or hit[0] == spec):
        return hit[1]
    if len(_MATCHERS) >= 4096:
        _MATCHERS.clear()
    cron = _MATCHERS[spec.text] = spec, Cron(spec)
    return cron[1]
