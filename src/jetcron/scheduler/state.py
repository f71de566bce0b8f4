"""The ticker's projection of the log: live schedules' entries, calendars, runs in flight.

The ticker shell feeds `TickerState.apply` every stored event (its own included), exactly once
each, and asks planner.decide_due what each entry must do. Pure: no I/O, no clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from jetcron.domain import claims
from jetcron.domain.calendar import CalendarDefinition
from jetcron.domain.claims import CLAIMED, Claims
from jetcron.domain.envelope import StoredEvent
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
    RunHandedBack,
    RunSkipped,
    RunStarted,
    RunTimedOut,
    RunTriggered,
    ScheduleCompleted,
    ScheduleCreated,
    ScheduleDeleted,
    ScheduleEvent,
    SchedulePaused,
    ScheduleResumed,
    ScheduleUpdated,
)
from jetcron.domain.runs import is_fanout, is_final
from jetcron.scheduler import members, owed
from jetcron.scheduler.entry import (
    LOST_GRACE,
    Entry,
    Owed,
    packed,
    queued,
    run_budget,
    timing_of,
)
from jetcron.scheduler.orphans import Orphan

__all__ = ["LOST_GRACE", "TickerState"]

_CHANGES = {SchedulePaused: "paused", ScheduleUpdated: "updated", ScheduleDeleted: "deleted"}
"""The schedule events after which fires due before them are decided at once (owed.py)."""


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
        entry decides nothing else); the entry leaves when its last run ends, and once it owes
        no fate (owed.py)."""
        self.owed: dict[str, list[Owed]] = {}
        """Schedule id -> fates owed to fires due before its last pause, update or delete
        (owed.py), until their events are folded. Rare, so beside the entries, not in them.

        why: a field on Entry costs 8 MiB per million schedules for what is almost always
        empty; a deleted schedule's entry stays `retired` while it owes."""
        self.unstarted: set[str] = set()
        """Runs in flight no executor has started: triggered (or handed back) with no
        `run.started` folded since; an overlap skip for one says so (planner).

        why beside the entries, as `owed`: a field on Entry costs 8 MiB per million schedules
        for what a run is only for a moment (between its trigger and its start)."""
        self.owed_since: datetime | None = None
        """A pause, update or delete before this owes no fates (owed.MAX_AGE); the ticker sets
        it from its clock before each batch (None: every change may)."""

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
            if self.owed:
                return self._retired_fire(event)
            return None
        if type(event) in CLAIMED and claims.check(self.claims, stored) is not None:
            return None
        if self.owed:
            self._settle(entry, event)
        _apply_fire_or_run(entry, event, at, self.lost_grace)
        self._note_start(entry, event)
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
        if self.owed:
            self._settle(entry, event)
        _apply_fire_or_run(entry, event, stored.envelope.at, self.lost_grace)
        self._note_start(entry, event)
        entry.generation += 1
        self.changes += 1
        self.release(entry)
        return entry

    def _retired_fire(self, event: Event) -> Entry | None:
        """A fate (or cancel) of a deleted schedule's owed fire: owed no more (owed.py)."""
        entry = self.retired.get(getattr(event, "schedule_id", ""))
        if entry is None or entry.schedule_id not in self.owed:
            return None
        self._settle(entry, event)
        entry.generation += 1
        self.changes += 1
        self.release(entry)
        return entry

    def _note_start(self, entry: Entry, event: Event) -> None:
        """Keep `unstarted`: a run in flight enters with its trigger or a hand-back (its
        attempt never started), and leaves with its start or its end."""
        if isinstance(event, RunTriggered | RunHandedBack):
            if entry.in_flight is not None and event.run_id in entry.in_flight:
                self.unstarted.add(event.run_id)
        elif self.unstarted and isinstance(event, RunEvent):
            run_id = event.run_id
            if (
                type(event) is RunStarted
                or entry.in_flight is None
                or run_id not in entry.in_flight
            ):
                self.unstarted.discard(run_id)

    def _settle(self, entry: Entry, event: Event) -> None:
        """If `event` is the fate of one of `entry`'s owed fires, it is owed no more."""
        sid = entry.schedule_id
        records = self.owed.get(sid)
        if records is not None and (left := owed.settle(records, event)) is not records:
            if left is None:
                del self.owed[sid]
            else:
                self.owed[sid] = left

    def forget(self, entry: Entry, records: list[Owed]) -> None:
        """Drop these owed records of the entry (the ticker found them too old to append)."""
        sid = entry.schedule_id
        left = [o for o in self.owed.get(sid, ()) if o not in records]
        if left:
            self.owed[sid] = left
        else:
            self.owed.pop(sid, None)
            self.release(entry)

    def release(self, entry: Entry) -> None:
        """Let a deleted schedule's entry go once no run of it is in flight and it owes no
        fate."""
        sid = entry.schedule_id
        if entry.in_flight is None and sid not in self.owed and self.retired.get(sid) is entry:
            del self.retired[sid]

    def _created(self, event: ScheduleCreated, at: datetime) -> Entry:
        d = event.definition
        # why: Entry.of written out (one call less per schedule on a load)
        created = Entry(
            event.schedule_id, event.name, event.version, timing_of(d), packed(d), floor=at
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
        if isinstance(event, SchedulePaused | ScheduleUpdated | ScheduleDeleted):
            # why: before the change: fires due by then with no fate are decided now (owed.py)
            self._note(entry, _CHANGES[type(event)], at)
        entry.version = event.version
        entry.generation += 1
        self.changes += 1
        if isinstance(event, ScheduleUpdated):
            entry.redefine(event.definition)
            # why: the aggregate's rule (status_after_update): completed stays so unless reopened
            entry.floor, entry.completed = at, entry.completed and not event.reopens
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

    def _note(self, entry: Entry, change: str, at: datetime) -> None:
        """Before a pause, update or delete: what the fires due by then are owed (owed.note)."""
        record = owed.note(entry, change, at, self.calendars, self.owed_since, self.unstarted)
        if record is not None:
            self.owed.setdefault(entry.schedule_id, []).append(record)

    def _retire(self, entry: Entry) -> None:
        """Keep a deleted schedule's entry while runs of it are in flight (self.retired)."""
        # why: a deleted schedule fires nothing more, not what waits in its queue either
        entry.buffered, entry.backlog, entry.skips = None, None, None
        if entry.in_flight or entry.schedule_id in self.owed:
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
            entry.in_flight[event.run_id] = at + run_budget(event.timeout_s, grace)
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
        entry.in_flight[event.run_id] = at + run_budget(entry.timing.timeout_s, grace)
        entry.fires = entry.fires or {}
        entry.fires[event.run_id] = (event.fire_id, event.fire_time)
        _apply_run(entry, event, at, entry.in_flight, grace)


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
    in_flight[event.run_id] = max(in_flight[event.run_id], resume + run_budget(timeout, grace))


def _later(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b > a else a
