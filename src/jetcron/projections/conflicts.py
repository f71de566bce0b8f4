"""Conflicts: schedules that share a target or a tag and whose runs would overlap; pure.

A run is assumed to occupy [fire, fire + duration): the schedule's p95 duration over its recent
runs; without runs, its timeout (an upper bound); without a timeout, DEFAULT_RUN. Two runs
overlap when each starts before the other ends. A schedule that does not allow its own runs to
overlap (every policy but `allow`) is assumed to start no run while its previous one lasts: an
`@every 3s` job assumed to take its 1h timeout starts once an hour, not 1,200 times.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Literal

import msgspec

DEFAULT_RUN = timedelta(minutes=1)
"""The run length assumed for a schedule with neither recent runs nor a timeout."""
RECENT = timedelta(days=7)
"""How far back runs count for the p95 duration."""
FIRES_CAP = 10_000
"""Fires per schedule looked at; a denser schedule is checked up to its 10,000th fire."""
FIRES_BUDGET = 20_000
"""Fires one query computes in all: with many schedules, each is looked at up to fewer fires."""
WORK_BUDGET = 100_000
"""Fire comparisons one query makes (~0.2 s here): pairs past it are counted, not checked."""

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


def started(fires: Sequence[datetime], run: Estimate, overlap: str) -> list[datetime]:
    """The fires that would start a run: all with `allow`; otherwise none while the previous
    assumed run lasts (skip drops them; buffer_one and cancel_previous keep the target as busy
    as this does, with fewer, longer runs)."""
    if overlap == "allow":
        return list(fires)
    out: list[datetime] = []
    length = timedelta(seconds=run.seconds)
    free = None
    for fire in fires:
        if free is None or fire >= free:
            out.append(fire)
            free = fire + length
    return out


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


def fire_cap(members: int) -> int:
    """Fires to look at per schedule when `members` schedules are compared (FIRES_BUDGET)."""
    return max(20, min(FIRES_CAP, FIRES_BUDGET // max(members, 1)))


class Found(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The conflicts, most overlaps first, and whether every candidate pair was checked."""

    conflicts: list[Conflict]
    checked: int
    """Pairs sharing a target or a tag that were compared (in name order)."""
    complete: bool
    """False when WORK_BUDGET ran out before the last pair."""


def conflicts(
    members: Sequence[Member],
    *,
    involving: str | None = None,
    timed: Callable[[Member], Member] | None = None,
    budget: int = WORK_BUDGET,
) -> Found:
    """Every pair that shares a target or a tag and overlaps (only pairs with `involving`,
    if given), most overlaps first, as far as `budget` fire comparisons go.

    `timed` fills in a member's fires when a pair first needs them (each member once), so a
    query that stops at the budget computes few fire times.
    """
    filled: dict[int, Member] = {}

    def member(i: int) -> Member:
        if i not in filled:
            filled[i] = members[i] if timed is None else timed(members[i])
        return filled[i]

    found, checked, complete = [], 0, True
    for i, j in sharing(members, involving):
        a, b = member(i), member(j)
        budget -= len(a.fires)  # why: a pair costs one bisect per fire of its first member
        if budget < 0:
            complete = False
            break
        checked += 1
        if (c := _conflict(a, b)) is not None:
            found.append(c)
    found.sort(key=lambda c: (-c.overlaps, c.first, c.a, c.b))
    return Found(conflicts=found, checked=checked, complete=complete)


def sharing(members: Sequence[Member], involving: str | None = None) -> Iterator[tuple[int, int]]:
    """Index pairs (i < j) of members that share a target or a tag (with `involving`, if
    given), in member order; made one member at a time, so a caller may stop early."""
    by_key: dict[str, list[int]] = {}
    for i, m in enumerate(members):
        for key in _keys(m):
            by_key.setdefault(key, []).append(i)
    for i, m in enumerate(members):
        if involving is not None and m.name != involving:
            continue
        others = {j for k in _keys(m) for j in by_key[k] if j > i or involving is not None}
        others.discard(i)
        yield from ((min(i, j), max(i, j)) for j in sorted(others))


def _keys(m: Member) -> set[str]:
    return {f"target {m.target}", *(f"tag {t}" for t in m.tags)}


def wanted(members: Sequence[Member], involving: str | None = None) -> int:
    """How many members share a target or a tag with another (with `involving`, if given)."""
    counts: dict[str, int] = {}
    for m in members:
        for key in _keys(m):
            counts[key] = counts.get(key, 0) + 1
    if involving is not None:
        named = next((m for m in members if m.name == involving), None)
        return 0 if named is None else sum(counts[k] for k in _keys(named))
    return sum(any(counts[k] > 1 for k in _keys(m)) for m in members)


def _conflict(a: Member, b: Member) -> Conflict | None:
    until = min(a.checked_until, b.checked_until)
    fa = a.fires if a.checked_until == until else [f for f in a.fires if f <= until]
    fb = b.fires if b.checked_until == until else [f for f in b.fires if f <= until]
    da, db = timedelta(seconds=a.run.seconds), timedelta(seconds=b.run.seconds)
    count, first = overlapping(fa, da, fb, db)
    if first is None:
        return None
    x, y = sorted((a.name, b.name))
    return Conflict(a=x, b=y, shared=shared(a, b), overlaps=count, first=first, until=until)
