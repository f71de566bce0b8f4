"""Conflicts: schedules that share a target or a tag and whose runs would overlap; pure.

A run is assumed to occupy [fire, fire + duration): the schedule's p95 duration over its recent
runs; without runs, its timeout (an upper bound); without a timeout, DEFAULT_RUN. Two runs
overlap when each starts before the other ends. A schedule that does not allow its own runs to
overlap (every policy but `allow`) is assumed to start no run while its previous one lasts: an
`@every 3s` job assumed to take its 1h timeout starts once an hour, not 1,200 times.

*Crowded* conflicts, what `schedule add/update` warn of, are those an operator must act on: a
run without history is assumed to take DEFAULT_RUN (its timeout if shorter), not its whole
timeout; and a pair that shares only its target counts only the overlaps while more runs would
be in flight on that target than its executors run at once (`capacity`), long enough that a
run could wait a second or more for a slot. A shared tag says the two jobs must not meet:
every overlap counts.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Literal

import msgspec

from jetcron.domain.runs import is_fanout

DEFAULT_RUN = timedelta(minutes=1)
"""The run length assumed for a schedule with neither recent runs nor a timeout."""
RECENT = timedelta(days=7)
"""How far back runs count for the p95 duration."""
FIRES_CAP = 10_000
"""Fires per schedule looked at; a denser schedule is checked up to its 10,000th fire."""
FIRES_BUDGET = 20_000
"""Fires one query computes in all: with many schedules, each is looked at up to fewer fires."""
CROWD_MIN = timedelta(seconds=1)
"""A run that would wait less than this for a slot, at worst, makes no crowding (ten jobs of
`@every 10s` start on the same second and hold their slots for milliseconds)."""
WORK_BUDGET = 100_000
"""Fire comparisons one query makes (~0.2 s here): pairs past it are counted, not checked."""

Source = Literal["p95", "timeout", "default", "assumed"]
Span = tuple[datetime, datetime]
"""[from, to): a stretch of time."""
SpansOf = Callable[[str], Sequence[Span]]
"""A target's crowded spans (full_spans), asked for when a pair first needs them."""


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


def likely(p95_s: float | None, timeout_s: float | None) -> Estimate:
    """The run length a crowded check assumes: the recent p95, else DEFAULT_RUN or the timeout
    if shorter (`assumed`). why: a timeout is an upper bound; a job without history taken to
    last its whole 1h default would meet every other job of its target (newcomer18a #6)."""
    if p95_s is not None:
        return Estimate(seconds=p95_s, source="p95")
    most = DEFAULT_RUN.total_seconds()
    return Estimate(seconds=most if timeout_s is None else min(timeout_s, most), source="assumed")


def capacity(target: str, executors: Iterable[tuple[Sequence[str], int | None]]) -> int:
    """How many runs of `target` its executors run at once, from (pools served, concurrency)
    of each online one: a pool's members' slots add up; every member of a fan-out group runs
    each fire, so the smallest decides. 0 when none serves it (crowded as at 1: every overlap
    counts); an executor too old to say counts 1. (An executor's slots are shared by all it
    serves: an upper bound.)"""
    slots = [n or 1 for served, n in executors if target.removeprefix("all:") in served]
    if not slots:
        return 0
    return min(slots) if is_fanout(target) else sum(slots)


