"""Which coming fire an operator means by TIME (`schedule skip/unskip`, the API), checked before sending."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import msgspec

from jetcron.domain.days import missing_day
from jetcron.domain.definition import ScheduleDefinition
from jetcron.domain.fires import next_fire_within, previous_fire_within
from jetcron.errors import InvalidInput
from jetcron.projections.asked import headline, lost_in_gap, parse_asked

_US = timedelta(microseconds=1)


def coming_fire(row: dict[str, Any], text: str, now: datetime) -> datetime:
    """The fire time TIME names, read in the schedule's zone like `why`'s TIME; `HH:MM` is the
    next such wall time. InvalidInput (exit 2) if it is no fire time (naming the nearest) or
    has passed."""
    return coming_fire_noted(row, text, now)[0]


def coming_fire_noted(row: dict[str, Any], text: str, now: datetime) -> tuple[datetime, list[str]]:
    """`coming_fire`, with what the wall clock says of TIME (`why`'s notes: it occurs twice,
    the first pass taken, how to name the second)."""
    d = msgspec.convert(row["definition"], ScheduleDefinition)
    try:
        # why: parse_asked reads HH:MM as the latest at or before its `now`; a day later
        # that is the next one from now
        asked = parse_asked(text, d.tz, now + timedelta(days=1), d.spec)
    except ValueError:
        raise InvalidInput(
            f"TIME {text!r}: "
            + (
                missing_day(text)
                or f"use ISO-8601 with Z or an offset, a wall time in {d.tz} "
                "(2026-03-29T02:30) or HH:MM (the next one)"
            )
        ) from None
    if asked.lost:
        raise InvalidInput(f"TIME {text!r}: {lost_in_gap(asked, d)}")
    when = asked.instant
    if next_fire_within(d, when - _US) != when:
        sides = (previous_fire_within(d, when), next_fire_within(d, when))
        nearest = " and ".join(headline(f, d.tz) for f in sides if f is not None)
        raise InvalidInput(
            f"TIME {text!r}: {headline(when, d.tz)} is not a fire time of {d.spec!r} in {d.tz}"
            + (f"; the nearest are {nearest}" if nearest else "")
        )
    if when <= now:
        raise InvalidInput(f"TIME {text!r}: {headline(when, d.tz)} has passed")
    return when, asked.notes


def orphaned_skips(d: ScheduleDefinition, skips: dict[str, str], now: datetime) -> list[str]:
    """Notes on the planned skips (`{fire time: "skipped by …"}`) of coming fires that are no
    fire of `d`: a spec or zone change moved the fire away, and the skip no longer matches one.

    why: the skip stays in the log and applies again should that fire come back (a spec put
    back); without a word, the operator believes the night is still skipped
    """
    notes = []
    for text, who in sorted(skips.items()):
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if when > now and next_fire_within(d, when - _US) != when:
            notes.append(
                f"the fire at {text} ({who}) is no fire time now: the skip no longer matches "
                "a fire (it applies again if a change brings that fire back)"
            )
    return notes
