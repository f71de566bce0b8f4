"""How fire and run events fold into the fire ledger: one entry per nominal fire, its fate
recorded once, a triggered fire following its run (or its fan-out members) to the end, each
settled entry joining its schedule's window."""

from __future__ import annotations

from collections.abc import Callable
from sys import intern
from typing import Any

from jetcron.domain.envelope import StoredEvent
from jetcron.domain.events import (
    FireBuffered,
    FireEvent,
    FireMissed,
    RunCancelled,
    RunDeferred,
    RunEvent,
    RunFailed,
    RunLost,
    RunSkipped,
    RunStarted,
    RunSucceeded,
    RunTimedOut,
    RunTriggered,
    ScheduleDeleted,
)
from jetcron.domain.runs import IN_FLIGHT, is_fanout
from jetcron.projections import fanout
from jetcron.projections.ledger import LedgerEntry, LedgerView, Outcome
from jetcron.projections.runs import (
    MAY_RETRY,
    OUTCOMES,
    PHASE_DEFERRED,
    PHASE_RETRYING,
    PHASE_STARTED,
    failure_text,
    is_behind,
)
from jetcron.projections.window import unindex


def _record(
    view: LedgerView, event: FireEvent, stored: StoredEvent, outcome: Outcome
) -> LedgerEntry | None:
    fire_id = event.fire_id
    old = view.entries.get(fire_id)
    if old is None and view.queued:
        old = _queued(view, event)
    if old is not None and not _overrides(old.outcome, outcome):
        return None
    entry = LedgerEntry(
        fire_id=fire_id,
        schedule=intern(event.name),
        schedule_id=intern(event.schedule_id),
        fire_time=event.fire_time,
        outcome=outcome,
        recorded_at=stored.envelope.at,
        seq=stored.seq,
        actor=intern(stored.envelope.actor),
        first_seq=stored.seq if old is None else old.first_seq,
    )
    if old is not None and old.outcome == "buffered":
        entry.buffered_at, entry.blocking_run_id = old.recorded_at, old.blocking_run_id
        view.queued.pop(_slot(event), None)
    elif outcome == "buffered":
        view.queued[_slot(event)] = fire_id
    view.entries[fire_id] = entry
    if old is None:
        _index(view, entry)
    elif old.fire_id != fire_id:
        del view.entries[old.fire_id]  # why: the fire goes on under the id its run events carry
        keys = view.by_schedule[entry.schedule]
        keys[keys.index(old.fire_id)] = fire_id
    return entry


def _overrides(old: Outcome, new: Outcome) -> bool:
    """Whether a fate recorded after another one of the same fire replaces it.

    why: a fire has one fate; a buffered fire is triggered when the run ahead of it ends, or
    skipped when its schedule is paused while it waits; only a run may override an earlier
    missed or skipped record."""
    return (old == "buffered" and new != "buffered") or (old != "triggered" and new == "triggered")


def _queued(view: LedgerView, event: FireEvent) -> LedgerEntry | None:
    """The entry of this fire if it waits buffered under another fire id (view.queued)."""
    fire_id = view.queued.get(_slot(event))
    return None if fire_id is None else view.entries.get(fire_id)


def _slot(event: FireEvent) -> str:
    """A fire of a schedule whatever the version in force (the key of view.queued)."""
    return f"{event.schedule_id} {event.fire_time.isoformat()}"


def _index(view: LedgerView, entry: LedgerEntry) -> None:
    """A new fire under its schedule."""
    keys = view.by_schedule.get(entry.schedule)
    if keys is None:
        view.by_schedule[entry.schedule] = [entry.fire_id]
    else:
        keys.append(entry.fire_id)


def _on_triggered(view: LedgerView, event: RunTriggered, stored: StoredEvent) -> None:
    # why: manual runs are not fires of the spec; the runs view has them.
    if event.manual:
        return
    fire_id = event.fire_id
    if fire_id not in view.entries and not (view.queued and _slot(event) in view.queued):
        # why: the common case, built whole (Struct field stores are generic setattrs, the
        # constructor's keywords are not): what _record and the lines below would make
        env, seq = stored.envelope, stored.seq
        new = view.entries[fire_id] = LedgerEntry(
            fire_id=fire_id,
            schedule=intern(event.name),
            schedule_id=intern(event.schedule_id),
            fire_time=event.fire_time,
            outcome="triggered",
            recorded_at=env.at,
            run_id=event.run_id,
            status="triggered",
            seq=seq,
            actor=intern(env.actor),
            attempt=1,
            first_seq=seq,
            backfill_of=event.backfill_of,
            fanout=is_fanout(event.target),
        )
        if event.jitter_s:
            new.jitter_s = event.jitter_s  # why: only then: stored as before without one
        keys = view.by_schedule.get(new.schedule)  # why: _index inline: once per run
        if keys is None:
            view.by_schedule[new.schedule] = [fire_id]
        else:
            keys.append(fire_id)
        return
    entry = _record(view, event, stored, "triggered")
    if entry is not None:
        entry.run_id = event.run_id
        if event.jitter_s:
            entry.jitter_s = event.jitter_s
        entry.backfill_of = event.backfill_of
        entry.fanout = is_fanout(event.target)
        entry.status, entry.attempt = "triggered", 1


