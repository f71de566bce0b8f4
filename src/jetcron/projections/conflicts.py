"""Conflicts: schedules that share a target or a tag and whose runs would overlap; pure.

A run is assumed to occupy [fire, fire + duration): the schedule's p95 duration over its recent
runs; without runs, its timeout (an upper bound); without a timeout, DEFAULT_RUN. Two runs
overlap when each starts before the other ends.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal

import msgspec

DEFAULT_RUN = timedelta(minutes=1)
"""The run length assumed for a schedule with neither recent runs nor a timeout."""
RECENT = timedelta(days=7)
"""How far back runs count for the p95 duration."""
FIRES_CAP = 10_000
"""Fires per schedule looked at; a denser schedule is checked up to its 10,000th fire."""

Source = Literal["p95", "timeout", "default"]


class Estimate(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """How long a schedule's runs are assumed to take, and what the figure rests on."""

    seconds: float
    source: Source


class Member(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One active schedule as conflicts see it: where it runs, when, and for how long."""

    name: str
    target: str
    tags: tuple[str, ...] = ()
    fires: tuple[datetime, ...] = ()
    """Sorted fire times in the window."""
    run: Estimate
    checked_until: datetime
    """The end of the window, or the last fire looked at when FIRES_CAP cut it."""


class Conflict(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Two schedules whose runs overlap: how often and first when."""

    a: str
    b: str
    shared: list[str]
    """What they share: `target nas`, `tag db`."""
    overlaps: int
    """Pairs of runs (one of each) that overlap."""
    first: datetime
    """When the first overlap begins."""
    until: datetime
    """Overlaps are counted up to here."""


def estimate(p95_s: float | None, timeout_s: float | None) -> Estimate:
    """The assumed run length: the recent p95, else the timeout, else DEFAULT_RUN."""
    if p95_s is not None:
        return Estimate(seconds=p95_s, source="p95")
    if timeout_s is not None:
        return Estimate(seconds=timeout_s, source="timeout")
    return Estimate(seconds=DEFAULT_RUN.total_seconds(), source="default")


def shared(a: Member, b: Member) -> list[str]:
    """What two schedules share: the target, then common tags (sorted)."""
    same = [f"target {a.target}"] if a.target == b.target else []
    return same + [f"tag {t}" for t in sorted(set(a.tags) & set(b.tags))]


def overlapping(
    a: Sequence[datetime], da: timedelta, b: Sequence[datetime], db: timedelta
) -> tuple[int, datetime | None]:
    """How many (a run, b run) pairs overlap, and when the first overlap begins."""
    count, first = 0, None
    for start in a:
        # why: b overlaps [start, start + da) when b < start + da and b + db > start
        lo, hi = bisect_right(b, start - db), bisect_left(b, start + da)
        if lo < hi:
            count += hi - lo
            begins = max(start, b[lo])
            first = begins if first is None else min(first, begins)
    return count, first


def conflicts(members: Sequence[Member], *, involving: str | None = None) -> list[Conflict]:
    """Every pair that shares a target or a tag and overlaps (only pairs with `involving`,
    if given), most overlaps first."""
    found = (_conflict(members[i], members[j]) for i, j in _sharing(members, involving))
    return sorted((c for c in found if c), key=lambda c: (-c.overlaps, c.first, c.a, c.b))


def _sharing(members: Sequence[Member], involving: str | None) -> set[tuple[int, int]]:
    """Index pairs (i < j) of members that share a target or a tag."""
    by_key: dict[str, list[int]] = {}
    for i, m in enumerate(members):
        for key in {f"target {m.target}", *(f"tag {t}" for t in m.tags)}:
            by_key.setdefault(key, []).append(i)
    pairs = set()
    for group in by_key.values():
        for n, i in enumerate(group):
            for j in group[n + 1 :]:
                if involving is None or involving in (members[i].name, members[j].name):
                    pairs.add((i, j))
    return pairs


def _conflict(a: Member, b: Member) -> Conflict | None:
    until = min(a.checked_until, b.checked_until)
    fa = [f for f in a.fires if f <= until]
    fb = [f for f in b.fires if f <= until]
    da, db = timedelta(seconds=a.run.seconds), timedelta(seconds=b.run.seconds)
    count, first = overlapping(fa, da, fb, db)
    if first is None:
        return None
    x, y = sorted((a.name, b.name))
    return Conflict(a=x, b=y, shared=shared(a, b), overlaps=count, first=first, until=until)
