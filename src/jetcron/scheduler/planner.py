"""The ticker's pure core: what each schedule must do now, given the log so far and the time.

The ticker shell feeds `TickerState.apply` every stored event (its own included) and asks
`decide_due(entry, now)` what to append. Nothing here does I/O or reads a clock.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import msgspec

from jetcron import ids
from jetcron.clock import iso_z
from jetcron.domain import claims
from jetcron.domain.calendar import CalendarDefinition, calendar_fate
from jetcron.domain.claims import CLAIMED, Claims
from jetcron.domain.definition import MISSED_AFTER, CatchUp, ScheduleDefinition
from jetcron.domain.events import (
    CalendarCreated,
    CalendarEvent,
    CalendarUpdated,
    Event,
    FireBuffered,
    FireMissed,
    FireSkipCancelled,
    FireSkipPlanned,
    RunDeferred,
    RunEvent,
    RunFailed,
    RunSkipped,
    RunStarted,
    RunTimedOut,
    RunTriggered,
    ScheduleCompleted,
    ScheduleCreated,
    ScheduleEvent,
    SchedulePaused,
    ScheduleResumed,
    ScheduleUpdated,
    StoredEvent,
    is_fanout,
    is_final,
)
from jetcron.domain.spec import (
    fires_within,
    next_fire,
    next_fire_within,
    nominal_interval,
    parse_spec,
)
from jetcron.log.snapshots import unpack
from jetcron.scheduler import members
from jetcron.scheduler.orphans import Orphan

LOST_GRACE = timedelta(seconds=60)
"""A run with no word past its timeout plus this grace is declared lost (the default of
TickerState.lost_grace)."""
NO_TIMEOUT_DEADLINE = timedelta(hours=24)
_ONE_US = timedelta(microseconds=1)


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
        return cls(schedule_id, name, version, timing_of(d), _packed(d), **kw)

    @property
    def definition(self) -> ScheduleDefinition:
        """The full definition (decoded on demand)."""
        t = self.timing
        return msgspec.structs.replace(_definition.decode(self.payload), spec=t.spec, tz=t.tz)

    def redefine(self, d: ScheduleDefinition) -> None:
        """Take a new definition (an update)."""
        self.timing, self.payload = timing_of(d), _packed(d)

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


def _packed(d: ScheduleDefinition) -> bytes:
    """The definition as msgpack, less what the shared Timing holds (spec and zone: ~35 B)."""
    return _payload.encode(msgspec.structs.replace(d, spec="", tz="UTC"))


@dataclass(frozen=True, slots=True)
class Trigger:
    fire_time: datetime


@dataclass(frozen=True, slots=True)
class Buffer:
    """Hold this fire until the run ahead of it ends (overlap buffer_one, catch-up all's queue)."""

    fire_time: datetime
    blocking_run_id: str | None = None
    """The run it waits for (None: the run in flight)."""


@dataclass(frozen=True, slots=True)
class Miss:
    fire_time: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class Skip:
    fire_time: datetime
    reason: str
    blocking_run_id: str | None


@dataclass(frozen=True, slots=True)
class Lose:
    run_id: str
    fire_id: str = ""
    fire_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class Cancel:
    run_id: str


@dataclass(frozen=True, slots=True)
class Complete:
    reason: str


Decision = Trigger | Buffer | Miss | Skip | Lose | Cancel | Complete


def jitter(fire: str, jitter_s: float, interval: timedelta | None) -> timedelta:
    """Deterministic delay in [0, jitter_s), bounded by half the interval."""
    if jitter_s <= 0:
        return timedelta(0)
    bound = jitter_s if interval is None else min(jitter_s, interval.total_seconds() / 2)
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
    """(spec, zone) -> what spec.next_fire answered: shared by every entry of that spec and zone."""

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
    """spec.next_fire for this entry, from a memo shared by all entries.

    why: schedules that share a spec and zone share their fire times, so after a burst (and
    on a load, where most of them wait from their creation or last fire) one evaluation
    serves them all; the answer depends on the spec text, zone and instant only.
    """
    t = entry.timing
    return _MEMO.fire_after(t.spec, t.tz, after)


def _lose(entry: Entry, run_id: str) -> Lose:
    """A Lose decision that names the run's fire, so the ledger learns what became of it."""
    fire_id, fire_time = (entry.fires or {}).get(run_id, ("", None))
    return Lose(run_id, fire_id, fire_time)


def overdue(entry: Entry, now: datetime) -> list[Lose]:
    """The entry's runs in flight with no word past their deadline at `now`: lost."""
    return [_lose(entry, r) for r, dl in entry.running().items() if dl <= now]


def decide_due(
    entry: Entry, now: datetime, calendars: Mapping[str, CalendarDefinition] | None = None
) -> list[Decision]:
    """Everything due for this entry at `now`; applying the resulting events advances it.

    `calendars` (by name) are those the schedule's exclude/only_within may name."""
    in_flight = entry.running()
    decisions: list[Decision] = [*overdue(entry, now)]
    running = members.blocking(in_flight, now)
    queue = queued(entry)
    if not entry.active and queue:
        # why: pausing stops fires, those waiting in a queue too (each recorded, not dropped)
        return decisions + [Skip(f, PAUSED_IN_QUEUE, None) for f in queue]
    if queue and not running:
        decisions.append(Trigger(queue[0]))
        running, queue = [pending_run_id(entry, queue[0])], queue[1:]
    if not entry.active or entry.completed:
        return decisions
    due = _due_fires(entry, now)
    taken = _taken(entry, due, calendars or {})
    if taken:
        # why: an operator's skip or a calendar decides the fire before catch-up or overlap could
        decisions += [Skip(f, why, None) for f, why in taken.items()]
        due = [f for f in due if f not in taken]
    fires = _coalesce(entry, _catch_up(entry, due, now))
    if _queues(entry, fires):
        decisions += _queue(entry, fires, running, queue)
    else:
        decisions += _overlap(entry, fires, running)
    waiting = len(queue) + sum(isinstance(d, Buffer) for d in decisions)
    if waiting or not _finite(entry, now):
        return decisions  # why: a schedule completes once nothing waits in its queue
    triggered = sum(isinstance(d, Trigger) for d in decisions)
    if upcoming_fire_after(entry, due[-1] if due else None, triggered) is None:
        decisions.append(Complete(_completion_reason(entry, triggered)))
    return decisions


PAUSED_IN_QUEUE = "paused: the schedule was paused while this fire waited for the run before it"


def queued(entry: Entry) -> list[datetime]:
    """Fires buffered to run when the run ahead of them ends, oldest first."""
    if entry.buffered is None:
        return []
    return [entry.buffered, *(entry.backlog or ())]


def _queues(entry: Entry, fires: list[Trigger | Miss | Skip]) -> bool:
    """True if these fires start one after another (catch-up `all`, an overlap policy other
    than allow, several fires to start now) instead of meeting the overlap policy.

    why: `all` promises every fire runs, oldest first, each in turn; under an overlap policy
    that forbids side-by-side runs that means one after another, not the first run and the rest
    skipped as overlapping it. A fire due alone (also one that falls due while a queue drains)
    meets the policy as always: the queue stays bounded by what one catch-up found, even when
    the job runs longer than the interval."""
    t = entry.timing
    if t.catchup.policy != "all" or t.overlap == "allow":
        return False
    return sum(isinstance(f, Trigger) for f in fires) > 1


def _queue(
    entry: Entry, fires: list[Trigger | Miss | Skip], running: list[str], queue: list[datetime]
) -> list[Decision]:
    """Fires that start one after another: the oldest now if nothing runs, each of the others
    buffered behind the run of the fire before it (the queue's tail first)."""
    ahead = pending_run_id(entry, queue[-1]) if queue else running[0] if running else None
    out: list[Decision] = []
    for f in fires:
        if not isinstance(f, Trigger):
            out.append(f)
            continue
        out.append(f if ahead is None else Buffer(f.fire_time, ahead))
        ahead = pending_run_id(entry, f.fire_time)
    return out


def _taken(
    entry: Entry, due: list[datetime], calendars: Mapping[str, CalendarDefinition]
) -> dict[datetime, str]:
    """Due fires that will not run, and why: skipped by an operator, or taken by a calendar."""
    t, skips = entry.timing, entry.skips or {}
    if not skips and not t.exclude and not t.only_within:
        return {}
    taken: dict[datetime, str] = {}
    for f in due:
        why = skips.get(f) or calendar_fate(t.exclude, t.only_within, calendars, f)
        if why is not None:
            taken[f] = why
    return taken


def _due_fires(entry: Entry, now: datetime) -> list[datetime]:
    after = entry.after()
    if after is None:
        return []
    # why: fires waiting in the queue count toward the run limit as the runs they will be
    d, memo = entry.timing, partial(fire_after, entry)
    runs = entry.runs if entry.buffered is None else entry.runs + len(queued(entry))
    first = next_fire_within(d, after, runs, fire_after=memo)
    if first is None or first > now:
        return []
    # why: the common case is one fire due; skip the range scan
    second = next_fire_within(d, first, runs + 1, fire_after=memo)
    if second is None or second > now:
        fires = [first]
    else:
        fires = fires_within(
            d, after, until=now, runs=runs, limit=max(d.catchup.max_fires, 1) + 1000
        )
    return [f for f in fires if f + _jitter_of(entry, f) <= now]


def _catch_up(entry: Entry, due: list[datetime], now: datetime) -> list[Trigger | Miss]:
    """Fires on time trigger; late ones follow the catch-up policy, each outcome recorded."""
    late = [f for f in due if now - f > MISSED_AFTER]
    on_time = [Trigger(f) for f in due if now - f <= MISSED_AFTER]
    if not late:
        return list(on_time)
    policy = entry.timing.catchup
    window_start = now - timedelta(seconds=policy.window_s)
    eligible = [f for f in late if f >= window_start]
    keep: set[datetime] = set()
    if policy.policy == "all":
        keep = set(eligible[-policy.max_fires :])
    elif policy.policy == "latest" and eligible and not on_time:
        keep = {eligible[-1]}
    out: list[Trigger | Miss] = [
        Trigger(f) if f in keep else Miss(f, _miss_reason(f, window_start, policy.policy))
        for f in late
    ]
    return out + on_time


def _coalesce(entry: Entry, fires: list[Trigger | Miss]) -> list[Trigger | Miss | Skip]:
    """Several fires due at once (a stall shorter than the catch-up grace) that may not run
    side by side: only the newest starts, the older ones are skipped as coalesced into it.

    why: starting the oldest and skipping the newer as "overlapping" a run that has only just
    started tells the operator the wrong story and runs the stalest fire; `catchup all` keeps
    the oldest-first order (it wants every fire, one after another)."""
    t = entry.timing
    if t.overlap == "allow" or t.catchup.policy == "all":
        return list(fires)
    triggers = [f for f in fires if isinstance(f, Trigger)]
    if len(triggers) < 2:
        return list(fires)
    newest = triggers[-1].fire_time
    why = f"coalesced: several fires were due at once; only the newest ({iso_z(newest)}) runs"
    return [
        Skip(f.fire_time, why, None) if isinstance(f, Trigger) and f.fire_time != newest else f
        for f in fires
    ]


def _miss_reason(fire: datetime, window_start: datetime, policy: str) -> str:
    if fire < window_start:
        return "scheduler down: fire older than the catch-up window"
    if policy == "none":
        return "scheduler down: catch-up policy is none"
    if policy == "all":
        return "scheduler down: more missed fires than catch-up max_fires"
    return "scheduler down: catch-up policy latest runs only the most recent due fire"


def _overlap(
    entry: Entry, fires: list[Trigger | Miss | Skip], running: list[str]
) -> list[Decision]:
    """Apply the overlap policy to the fires that would start now."""
    policy = entry.timing.overlap
    buffered = entry.buffered is not None
    out: list[Decision] = []
    for f in fires:
        if not isinstance(f, Trigger) or not running or policy == "allow":
            out.append(f)
        elif policy == "cancel_previous":
            out += [Cancel(r) for r in running] + [f]
        elif policy == "buffer_one" and not buffered:
            out.append(Buffer(f.fire_time))
            buffered = True
            continue
        else:
            out.append(Skip(f.fire_time, "overlap: previous run still in flight", running[0]))
            continue
        if isinstance(f, Trigger) and policy != "allow":
            running = [pending_run_id(entry, f.fire_time)]  # why: only overlap policies need it
    return out


def pending_run_id(entry: Entry, fire_time: datetime) -> str:
    """The run id a fire of this entry gets."""
    return ids.run_id_for(ids.fire_id(entry.schedule_id, entry.version, fire_time))


def upcoming_fire_after(entry: Entry, last: datetime | None, extra_runs: int) -> datetime | None:
    """The next fire after `last` had these fires been recorded (for completion)."""
    after = max([p for p in (entry.after(), last) if p is not None], default=None)
    if after is None:
        return None
    runs = entry.runs + extra_runs
    return next_fire_within(entry.timing, after, runs, fire_after=partial(fire_after, entry))


def _finite(entry: Entry, now: datetime) -> bool:
    d = entry.timing
    return (
        d.spec.startswith("@at") or d.max_runs is not None or (d.end is not None and now >= d.end)
    )


def _completion_reason(entry: Entry, triggered: int) -> str:
    d = entry.timing
    if d.spec.startswith("@at"):
        return "one-off schedule fired" if triggered or entry.runs else "one-off time has passed"
    if d.max_runs is not None and entry.runs + triggered >= d.max_runs:
        return f"run limit of {d.max_runs} reached"
    return "end of the schedule's time range"


def _jittered(entry: Entry, fire: datetime) -> datetime:
    """The fire with its jitter; the very same object without jitter (shared, not copied)."""
    return fire if entry.timing.jitter_s <= 0 else fire + _jitter_of(entry, fire)


def _jitter_of(entry: Entry, fire: datetime) -> timedelta:
    d = entry.timing
    if d.jitter_s <= 0:
        return timedelta(0)
    interval = nominal_interval(parse_spec(d.spec, d.tz), d.tz)
    return jitter(ids.fire_id(entry.schedule_id, entry.version, fire), d.jitter_s, interval)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class TickerState:
    """The ticker's projection of the log: live schedules, their last fires, runs in flight."""

    def __init__(self, lost_grace: timedelta = LOST_GRACE) -> None:
        self.lost_grace = lost_grace
        """How long past its timeout a run may stay silent before it is declared lost.

        why a setting of the fold and not of the checkpoint: a deadline is set when a run's word
        is folded; a replica restored from another's checkpoint keeps the deadlines it set."""
        self.entries: dict[str, Entry] = {}
        self.calendars: dict[str, CalendarDefinition] = {}
        """Live calendars by name (what exclude/only_within refer to)."""
        self.calendar_changes = 0
        """Counts calendar events, so a burst planned ahead knows when to decide again."""
        self.changes = 0
        """Counts applied events that created, changed or deleted an entry: while it stands
        still, every entry is as it was (a burst planned ahead is sent without looking at each)."""
        self.position = 0
        self._ahead: set[int] = set()
        self.claims = Claims()
        """Who may write each run in flight: a run event from anyone else changes nothing."""
        self.orphans: dict[str, Orphan] = {}
        """Runs in flight when their schedule was deleted, until an event of theirs is folded
        (scheduler/orphans.py: the leader cancels those nobody took)."""
        self.retired: dict[str, Entry] = {}
        """Deleted schedules' entries while runs of theirs are in flight (schedule id -> entry).

        why: a run its executor took goes on after the delete; if that executor dies, nothing
        else ends it. Its entry keeps folding the run's words and the ticker declares it lost
        past its deadline by the same rule as a live schedule's (decide_due: an inactive
        entry decides nothing else); the entry leaves when its last run ends."""

    def holds(self, entry: Entry) -> bool:
        """True if the ticker must keep looking at this entry (live, or retired with runs)."""
        sid = entry.schedule_id
        return self.entries.get(sid) is entry or self.retired.get(sid) is entry

    def folded(self, seq: int) -> bool:
        """True if the event stored at `seq` is reflected in the state."""
        return seq <= self.position or seq in self._ahead

    def apply(self, stored: StoredEvent) -> Entry | None:
        """Apply one stored event exactly once; returns the entry it touched."""
        if stored.seq <= self.position and stored.seq not in self._ahead:
            return None
        if stored.seq in self._ahead:
            self._ahead.discard(stored.seq)
            return None
        return self._apply(stored)

    def apply_ahead(self, stored: StoredEvent) -> Entry | None:
        """Apply an event we appended ourselves before the reader reaches it."""
        if stored.seq <= self.position:
            return None
        self._ahead.add(stored.seq)
        return self._apply(stored)

    @property
    def ahead(self) -> set[int]:
        """Sequences past the position that were applied ahead of the reader."""
        return self._ahead

    def restore_ahead(self, seqs: list[int]) -> None:
        """Take the ahead set of a snapshot."""
        self._ahead = {s for s in seqs if s > self.position}

    def advance(self, seq: int) -> None:
        """The reader has applied everything up to seq."""
        self.position = max(self.position, seq)
        self._ahead = {s for s in self._ahead if s > self.position}

    def _apply(self, stored: StoredEvent) -> Entry | None:
        event, at = stored.envelope.event, stored.envelope.at
        if type(event) is ScheduleCreated:
            return self._created(event, at)  # why: first, by exact type: a load is all creations
        if isinstance(event, ScheduleEvent):
            return self._schedule_event(event, at)
        if isinstance(event, CalendarEvent):
            # why: fires are checked against calendars when due, so no entry needs rescheduling
            self.calendar_changes += 1
            if isinstance(event, CalendarCreated | CalendarUpdated):
                self.calendars[event.name] = event.definition
            else:
                self.calendars.pop(event.name, None)
            return None
        entry = self.entries.get(getattr(event, "schedule_id", ""))
        if entry is None:
            if (self.orphans or self.retired) and isinstance(event, RunEvent):
                return self._retired_run(stored, event)
            return None
        if type(event) in CLAIMED and claims.check(self.claims, stored) is not None:
            return None
        _apply_fire_or_run(entry, event, at, self.lost_grace)
        entry.generation += 1
        self.changes += 1
        return entry

    def _retired_run(self, stored: StoredEvent, event: RunEvent) -> Entry | None:
        """A run event of a deleted schedule: it settles the run's orphan and moves the run on
        in its retired entry (its end lets the entry go once no other run is in flight)."""
        self.orphans.pop(event.run_id, None)
        entry = self.retired.get(event.schedule_id)
        if entry is None or claims.check(self.claims, stored) is not None:
            return None
        _apply_fire_or_run(entry, event, stored.envelope.at, self.lost_grace)
        entry.generation += 1
        self.changes += 1
        if entry.in_flight is None:
            del self.retired[entry.schedule_id]
        return entry

    def _created(self, event: ScheduleCreated, at: datetime) -> Entry:
        d = event.definition
        # why: Entry.of written out (one call less per schedule on a load)
        created = Entry(
            event.schedule_id, event.name, event.version, timing_of(d), _packed(d), floor=at
        )
        self.entries[event.schedule_id] = created
        self.changes += 1  # why: it may replace an entry of the same id
        return created

    def _schedule_event(self, event: ScheduleEvent, at: datetime) -> Entry | None:
        if isinstance(event, ScheduleCreated):
            return self._created(event, at)
        entry = self.entries.get(event.schedule_id)
        if entry is None:
            return None
        entry.version = event.version
        entry.generation += 1
        self.changes += 1
        if isinstance(event, ScheduleUpdated):
            entry.redefine(event.definition)
            entry.floor, entry.completed = at, False
        elif isinstance(event, SchedulePaused):
            entry.active = False
        elif isinstance(event, ScheduleResumed):
            entry.active, entry.floor = True, at
        elif isinstance(event, ScheduleCompleted):
            entry.completed = True
        elif isinstance(event, FireSkipPlanned):
            entry.skips = entry.skips or {}
            entry.skips[event.fire_time] = event.fate
        elif isinstance(event, FireSkipCancelled):
            _forget_skip(entry, event.fire_time)
        else:
            entry.active = False
            del self.entries[event.schedule_id]
            self._orphan(entry)
            self._retire(entry)
        return entry

    def _retire(self, entry: Entry) -> None:
        """Keep a deleted schedule's entry while runs of it are in flight (self.retired)."""
        # why: a deleted schedule fires nothing more, not what waits in its queue either
        entry.buffered, entry.backlog, entry.skips = None, None, None
        if entry.in_flight:
            self.retired[entry.schedule_id] = entry

    def _orphan(self, entry: Entry) -> None:
        """A deleted schedule's runs in flight become orphans (not fan-out members: taken)."""
        fires = entry.fires or {}
        for run_id in members.untaken(entry.in_flight or ()):
            fire_id, fire_time = fires.get(run_id, ("", entry.last_fire or _EPOCH))
            self.orphans[run_id] = Orphan(entry.schedule_id, entry.name, fire_id, fire_time)


def _apply_fire_or_run(entry: Entry, event: Event, at: datetime, grace: timedelta) -> None:
    if isinstance(event, RunTriggered):
        # why: a backfill runs a past slot: no fire of the clock, no count toward max_runs
        if not event.forced:
            entry.last_fire = _later(entry.last_fire, event.fire_time)
            entry.runs += 1
            if entry.buffered is not None:
                _unqueue(entry, event.fire_time)
        if not is_fanout(event.target):
            entry.in_flight = entry.in_flight or {}
            entry.in_flight[event.run_id] = at + _run_budget(event.timeout_s, grace)
            entry.fires = entry.fires or {}
            entry.fires[event.run_id] = (event.fire_id, event.fire_time)
    elif isinstance(event, FireMissed | RunSkipped):
        entry.last_fire = _later(entry.last_fire, event.fire_time)
        _forget_skip(entry, event.fire_time)
        if entry.buffered is not None:
            _unqueue(entry, event.fire_time)  # why: a queued fire skipped (its schedule paused)
    elif isinstance(event, FireBuffered):
        entry.last_fire = _later(entry.last_fire, event.fire_time)
        _enqueue(entry, event.fire_time)
    elif isinstance(event, RunEvent) and entry.in_flight and event.run_id in entry.in_flight:
        _apply_run(entry, event, at, entry.in_flight, grace)
    elif isinstance(event, RunEvent) and members.enters(event):
        # why: a fan-out member is a run from its first word on; then the plain rules hold
        entry.in_flight = entry.in_flight or {}
        entry.in_flight[event.run_id] = at + _run_budget(entry.timing.timeout_s, grace)
        entry.fires = entry.fires or {}
        entry.fires[event.run_id] = (event.fire_id, event.fire_time)
        _apply_run(entry, event, at, entry.in_flight, grace)


class TickerSnapshot(msgspec.Struct, kw_only=True):
    """TickerState as stored: its position with everything folded up to it (a checkpoint)."""

    position: int
    ahead: list[int]
    """Sequences past `position` already applied (our own appends), skipped when read."""
    calendars: dict[str, CalendarDefinition]
    calendar_changes: int
    entries: list[Entry]
    claims: Claims = msgspec.field(default_factory=Claims)
    orphans: dict[str, Orphan] = {}
    retired: list[Entry] = []


_SNAPSHOT_HEADER = b"JCT\x00\x04"
"""Version 4: deleted schedules' entries with runs in flight (`retired`); version 3 put fan-out
members among the runs in flight (members.py); version 2 put entries and timings as arrays. An
older checkpoint is ignored: the ticker then folds from sequence 1 once (a version 3 state would
not know a deleted schedule's runs still in flight, nor a version 2 one the members running)."""
_snapshot_encoder = msgspec.msgpack.Encoder()
_snapshot_decoder = msgspec.msgpack.Decoder(TickerSnapshot)


def snapshot_of(state: TickerState) -> bytes:
    """The state and its position as versioned msgpack bytes (one blob, so never half a state)."""
    record = TickerSnapshot(
        position=state.position,
        ahead=sorted(state.ahead),
        calendars=state.calendars,
        calendar_changes=state.calendar_changes,
        entries=list(state.entries.values()),
        claims=state.claims,
        orphans=state.orphans,
        retired=list(state.retired.values()),
    )
    return _SNAPSHOT_HEADER + _snapshot_encoder.encode(record)


def state_from(data: bytes, lost_grace: timedelta = LOST_GRACE) -> TickerState | None:
    """A TickerState from snapshot_of bytes; None if they are of another version or unreadable."""
    record = unpack(data, _SNAPSHOT_HEADER, _snapshot_decoder)
    if record is None:
        return None
    state = TickerState(lost_grace)
    state.position, state.calendar_changes = record.position, record.calendar_changes
    state.calendars, state.claims = record.calendars, record.claims
    state.orphans = record.orphans
    state.restore_ahead(record.ahead)
    for entry in record.entries:
        _restored(entry)
        state.entries[entry.schedule_id] = entry
    for entry in record.retired:
        _restored(entry)
        state.retired[entry.schedule_id] = entry
    return state


def _restored(entry: Entry) -> None:
    """An entry read from a checkpoint, made ready for the ticker."""
    # why: equal timings share one object (memory; the shared next-fire memo is keyed by it)
    entry.timing = _TIMINGS.setdefault(entry.timing, entry.timing)
    entry.queued = None  # why: the queue it was in is gone; the ticker queues it afresh


def _enqueue(entry: Entry, fire_time: datetime) -> None:
    """A buffered fire joins the entry's queue (kept oldest first, each fire once)."""
    queue = set(queued(entry))
    queue.add(fire_time)
    first, *rest = sorted(queue)
    entry.buffered, entry.backlog = first, rest or None


def _unqueue(entry: Entry, fire_time: datetime) -> None:
    """A fire of the queue was triggered or skipped: it leaves the queue."""
    rest = [f for f in queued(entry) if f != fire_time]
    entry.buffered = rest[0] if rest else None
    entry.backlog = rest[1:] or None


def _forget_skip(entry: Entry, fire_time: datetime) -> None:
    if entry.skips is not None:
        entry.skips.pop(fire_time, None)
        entry.skips = entry.skips or None  # why: no empty dict kept per schedule


def _apply_run(
    entry: Entry, event: RunEvent, at: datetime, in_flight: dict[str, datetime], grace: timedelta
) -> None:
    if is_final(event):
        in_flight.pop(event.run_id, None)
        entry.in_flight = in_flight or None  # why: no empty dict kept per schedule
        if entry.fires is not None:
            entry.fires.pop(event.run_id, None)
            entry.fires = entry.fires or None  # why: no empty dict kept per schedule
        return
    timeout = entry.timing.timeout_s
    resume = at
    if isinstance(event, RunFailed | RunTimedOut) and event.next_retry_at is not None:
        resume = event.next_retry_at
    elif isinstance(event, RunDeferred) and event.next_attempt_at is not None:
        resume = event.next_attempt_at
    elif not isinstance(event, RunStarted):
        return
    in_flight[event.run_id] = max(in_flight[event.run_id], resume + _run_budget(timeout, grace))


def _run_budget(timeout_s: float | None, grace: timedelta) -> timedelta:
    base = NO_TIMEOUT_DEADLINE if timeout_s is None else timedelta(seconds=timeout_s)
    return base + grace


def _later(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b > a else a