def _on_missed(view: LedgerView, event: FireMissed, stored: StoredEvent) -> None:
    entry = _record(view, event, stored, "missed")
    if entry is not None:
        entry.reason = event.reason
        _settle(view, entry)


def _on_skipped(view: LedgerView, event: RunSkipped, stored: StoredEvent) -> None:
    entry = _record(view, event, stored, "skipped")
    if entry is not None:
        entry.reason = event.reason
        # why: a buffered fire skipped by a pause keeps the run it waited for
        entry.blocking_run_id = event.blocking_run_id or entry.blocking_run_id
        _settle(view, entry)


def _on_buffered(view: LedgerView, event: FireBuffered, stored: StoredEvent) -> None:
    entry = _record(view, event, stored, "buffered")
    if entry is not None:
        entry.blocking_run_id = event.blocking_run_id or ""


def _run_entry(view: LedgerView, event: RunEvent) -> LedgerEntry | None:
    """The entry of this run's fire while the run is in flight (None once it ended)."""
    entry = view.entries.get(event.fire_id)
    if entry is None or entry.run_id != event.run_id or entry.status not in IN_FLIGHT:
        return None
    return entry


def _progress(
    entry: LedgerEntry, event: RunEvent, stored: StoredEvent, status: str, phase: int
) -> None:
    # why: redelivered progress must not move the fire backwards (the runs view's rank rule)
    attempt = event.attempt
    if is_behind(entry.status, entry.attempt, attempt, phase):
        return
    entry.status, entry.attempt = status, attempt
    executor = event.executor
    if executor and executor != entry.executor:  # why: a Struct field store is a generic setattr
        entry.executor = intern(executor)
    env = stored.envelope
    entry.result_seq, entry.result_at, entry.result_actor = stored.seq, env.at, intern(env.actor)


def _on_started(view: LedgerView, event: RunStarted, stored: StoredEvent) -> None:
    # why: _run_entry inline: once per attempt in the replay hot loop
    entry = view.entries.get(event.fire_id)
    if entry is None:
        return
    if entry.run_id == event.run_id and entry.status in IN_FLIGHT:
        _progress(entry, event, stored, "running", PHASE_STARTED)
    elif entry.fanout:
        _member(view, entry, event, stored, "running", PHASE_STARTED)


def _on_deferred(view: LedgerView, event: RunDeferred, stored: StoredEvent) -> None:
    fan = view.entries.get(event.fire_id)
    if fan is not None and fan.fanout and fan.run_id != event.run_id:
        _member(view, fan, event, stored, "deferred", PHASE_DEFERRED, event.reason)
        return
    entry = _run_entry(view, event)
    if entry is not None:
        _progress(entry, event, stored, "deferred", PHASE_DEFERRED)
        entry.detail = event.reason


def _on_result(view: LedgerView, event: RunEvent, stored: StoredEvent) -> None:
    # why: _run_entry inline: once per run in the replay hot loop
    entry = view.entries.get(event.fire_id)
    if entry is None:
        return
    if entry.run_id != event.run_id or entry.status not in IN_FLIGHT:
        if entry.fanout and entry.run_id != event.run_id:
            _member_result(view, entry, event, stored)
        return
    # why: the first final outcome wins, as in the runs view; a failure with a retry is progress
    # (exact type tests: isinstance on Struct classes costs ~5x in this hot loop)
    kind = type(event)
    retrying = kind in MAY_RETRY and event.next_retry_at is not None  # type: ignore[attr-defined]
    if retrying:
        _progress(entry, event, stored, "retrying", PHASE_RETRYING)
    else:
        attempt = event.attempt
        entry.status = OUTCOMES[kind]
        if attempt > entry.attempt:
            entry.attempt = attempt
        executor = event.executor
        if executor and executor != entry.executor:  # why: mostly its start's already
            entry.executor = intern(executor)
        env = stored.envelope
        entry.result_seq, entry.result_at = stored.seq, env.at
        entry.result_actor = intern(env.actor)  # why: a few executors, one object each
    if kind is not RunSucceeded:
        entry.detail = _detail(event)
    if not retrying:
        _settle(view, entry)


