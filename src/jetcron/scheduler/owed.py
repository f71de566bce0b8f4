"""Fires that were due when a pause, update or delete changed their schedule, with no fate in
the log yet: their fates, decided as of the change, owed until the leader appends them.

why: a pause stops fires, an update moves the schedule's floor to its own time and a delete
drops the schedule, so a fire due before the change but not yet decided (held after a take-over
for a run's result, planner.SETTLE; or due while the lease changed hands) was never decided
again: no event at all, a lost fire (the chaos bench: a held fire, then a pause). The fold
(state.py) decides such fires the moment it meets the change, by the planner's rules as of the
change's time, with what the log knew then (no hold): each replica and each restart folds the
same fates from the same log; the leader appends them under their own fire ids (the version they
were due under) and the fold settles each fate when its event is folded, so a fire gets one.

The fate of such a fire, and why: it was due while the schedule was active, so it is decided as
if the change had come a moment later: it runs if nothing blocks it (also after a pause: a pause
lets runs of fires due before it happen, as it lets running jobs finish), it is skipped for
overlap if its predecessor was in flight. Exceptions: after a delete it never runs (a delete
cancels the schedule's runs: `skipped`, with the reason); and a fate appended more than 60 s
after its fire time (no leader for that long) is `missed`, not run, whatever the catch-up policy
(the schedule is paused or changed now). Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from datetime import datetime, timedelta

import msgspec

from jetcron.domain.calendar import CalendarDefinition
from jetcron.domain.definition import LATE_DOWN, MISSED_AFTER
from jetcron.domain.events import (
    Event,
    FireBuffered,
    FireMissed,
    RunCancelRequested,
    RunSkipped,
    RunTriggered,
)
from jetcron.scheduler.entry import Entry, Owed, OwedFate, queued
from jetcron.scheduler.planner import Buffer, Cancel, Decision, Miss, Skip, Trigger, decide_due

MAX_AGE = timedelta(days=1)
"""A change older than this owes nothing (the ticker's fold passes `since`), and owed fates
older than this are not appended (a log line says so).

why: a change folded long after it was stored (a replica refolding the log) may find fires
before it whose events aged out with the retention (at least 2 days): those had a fate."""
DELETED = "deleted: the schedule was deleted before this fire was decided"


def note(
    entry: Entry,
    change: str,
    at: datetime,
    calendars: Mapping[str, CalendarDefinition],
    since: datetime | None = None,
    unstarted: Container[str] = frozenset(),
) -> Owed | None:
    """Before a change (`paused`, `updated`, `deleted`) at `at` alters `entry`: the fates of
    its fires due by then that the log has none for (usually None); a change before `since`
    owes nothing (see MAX_AGE); `unstarted`: runs in flight not started yet (decide_due)."""
    if not entry.active or entry.completed or (since is not None and at < since):
        return None
    waiting = set(queued(entry))  # why: a buffered fire has its record; the queue's rules hold
    fates: list[OwedFate] = []
    for d in reversed(decide_due(entry, at, calendars, unstarted=unstarted)):
        # why: reversed, so a cancel_previous Cancel knows the fire it makes way for
        fate = _fate(d, change, fates[0].fire_time if fates else None)
        if fate is not None and fate.fire_time not in waiting:
            fates.insert(0, fate)
    if not fates:
        return None
    return Owed(change, at, entry.version, entry.timing, entry.payload, tuple(fates))


def _fate(d: Decision, change: str, then: datetime | None) -> OwedFate | None:
    """A planner decision as an owed fate (losses and completion stay the ticker's own);
    `then` is the fire of the decision after it (what a Cancel makes way for)."""
    gone = change == "deleted"
    if isinstance(d, Trigger | Buffer) and gone:
        return OwedFate("skip", d.fire_time, DELETED)
    if isinstance(d, Trigger):
        return OwedFate("trigger", d.fire_time)
    if isinstance(d, Skip):
        return OwedFate("skip", d.fire_time, d.reason, d.blocking_run_id)
    if isinstance(d, Miss):
        return OwedFate("miss", d.fire_time, d.reason)
    if isinstance(d, Buffer):
        return OwedFate("buffer", d.fire_time, "", d.blocking_run_id)
    if isinstance(d, Cancel) and not gone:
        # why: under its fire's time, so the fire's fate settles it too (a late fire that is
        # missed, not run, stops nothing)
        return OwedFate("cancel", then, "", d.run_id)
    return None


def settle(records: list[Owed], event: Event) -> list[Owed] | None:
    """An event of the schedule was folded: the records less the owed fate it is (of its
    fire, or its cancel); None when nothing is owed any more."""
    if isinstance(event, RunTriggered | RunSkipped | FireMissed | FireBuffered):
        if isinstance(event, RunTriggered) and event.forced:
            return records  # why: an operator's run of a slot is no fate of the clock's fire
        key: tuple[datetime | None, str | None] = (event.fire_time, None)
    elif isinstance(event, RunCancelRequested):
        key = (None, event.run_id)
    else:
        return records
    kept = []
    for owed in records:
        fates = tuple(f for f in owed.fates if not _is(f, key))
        if fates:
            kept.append(owed if len(fates) == len(owed.fates) else _with(owed, fates))
    return kept or None


def _is(fate: OwedFate, key: tuple[datetime | None, str | None]) -> bool:
    fire_time, run_id = key
    if fire_time is not None:
        return fate.fire_time == fire_time
    return fate.kind == "cancel" and fate.run_id == run_id


def _with(owed: Owed, fates: tuple[OwedFate, ...]) -> Owed:
    return msgspec.structs.replace(owed, fates=fates)


def due(records: list[Owed]) -> datetime:
    """When owed fates are due: at once (the time of the change that left them owed)."""
    return min(o.at for o in records)


def stale(records: list[Owed], now: datetime) -> list[Owed]:
    """The records too old to append (MAX_AGE)."""
    return [o for o in records if now - o.at > MAX_AGE]


def decisions(entry: Entry, records: list[Owed], now: datetime) -> list[tuple[Entry, Decision]]:
    """The owed fates to append at `now`, each with the entry as it was when they were due (its
    version, timing and definition: what appends.event_for reads)."""
    out: list[tuple[Entry, Decision]] = []
    for owed in records:
        if now - owed.at > MAX_AGE:
            continue
        then = msgspec.structs.replace(
            entry, version=owed.version, timing=owed.timing, payload=owed.payload
        )
        for fate in owed.fates:
            decision = _decision(fate, owed.change, now)
            if decision is not None:
                out.append((then, decision))
    return out


def _decision(fate: OwedFate, change: str, now: datetime) -> Decision | None:
    fire = fate.fire_time
    late = fire is not None and now - fire > MISSED_AFTER
    if fate.kind == "cancel":
        assert fate.run_id is not None
        return None if late else Cancel(fate.run_id)
    assert fire is not None
    if fate.kind in ("trigger", "buffer") and late:
        # why: no leader for that long; the schedule is paused or changed now: not run late
        return Miss(fire, f"{LATE_DOWN}: found more than 60 s late, the schedule {change}")
    if fate.kind == "trigger":
        return Trigger(fire)
    if fate.kind == "buffer":
        return Buffer(fire, fate.run_id)
    if fate.kind == "skip":
        return Skip(fire, fate.reason, fate.run_id)
    return Miss(fire, fate.reason)
