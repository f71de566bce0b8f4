"""When a ticker entry next fires: the next nominal fire, its jitter, and when to wake for it.

Next fire times come from one memo shared by every entry of the same spec and zone (`fire_after`),
so a load or a burst evaluates each spec once. Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from datetime import UTC, datetime, timedelta
from functools import partial

from jetcron import ids
from jetcron.domain.fires import jitter_bound, next_fire, next_fire_within, nominal_interval
from jetcron.domain.spec import parse_spec
from jetcron.scheduler import members
from jetcron.scheduler.entry import Entry, queued


def jitter(fire: str, jitter_s: float, interval: timedelta | None) -> timedelta:
    """Deterministic delay in [0, jitter_s), bounded by half the interval."""
    if jitter_s <= 0:
        return timedelta(0)
    bound = jitter_bound(jitter_s, interval)
    fraction = int.from_bytes(hashlib.blake2b(fire.encode(), digest_size=8).digest()) / 2**64
    return timedelta(seconds=bound * fraction)


def next_due(entry: Entry) -> datetime | None:
    """When the entry next needs attention: its next fire (with jitter) or a run deadline."""
    if entry.in_flight is None and entry.buffered is None:
        # why: the common case (nothing in flight) without the list; it runs per load entry
        if not entry.active or entry.completed:
            return None
        t = entry.timing
        if t.start is None and t.end is None and t.max_runs is None and t.jitter_s <= 0:
            # why: a plain timing (no bounds, run limit or jitter) written out: this is what
            # _next_wake comes to for it, in 2 calls instead of 10, once per schedule on a load
            floor, last = entry.floor, entry.last_fire
            after = floor if last is None or (floor is not None and floor >= last) else last
            if after is None:
                return None
            fire = _MEMO.fire_after(t.spec, t.tz, after)
            return after if fire is None else fire
        return _next_wake(entry)
    times = list(entry.in_flight.values()) if entry.in_flight else []
    if entry.buffered is not None and not members.blocking(entry.running()):
        times.append(entry.buffered)
    if entry.active and not entry.completed and (wake := _next_wake(entry)) is not None:
        times.append(wake)
    return min(times) if times else None


def _next_wake(entry: Entry) -> datetime | None:
    """The next fire with its jitter; with none left, the moment to complete the schedule."""
    fire = upcoming_fire(entry)
    if fire is not None:
        return _jittered(entry, fire)
    if entry.buffered is not None:
        return None  # why: it completes once its queue is empty; the queue's runs wake it
    return entry.after()  # why: nothing left to fire; wake once to complete it


def upcoming_fire(entry: Entry) -> datetime | None:
    """The next nominal fire, or None when the schedule has none left."""
    # why: upcoming_fire_after without a `last` to weigh: this runs for every schedule on a load
    after = entry.after()
    if after is None:
        return None
    runs = entry.runs if entry.buffered is None else entry.runs + len(queued(entry))
    return next_fire_within(entry.timing, after, runs, fire_after=partial(fire_after, entry))


class _Stretches:
    """What next_fire answered for one spec and zone, as stretches of `after`: for every
    instant in [los[i], fires[i]) the next fire is fires[i] (no fire lies in between).

    why stretches and not exact instants: a schedule waits from its creation or its last
    fire, and creations are spread over time (each its own instant), so an exact-instant memo
    missed for every schedule not yet fired; one stretch serves every instant inside it, and
    the lookup is a bisect (no aware-datetime hash per lookup).
    """

    __slots__ = ("los", "fires")

    def __init__(self) -> None:
        self.los: list[datetime] = []
        self.fires: list[datetime] = []
        """Sorted like `los` (a later stretch has a later fire); _END stands for None."""

    def put(self, after: datetime, fire: datetime | None) -> int:
        """Remember next_fire(after) == fire (the stretch [after, fire)); 1 if a stretch was added."""
        end = _END if fire is None else fire
        i = bisect_right(self.los, after)
        if i < len(self.los) and self.fires[i] == end:
            self.los[i] = after  # why: the same answer as the stretch after it: one stretch
            return 0
        self.los.insert(i, after)
        self.fires.insert(i, end)
        return 1


_END = datetime.max.replace(tzinfo=UTC)
"""Stands for "no fire left" in a stretch (later than any fire)."""
NEXT_MEMO_SIZE = 1 << 14
"""Stretches kept (all dropped when full, ~3 MiB): a tick adds one per distinct (spec, zone)."""


class _FireMemo:
    """(spec, zone) -> what fires.next_fire answered: shared by every entry of that spec and zone."""

    def __init__(self) -> None:
        self.known: dict[tuple[str, str], _Stretches] = {}
        self.size = 0

    def fire_after(self, spec: str, tz: str, after: datetime) -> datetime | None:
        """next_fire(spec, tz, after), evaluated once per stretch."""
        known = self.known.get((spec, tz))
        if known is None:
            known = self.known[(spec, tz)] = _Stretches()
        else:
            # why: the lookup written out here (no call): it runs for every schedule on a load
            i = bisect_right(known.los, after) - 1
            if i >= 0 and after < (end := known.fires[i]):
                return None if end is _END else end
        fire = next_fire(spec, tz, after)
        if self.size >= NEXT_MEMO_SIZE:
            self.known, self.size = {(spec, tz): known}, 0
            known.los, known.fires = [], []
        self.size += known.put(after, fire)
        return fire


_MEMO = _FireMemo()


def fire_after(entry: Entry, after: datetime) -> datetime | None:
    """fires.next_fire for this entry, from a memo shared by all entries.

    why: schedules that share a spec and zone share their fire times, so after a burst (and
    on a load, where most of them wait from their creation or last fire) one evaluation
    serves them all; the answer depends on the spec text, zone and instant only.
    """
    t = entry.timing
    return _MEMO.fire_after(t.spec, t.tz, after)


def upcoming_fire_after(entry: Entry, last: datetime | None, extra_runs: int) -> datetime | None:
    """The next fire after `last` had these fires been recorded (for completion)."""
    after = max([p for p in (entry.after(), last) if p is not None], default=None)
    if after is None:
        return None
    runs = entry.runs + extra_runs
    return next_fire_within(entry.timing, after, runs, fire_after=partial(fire_after, entry))


def _jittered(entry: Entry, fire: datetime) -> datetime:
    """The fire with its jitter; the very same object without jitter (shared, not copied)."""
    return fire if entry.timing.jitter_s <= 0 else fire + jitter_of(entry, fire)


def jitter_of(entry: Entry, fire: datetime) -> timedelta:
    d = entry.timing
    if d.jitter_s <= 0:
        return timedelta(0)
    interval = nominal_interval(parse_spec(d.spec, d.tz), d.tz)
    return jitter(ids.fire_id(entry.schedule_id, entry.version, fire), d.jitter_s, interval)