def _member_result(
    view: LedgerView, entry: LedgerEntry, event: RunEvent, stored: StoredEvent
) -> None:
    """A fan-out member's result: another attempt follows (retrying), or its end."""
    kind = type(event)
    detail = "" if kind is RunSucceeded else _detail(event)
    if kind in MAY_RETRY and event.next_retry_at is not None:  # type: ignore[attr-defined]
        _member(view, entry, event, stored, "retrying", PHASE_RETRYING, detail)
    else:
        _member(view, entry, event, stored, OUTCOMES[kind], 0, detail)


def _member(
    view: LedgerView,
    entry: LedgerEntry,
    event: RunEvent,
    stored: StoredEvent,
    status: str,
    phase: int,
    detail: str = "",
) -> None:
    """One member's run moved (phase 0: it ended); the fire's status follows its members'."""
    name = fanout.member_of(entry.run_id, event.run_id)
    if not name:
        return
    members = entry.members
    if members is None:
        members = entry.members = {}
    if not fanout.step(members, name, status, phase, event.attempt, detail):
        return
    env = stored.envelope
    entry.result_seq, entry.result_at, entry.result_actor = stored.seq, env.at, intern(env.actor)
    told = fanout.summary(members)
    entry.status, entry.attempt, entry.executor = told.status, told.attempt, told.executor
    entry.detail = told.detail
    if entry.status in IN_FLIGHT or entry.windowed:
        return
    entry.windowed = True
    _settle(view, entry)


def _on_deleted(view: LedgerView, event: ScheduleDeleted, stored: StoredEvent) -> None:
    """A deleted schedule's fan-out fires no member took end cancelled (a member that started
    at that very moment reopens its fire, as any late member does).

    why: its other runs nobody took are cancelled by events (scheduler/orphans.py); a fan-out
    has no run to cancel, and its fire would wait for a member forever.
    """
    untaken = [
        e
        for e in (view.entries[k] for k in view.by_schedule.get(event.name, ()))
        if e.fanout and not e.members and e.status == "triggered"
        and e.schedule_id == event.schedule_id
    ]  # fmt: skip
    if view.queued:  # why: what waited in a deleted schedule's queue is never run
        prefix = f"{event.schedule_id} "
        for slot in [k for k in view.queued if k.startswith(prefix)]:
            del view.queued[slot]
    env = stored.envelope
    for entry in untaken:  # why: settling may evict from the index; it is not walked meanwhile
        entry.status, entry.detail = "cancelled", "schedule deleted"
        entry.result_seq, entry.result_at = stored.seq, env.at
        entry.result_actor = intern(env.actor)
        entry.windowed = True
        _settle(view, entry)


def _is_settled(entry: LedgerEntry) -> bool:
    if entry.outcome == "triggered":
        return entry.status not in IN_FLIGHT
    return entry.outcome != "buffered"


def _settle(view: LedgerView, entry: LedgerEntry) -> None:
    """An entry's fate is final: it joins its schedule's window (the oldest beyond keep goes)."""
    keys = view.settled.get(entry.schedule)
    if keys is None:
        view.settled[entry.schedule] = [entry.fire_id]
        return
    keys.append(entry.fire_id)
    if not view.keep or len(keys) <= view.keep:
        return
    old = view.entries.get(keys.pop(0))
    # why: a missed fire may be triggered later (a run in flight is never evicted)
    if old is not None and _is_settled(old):
        del view.entries[old.fire_id]
        unindex(view.by_schedule, entry.schedule, old.fire_id)
    elif old is not None and old.fanout:
        old.windowed = False  # why: reopened by a late member: it joins again when it settles


def _detail(event: RunEvent) -> str:
    line = next(iter(failure_text(event).strip().splitlines()), "")
    if not line and isinstance(event, RunFailed) and event.exit_code is not None:
        return f"exit code {event.exit_code}"
    return line


Handler = Callable[[LedgerView, Any, StoredEvent], None]
HANDLERS: dict[type, Handler] = {
    RunTriggered: _on_triggered,
    FireMissed: _on_missed,
    RunSkipped: _on_skipped,
    FireBuffered: _on_buffered,
    RunStarted: _on_started,
    RunDeferred: _on_deferred,
    RunSucceeded: _on_result,
    RunFailed: _on_result,
    RunTimedOut: _on_result,
    RunCancelled: _on_result,
    RunLost: _on_result,
    ScheduleDeleted: _on_deleted,
}
"""Event type -> fold step; the container routes events through this table."""