def full_spans(runs: Iterable[tuple[Sequence[datetime], Estimate]], most: int) -> list[Span]:
    """When more than `most` of these runs (fire times, each of one length) would be in
    flight at once and one of them could wait CROWD_MIN or longer for a slot: sorted,
    disjoint spans. why: at worst the runs holding the slots are the `most` that end last,
    so a run waits until the `most`-th latest end; a 1m job beside three 20ms ones on a
    4-slot host makes a run wait 20ms at most, on a 1-slot host up to 1m."""
    each = sorted((f, f + timedelta(seconds=run.seconds)) for fires, run in runs for f in fires)
    instants = sorted({t for run in each for t in run})
    inflight: list[datetime] = []  # why: a heap of the ends of the runs in flight
    out: list[Span] = []
    i = 0
    for k, now in enumerate(instants[:-1]):
        while inflight and inflight[0] <= now:
            heapq.heappop(inflight)
        while i < len(each) and each[i][0] == now:
            if each[i][1] > now:
                heapq.heappush(inflight, each[i][1])
            i += 1
        if len(inflight) <= most or len(inflight) - _below(inflight, now + CROWD_MIN) < most:
            continue
        if out and out[-1][1] == now:
            out[-1] = (out[-1][0], instants[k + 1])
        else:
            out.append((now, instants[k + 1]))
    return out


def _below(heap: list[datetime], bound: datetime) -> int:
    """How many items of a min-heap are below `bound`; walks only those (the runs about to
    end), as a node at or past `bound` has no child below it."""
    count, todo = 0, [0] if heap and heap[0] < bound else []
    while todo:
        i = todo.pop()
        count += 1
        todo += [c for c in (2 * i + 1, 2 * i + 2) if c < len(heap) and heap[c] < bound]
    return count


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
    a: Sequence[datetime],
    da: timedelta,
    b: Sequence[datetime],
    db: timedelta,
    spans: Sequence[Span] | None = None,
) -> tuple[int, datetime | None]:
    """How many (a run, b run) pairs overlap, and when the first overlap begins; with
    `spans`, only the overlaps that fall (in part) inside one of them."""
    count, first = 0, None
    ends = None if spans is None else [to for _, to in spans]
    for start in a:
        # why: b overlaps [start, start + da) when b < start + da and b + db > start
        lo, hi = bisect_right(b, start - db), bisect_left(b, start + da)
        if lo >= hi:
            continue
        if spans is None or ends is None:
            count, begins = count + hi - lo, max(start, b[lo])
        else:
            if _inside(spans, ends, start, start + da) is None:
                continue  # why: most runs meet no crowded span; skip their pairs at once
            hits = [_inside(spans, ends, max(start, o), min(start + da, o + db)) for o in b[lo:hi]]
            found = [h for h in hits if h is not None]
            if not found:
                continue
            count, begins = count + len(found), min(found)
        first = begins if first is None else min(first, begins)
    return count, first


def _inside(
    spans: Sequence[Span], ends: Sequence[datetime], lo: datetime, hi: datetime
) -> datetime | None:
    """The first instant of [lo, hi) inside one of the sorted, disjoint spans, or None."""
    i = bisect_right(ends, lo)
    return max(lo, spans[i][0]) if i < len(spans) and spans[i][0] < hi else None


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
    crowded: SpansOf | None = None,
) -> Found:
    """Every pair that shares a target or a tag and overlaps (only pairs with `involving`,
    if given), most overlaps first, as far as `budget` fire comparisons go.

    `timed` fills in a member's fires when a pair first needs them (each member once), so a
    query that stops at the budget computes few fire times. With `crowded`, a pair that
    shares only its target counts only the overlaps inside that target's crowded spans.
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
        if (c := _conflict(a, b, crowded)) is not None:
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


def _conflict(a: Member, b: Member, crowded: SpansOf | None = None) -> Conflict | None:
    until = min(a.checked_until, b.checked_until)
    fa = a.fires if a.checked_until == until else [f for f in a.fires if f <= until]
    fb = b.fires if b.checked_until == until else [f for f in b.fires if f <= until]
    da, db = timedelta(seconds=a.run.seconds), timedelta(seconds=b.run.seconds)
    both = shared(a, b)
    only_target = crowded is not None and both == [f"target {a.target}"]
    spans = crowded(a.target) if crowded is not None and only_target else None
    count, first = overlapping(fa, da, fb, db, spans)
    if first is None:
        return None
    x, y = sorted((a.name, b.name))
    return Conflict(a=x, b=y, shared=both, overlaps=count, first=first, until=until)
