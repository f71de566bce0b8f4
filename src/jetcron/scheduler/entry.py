"""The ticker's record of one live schedule: its shared Timing and its Entry.

An Entry is kept compact (a million must fit in a few hundred MiB) and goes into checkpoints as
an array of fields; `queued` reads the fires buffered in it. Pure: no I/O, no clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import msgspec

from jetcron.domain.definition import CatchUp, ScheduleDefinition

_ONE_US = timedelta(microseconds=1)
LOST_GRACE = timedelta(seconds=60)
"""A run with no word past its timeout plus this grace is declared lost (the default of
TickerState.lost_grace)."""
NO_TIMEOUT_DEADLINE = timedelta(hours=24)


def run_budget(timeout_s: float | None, grace: timedelta) -> timedelta:
    """How long after its last word a run in flight may stay silent before it is lost."""
    base = NO_TIMEOUT_DEADLINE if timeout_s is None else timedelta(seconds=timeout_s)
    return base + grace


class Timing(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """The part of a definition that decides *when*; equal timings are shared between entries.

    Stored as an array in a checkpoint (see Entry): add fields at the end, with defaults."""

    spec: str
    tz: str
    start: datetime | None
    end: datetime | None
    max_runs: int | None
    jitter_s: float
    overlap: str
    catchup: CatchUp
    timeout_s: float | None
    exclude: tuple[str, ...] = ()
    only_within: tuple[str, ...] = ()


_TIMINGS: dict[Timing, Timing] = {}
_payload = msgspec.msgpack.Encoder()
_definition = msgspec.msgpack.Decoder(ScheduleDefinition)


def timing_of(d: ScheduleDefinition) -> Timing:
    """The (interned) timing of a definition."""
    t = Timing(
        d.spec,
        d.tz,
        d.start,
        d.end,
        d.max_runs,
        d.jitter_s,
        d.overlap,
        d.catchup,
        d.timeout_s,
        tuple(d.exclude) if d.exclude else (),
        tuple(d.only_within) if d.only_within else (),
    )
    return _TIMINGS.setdefault(t, t)


class OwedFate(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """One decision the log owes a fire (owed.py): `trigger`, `skip`, `miss`, `buffer`, or
    `cancel` (the run a cancel_previous trigger stops)."""

    kind: str
    fire_time: datetime | None
    reason: str = ""
    run_id: str | None = None
    """The blocking run (skip, buffer) or the run to stop (cancel)."""


class Owed(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """The fates of fires that were due, with none in the log, when a pause, update or delete
    changed the schedule (owed.py); decided then, appended by the leader. The version, timing
    and definition are those the fires were due under (their fire ids, their job)."""

    change: str
    """`paused`, `updated` or `deleted`."""
    at: datetime
    version: int
    timing: Timing
    payload: bytes
    fates: tuple[OwedFate, ...]


class Entry(msgspec.Struct, gc=False, array_like=True):
    """What the ticker knows about one live schedule.

    In a checkpoint an entry is an array of its fields, not a map: field names were ~60 % of a
    million-schedule checkpoint (420 B a schedule). So add fields at the end, with defaults,
    and change the checkpoint header when the order must change.

    why: a million of these must fit in 600 MiB, so the full definition (job, env, metadata)
    is kept as msgpack bytes and decoded only when a fire needs it, the timing is shared
    with every schedule of the same timing, next fire times come from one shared memo, the
    dicts of runs in flight exist only while runs are, and the entry is a msgspec Struct
    outside the GC (no cycle can go through it: it holds strings, times and flat dicts).
    """

    schedule_id: str
    name: str
    version: int
    timing: Timing
    payload: bytes
    active: bool = True
    floor: datetime | None = None
    """Fires at or before this are never due (creation, update, resume)."""
    last_fire: datetime | None = None
    """Newest nominal fire triggered, missed or skipped."""
    runs: int = 0
    in_flight: dict[str, datetime] | None = None
    """run id -> deadline after which it is lost (None: no run in flight); fan-out members
    too, from their first word (members.py)."""
    fires: dict[str, tuple[str, datetime]] | None = None
    """run id -> (fire id, nominal fire time) of the runs in flight (created when needed)."""
    buffered: datetime | None = None
    completed: bool = False
    generation: int = 0
    skips: dict[datetime, str] | None = None
    """Fire time -> why an operator skipped it (`schedule skip`); created when needed."""
    queued: datetime | None = None
    """The instant the ticker's queue holds this entry at (None: not queued).

    why here and not in a dict beside the queue: at a million schedules the dict cost ~35 MiB,
    this field 8 MiB. The ticker's bookkeeping, not the log's: a checkpoint stores it like the
    rest, but a restored state starts with nothing queued (`state_from`)."""
    backlog: list[datetime] | None = None
    """Fires buffered behind `buffered`, oldest first (catch-up `all` queues every fire due at
    once, each to start when the run before it ends); None when `buffered` is the only one."""

    @classmethod
    def of(
        cls, schedule_id: str, name: str, version: int, d: ScheduleDefinition, **kw: Any
    ) -> Entry:
        """An entry for a definition."""
        return cls(schedule_id, name, version, timing_of(d), packed(d), **kw)

    @property
    def definition(self) -> ScheduleDefinition:
        """The full definition (decoded on demand)."""
        t = self.timing
        return msgspec.structs.replace(_definition.decode(self.payload), spec=t.spec, tz=t.tz)

    def redefine(self, d: ScheduleDefinition) -> None:
        """Take a new definition (an update)."""
        self.timing, self.payload = timing_of(d), packed(d)

    def after(self) -> datetime | None:
        """Fires strictly after this instant are candidates."""
        # why: written out (no list, no max): this runs for every schedule on every load
        floor, last, start = self.floor, self.last_fire, self.timing.start
        point = floor if last is None or (floor is not None and floor >= last) else last
        if start is not None:
            start -= _ONE_US
            if point is None or start > point:
                return start
        return point

    def running(self) -> dict[str, datetime]:
        """Runs in flight: run id -> deadline (a fresh empty dict when there are none)."""
        return self.in_flight or {}


def packed(d: ScheduleDefinition) -> bytes:
    """The definition as msgpack, less what the shared Timing holds (spec and zone: ~35 B)."""
    return _payload.encode(msgspec.structs.replace(d, spec="", tz="UTC"))


def queued(entry: Entry) -> list[datetime]:
    """Fires buffered to run when the run ahead of them ends, oldest first."""
    if entry.buffered is None:
        return []
    return [entry.buffered, *(entry.backlog or ())]


def restored(entry: Entry) -> None:
    """An entry read from a checkpoint, made ready for the ticker."""
    # why: equal timings share one object (memory; the shared next-fire memo is keyed by it)
    entry.timing = _TIMINGS.setdefault(entry.timing, entry.timing)
    entry.queued = None  # why: the queue it was in is gone; the ticker queues it afresh
