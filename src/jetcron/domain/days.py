"""Whether an ISO-shaped date names a day that exists: one wording for 2026-02-30 everywhere."""

from __future__ import annotations

import calendar
import re

ISO_HINT = "use ISO-8601, e.g. 2026-03-03T14:00:00Z"
"""How to write a time, for most time options (after `invalid time 'TEXT': `)."""

_DATE = re.compile(r"\s*(\d{4})-(\d{2})-(\d{2})(?=$|[Tt ])")


def missing_day(text: str) -> str | None:
    """Why the ISO date `text` begins with does not exist ("'2026-02-30' does not exist:
    February 2026 has 28 days"); None when it exists or `text` begins with no ISO date."""
    shape = _DATE.match(text)
    if shape is None:
        return None
    year, month, day = (int(g) for g in shape.groups())
    named = f"{shape.group(1)}-{shape.group(2)}-{shape.group(3)}"
    if not 1 <= month <= 12:
        return f"{named!r} does not exist: there is no month {month}"
    days = calendar.monthrange(year, month)[1]
    if not 1 <= day <= days:
        return f"{named!r} does not exist: {calendar.month_name[month]} {year} has {days} days"
    return None


def bad_time(text: str, hint: str) -> str:
    """The problem of a time that did not parse: the day it names does not exist, or `hint`
    (how to write one) after `invalid time 'TEXT'`.

    why: "use ISO-8601" to someone who wrote ISO-8601 for a day that is not there misleads.
    """
    if (missing := missing_day(text)) and _DATE.fullmatch(text.strip()):
        return missing  # why: the text is the date alone; naming it twice reads as a stutter
    return f"invalid time {text!r}: {missing or hint}"
