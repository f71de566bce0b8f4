"""What-if: the fires a schedule had against the fires a changed timing would have had; pure.

Two lists of fire times are compared: a time in both is unchanged; the rest are paired, nearest
first, when they lie less than `tolerance` apart (a fire that *moved*); what is left over
*vanished* (only before) or *appeared* (only after). The tolerance is half the smaller usual
gap of the two specs, so a daily 03:00 that becomes 04:00 moved, while `*/15` that becomes
`*/10` loses :15 and :45 and gains :10, :20, :40 and :50.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal

import msgspec

from jetcron.domain.fires import nominal_interval
from jetcron.domain.spec import parse_spec

ChangeKind = Literal["moved", "appeared", "vanished"]


class Change(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One fire that differs: before and after (None where it has no counterpart)."""

    kind: ChangeKind
    before: datetime | None = None
    after: datetime | None = None


class Comparison(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The differences, oldest first, and how many fires stayed where they were."""

    changes: list[Change]
    unchanged: int


def tolerance(before: tuple[str, str], after: tuple[str, str]) -> timedelta | None:
    """Half the smaller usual gap of two (spec, tz) timings; None (pair anything) for two @at."""
    gaps = [g for spec, tz in (before, after) if (g := nominal_interval(parse_spec(spec), tz))]
    return min(gaps) / 2 if gaps else None


def compare(
    before: Sequence[datetime], after: Sequence[datetime], tol: timedelta | None
) -> Comparison:
    """Pair `before` with `after` (both sorted): equal times, then nearest within `tol` (strictly)."""
    both = set(before) & set(after)
    old = [t for t in before if t not in both]
    new = [t for t in after if t not in both]
    moved: dict[datetime, datetime] = {}
    taken: set[datetime] = set()
    # why: nearest pairs first, so a fire pairs with the closest counterpart, not the first
    for _, o, n in sorted(_candidates(old, new, tol)):
        if o not in moved and n not in taken:
            moved[o] = n
            taken.add(n)
    changes = [Change(kind="moved", before=o, after=n) for o, n in moved.items()]
    changes += [Change(kind="vanished", before=o) for o in old if o not in moved]
    changes += [Change(kind="appeared", after=n) for n in new if n not in taken]
    changes.sort(key=lambda c: (_when(c), c.kind))
    return Comparison(changes=changes, unchanged=len(both))


def _candidates(
    old: Sequence[datetime], new: Sequence[datetime], tol: timedelta | None
) -> list[tuple[timedelta, datetime, datetime]]:
    if tol is None:
        return [(abs(n - o), o, n) for o in old for n in new]
    out = []
    for o in old:
        # why: strictly less than tol; fires in `new` are at least 2*tol apart, so two at most
        for n in new[bisect_right(new, o - tol) : bisect_left(new, o + tol)]:
            out.append((abs(n - o), o, n))
    return out


def _when(change: Change) -> datetime:
    when = change.before or change.after
    assert when is not None
    return when
