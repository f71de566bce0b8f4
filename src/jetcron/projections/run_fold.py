"""How run events fold into the runs view: a row per run that only moves forward, each final
row counted into its day and its schedule's window."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from sys import intern
from typing import Any

from jetcron.domain.digest import TIMED, add_bucketed, bucket, day_of
from jetcron.domain.envelope import StoredEvent, who
from jetcron.domain.events import (
    FireEvent,
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
    StatsRolledUp,
)
from jetcron.domain.lateness import lateness_s
from jetcron.domain.runs import FANNED_OUT, IN_FLIGHT, RunStatus, fanout_parent, is_fanout
from jetcron.projections import tallies
from jetcron.projections.runs import (
    CLOSED,
    FINAL_STATUSES,
    PHASE_DEFERRED,
    PHASE_RETRYING,
    PHASE_STARTED,
    STATUS_PHASE,
    OpenDay,
    RunRow,
    RunsView,
    failure_text,
    is_behind,
)
from jetcron.projections.tallies import settled as tally_settled
from jetcron.projections.window import push, unindex


def _new_row(
    view: RunsView,
    event: FireEvent,
    key: str,
    run_id: str,
    status: RunStatus,
    seq: int,
    *,
    triggered_at: datetime | None = None,
    triggered_by: str = "",
    trigger_reason: str = "",
    target: str = "",
    manual: bool = False,
    backfill_of: str = "",
) -> RunRow:
    """A new row, held by key, in flight unless final, under its schedule; a trigger's fields
    are given here (why: a store into a Struct field is a generic setattr, ~55 ns each, the
    constructor's keywords are not)."""
    row = RunRow(
        run_id=run_id,
        schedule=intern(event.name),
        schedule_id=intern(event.schedule_id),
        fire_id=event.fire_id,
        fire_time=event.fire_time,
        status=status,
        seq=seq,
        triggered_at=triggered_at,
        triggered_by=intern(triggered_by),
        trigger_reason=trigger_reason,
        target=intern(target),
        manual=manual,
        backfill_of=backfill_of,
    )
    view.rows[key] = row
    if status in IN_FLIGHT:
        view.tallies.flight[key] = None  # why: tallies.opened, inline: once per run
    if triggered_at is None and "-" in run_id:
        _inherit(view, row)
    keys = view.by_schedule.get(event.name)
    if keys is None:
        view.by_schedule[event.name] = [key]
    else:
        keys.append(key)
    return row


def _inherit(view: RunsView, row: RunRow) -> None:
    """A fan-out member's new row takes what its trigger said (target, who, manual, backfill)."""
    parent = view.rows.get(fanout_parent(row.run_id))
    if parent is None or parent.status != FANNED_OUT:
        return
    row.triggered_at, row.triggered_by = parent.triggered_at, parent.triggered_by
    row.trigger_reason, row.target = parent.trigger_reason, parent.target
    row.manual, row.backfill_of = parent.manual, parent.backfill_of
    if parent.jitter_s:
        row.jitter_s = parent.jitter_s


def _fanned_out(view: RunsView, key: str, row: RunRow) -> None:
    """A fan-out trigger's row joins its schedule's window of them (the oldest beyond keep goes)."""
    evicted = push(view.fans, row.schedule, key, view.keep)
    if evicted is not None and view.rows.pop(evicted, None) is not None:
        unindex(view.by_schedule, row.schedule, evicted)


def _row(view: RunsView, event: RunEvent, seq: int) -> RunRow:
    row = view.rows.get(event.run_id)
    if row is None:
        # why: a run whose trigger is outside our history (retention) is still a run.
        row = _new_row(view, event, event.run_id, event.run_id, "triggered", seq)
    return row


def _settled(view: RunsView, key: str, row: RunRow) -> None:
    """A row just became final: count it into its day, then keep only the last `keep`."""
    # why: this runs once per run in the replay hot loop, so it is written flat
    sid, status, duration, lateness = row.schedule_id, row.status, row.duration_s, row.lateness_s
    day = day_of(row.fire_time)
    duration_i = bucket(duration) if duration is not None and status in TIMED else None
    lateness_i = bucket(lateness) if lateness is not None else None
    if not view.rolled or view.rolled.get(sid, "") < day:
        day_key = f"{sid}/{day}"
        open_day = view.days.get(day_key)
        if open_day is None:
            open_day = view.days[day_key] = OpenDay(schedule_id=sid, name=row.schedule, day=day)
            view.opened[sid] = view.opened.get(sid, 0) + 1
        add_bucketed(open_day.digest, status, duration_i, lateness_i, duration, row.finished_at)
    tally_settled(view.tallies, key, row, day, duration_i, lateness_i)
    keys = view.finished.get(row.schedule)
    if keys is None:
        view.finished[row.schedule] = [key]
        return
    keys.append(key)
    if view.keep and len(keys) > view.keep:
        evicted = keys.pop(0)
        gone = view.rows.pop(evicted, None)
        if gone is not None:
            unindex(view.by_schedule, row.schedule, evicted)
            tallies.evicted(view.tallies, gone, view.rows, keys)


def _on_rolled_up(view: RunsView, event: StatsRolledUp, stored: StoredEvent) -> None:
    # why: from now on the rollup speaks for this day; later results of it are not counted
    if view.days.pop(f"{event.schedule_id}/{event.day}", None) is not None:
        left = view.opened[event.schedule_id] - 1
        if left:
            view.opened[event.schedule_id] = left
        else:
            del view.opened[event.schedule_id]
    if view.rolled.get(event.schedule_id, "") < event.day:
        view.rolled[event.schedule_id] = event.day
    tallies.touch(view.tallies, event.schedule_id, event.name)


def _on_triggered(view: RunsView, event: RunTriggered, stored: StoredEvent) -> None:
    run_id = event.run_id
    row = view.rows.get(run_id)
    if row is None:
        env = stored.envelope
        # why: a fan-out trigger is no run: each member runs it as `<run id>-<executor>`
        fan = is_fanout(event.target)
        row = _new_row(
            view,
            event,
            run_id,
            run_id,
            FANNED_OUT if fan else "triggered",
            stored.seq,
            triggered_at=env.at,
            triggered_by=who(env),  # why: the person a gateway acted for too
            trigger_reason=env.reason,
            target=event.target,
            manual=event.manual,
            backfill_of=event.backfill_of,
        )
        if event.jitter_s:
            # why: only then: a row without one is stored as before (omit_defaults leaves out
            # only the default object itself, not an equal 0.0)
            row.jitter_s = event.jitter_s
        if fan:
            _fanned_out(view, run_id, row)
        return
    if row.triggered_at is not None:
        return
    # why: a trigger folded after its run's start or result (redelivery) may still clear its
    # lateness (a backfill) or take its jitter out of it
    rejitter = bool(event.jitter_s) and row.lateness_s is not None and not event.backfill_of
    final = row.status in FINAL_STATUSES and (bool(event.backfill_of) or rejitter)
    before = tallies.changing(view.tallies, row) if final else ""
    env = stored.envelope
    row.triggered_at = env.at
    row.triggered_by = who(env)
    row.trigger_reason = env.reason
    row.target = event.target
    row.manual = event.manual
    row.backfill_of = event.backfill_of
    if event.jitter_s:
        row.jitter_s = event.jitter_s
    if event.backfill_of:
        row.lateness_s = None  # why: its start may have been folded first
    elif rejitter and row.started_at is not None:
        row.lateness_s = lateness_s(row.started_at, row.fire_time, row.jitter_s)
    if final:
        _changed(view, row, before)


def _changed(view: RunsView, row: RunRow, before: str) -> None:
    """A kept final row changed: count it again (tallies.changing took it out)."""
    tallies.changed(view.tallies, row, before, view.rows, view.finished.get(row.schedule, ()))


def _on_skipped(view: RunsView, event: RunSkipped, stored: StoredEvent) -> None:
    if event.fire_id not in view.rows:
        row = _new_row(view, event, event.fire_id, "", "skipped", stored.seq)
        row.reason = event.reason
        _settled(view, event.fire_id, row)


def _on_started(view: RunsView, event: RunStarted, stored: StoredEvent) -> None:
    # why: _row and is_behind inline: once per attempt in the replay hot loop
    row = view.rows.get(event.run_id)
    if row is None:
        row = _new_row(view, event, event.run_id, event.run_id, "triggered", stored.seq)
    status = row.status
    # why: a start folded after its run's result still tells its lateness (and executor)
    final = status in FINAL_STATUSES and (row.started_at is None or not row.executor)
    before = tallies.changing(view.tallies, row) if final else ""
    if row.started_at is None:
        # why: a start that arrives after its result (redelivery) still tells us when it began.
        row.started_at = at = stored.envelope.at
        # why: a backfill starts long after its fire time on purpose; no lateness to count
        row.lateness_s = None if row.backfill_of else lateness_s(at, row.fire_time, row.jitter_s)
    executor, attempt = event.executor, event.attempt
    current = STATUS_PHASE.get(status)
    # why: each store below is a generic setattr on a Struct, so none is made twice or for nothing
    if current is not None and attempt * 4 + PHASE_STARTED >= row.attempt * 4 + current:
        row.status = "running"
        if row.attempt != attempt:
            row.attempt = attempt
        row.executor = intern(executor)
        if row.next_retry_at is not None:
            row.next_retry_at = None
    elif not row.executor:
        row.executor = intern(executor)
    if final:
        _changed(view, row, before)


def _on_deferred(view: RunsView, event: RunDeferred, stored: StoredEvent) -> None:
    row = _row(view, event, stored.seq)
    if not is_behind(row.status, row.attempt, event.attempt, PHASE_DEFERRED):
        row.status = "deferred"
        row.attempt = event.attempt
        row.reason = event.reason
        row.deferrals = max(row.deferrals, event.deferrals)
        row.next_retry_at = event.next_attempt_at
        if event.executor:
            row.executor = event.executor


def _on_succeeded(view: RunsView, event: RunSucceeded, stored: StoredEvent) -> None:
    # why: _row inline: once per run in the replay hot loop
    run_id = event.run_id
    row = view.rows.get(run_id)
    if row is None:
        row = _new_row(view, event, run_id, run_id, "triggered", stored.seq)
    if row.status not in CLOSED:
        _finish(row, event, "succeeded", stored.envelope.at)
        row.exit_code = event.exit_code
        row.duration_s = event.duration_s
        if row.error:
            row.error = ""
        _settled(view, row.run_id, row)  # why: the key object, not its copy


def _on_failed(view: RunsView, event: RunFailed, stored: StoredEvent) -> None:
    row = _row(view, event, stored.seq)
    if _attempt_failed(row, event, "failed", stored.envelope.at, event.next_retry_at):
        row.exit_code = event.exit_code
        row.failure_class = event.failure_class
        row.error = event.error
        row.duration_s = event.duration_s
        if event.next_retry_at is None:
            _settled(view, row.run_id, row)


def _on_timed_out(view: RunsView, event: RunTimedOut, stored: StoredEvent) -> None:
    row = _row(view, event, stored.seq)
    if _attempt_failed(row, event, "timed_out", stored.envelope.at, event.next_retry_at):
        row.exit_code = None
        row.failure_class = "timeout"
        row.error = failure_text(event)
        row.duration_s = event.duration_s
        if event.next_retry_at is None:
            _settled(view, row.run_id, row)


def _on_cancelled(view: RunsView, event: RunCancelled, stored: StoredEvent) -> None:
    row = _row(view, event, stored.seq)
    if row.status not in CLOSED:
        _finish(row, event, "cancelled", stored.envelope.at)
        row.reason = event.reason or stored.envelope.reason
        if event.duration_s:
            row.duration_s = event.duration_s
        _settled(view, row.run_id, row)


def _on_lost(view: RunsView, event: RunLost, stored: StoredEvent) -> None:
    row = _row(view, event, stored.seq)
    if row.status not in CLOSED:
        _finish(row, event, "lost", stored.envelope.at)
        row.reason = event.reason
        _settled(view, row.run_id, row)


def _attempt_failed(
    row: RunRow, event: RunEvent, final: RunStatus, at: datetime, retry_at: datetime | None
) -> bool:
    """Record a failed attempt (final, or retrying when retry_at is set); False if stale."""
    if retry_at is None:
        if row.status in CLOSED:
            return False
        _finish(row, event, final, at)
        return True
    if is_behind(row.status, row.attempt, event.attempt, PHASE_RETRYING):
        return False
    row.status = "retrying"
    row.attempt = event.attempt
    row.next_retry_at = retry_at
    if event.executor:
        row.executor = event.executor
    return True


def _finish(row: RunRow, event: RunEvent, status: RunStatus, at: datetime) -> None:
    row.status = status
    # why: a result stored late (journal after a restart, an outage) names when its job ended
    row.finished_at = getattr(event, "ended_at", None) or at
    if row.next_retry_at is not None:  # why: a Struct field store is a generic setattr
        row.next_retry_at = None
    if event.attempt > row.attempt:
        row.attempt = event.attempt
    executor = event.executor
    if executor and executor != row.executor:  # why: mostly its start's executor already
        row.executor = intern(executor)


Handler = Callable[[RunsView, Any, StoredEvent], None]
HANDLERS: dict[type, Handler] = {
    RunTriggered: _on_triggered,
    RunSkipped: _on_skipped,
    RunStarted: _on_started,
    RunDeferred: _on_deferred,
    RunSucceeded: _on_succeeded,
    RunFailed: _on_failed,
    RunTimedOut: _on_timed_out,
    RunCancelled: _on_cancelled,
    RunLost: _on_lost,
    StatsRolledUp: _on_rolled_up,
}
"""Event type -> fold step; the container routes events through this table."""
