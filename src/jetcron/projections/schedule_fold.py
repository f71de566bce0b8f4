"""How schedule and run events fold into the schedules view: lifecycle, skips, run counters,
streaks and expectations missed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from jetcron.clock import iso_z
from jetcron.domain.definition import ScheduleDefinition
from jetcron.domain.envelope import StoredEvent, who
from jetcron.domain.events import (
    ExpectationMet,
    ExpectationMissed,
    FireMissed,
    FireSkipCancelled,
    FireSkipPlanned,
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
    ScheduleCompleted,
    ScheduleCreated,
    ScheduleDeleted,
    ScheduleEvent,
    SchedulePaused,
    ScheduleResumed,
    ScheduleUpdated,
    status_after_update,
)
from jetcron.domain.runs import RunStatus, fanout_parent, is_fanout
from jetcron.projections.runs import (
    FAILED_STATUSES,
    OUTCOMES,
    PHASE_DEFERRED,
    PHASE_RETRYING,
    PHASE_STARTED,
    TRIGGERED_RANK,
    failure_text,
)
from jetcron.projections.schedules import (
    ENDED,
    FANNED,
    Missed,
    ScheduleRow,
    SchedulesView,
    by_id,
)


def _live(view: SchedulesView, event: ScheduleEvent) -> ScheduleRow | None:
    name = view.ids.get(event.schedule_id)
    if name is None:
        return None
    row = view.rows[name]
    # why: versions only grow per incarnation; an older or equal one is a duplicate.
    return row if event.version > row.version else None


def _retire(view: SchedulesView, row: ScheduleRow) -> None:
    row.state = "deleted"
    view.expecting.pop(row.name, None)
    del view.rows[row.name]
    del view.ids[row.schedule_id]
    view.deleted[row.schedule_id] = row


def _touch(row: ScheduleRow, event: ScheduleEvent, stored: StoredEvent) -> None:
    row.version = event.version
    row.updated_at = stored.envelope.at
    row.updated_by = who(stored.envelope)


def _on_created(view: SchedulesView, event: ScheduleCreated, stored: StoredEvent) -> None:
    if event.schedule_id in view.ids or event.schedule_id in view.deleted:
        return
    old = view.rows.get(event.name)
    if old is not None:
        # why: the old incarnation's delete is not in our history; a new id means it is gone.
        _retire(view, old)
    env = stored.envelope
    view.rows[event.name] = ScheduleRow(
        name=event.name,
        schedule_id=event.schedule_id,
        definition=event.definition,
        version=event.version,
        created_at=env.at,
        created_by=who(env),
        updated_at=env.at,
        updated_by=who(env),
        expect_since=env.at,
    )
    view.ids[event.schedule_id] = event.name
    _index(view, event.name, event.definition)


def _on_updated(view: SchedulesView, event: ScheduleUpdated, stored: StoredEvent) -> None:
    row = _live(view, event)
    if row is not None:
        _touch(row, event, stored)
        old, new = _expectations(row.definition), _expectations(event.definition)
        if old != new:
            row.expect_since = stored.envelope.at
            # why: a miss of a rule that changed (or is gone) is no longer the operator's problem
            for kind, before, after in zip(_KINDS, old, new, strict=True):
                if before != after:
                    row.expectations.pop(kind, None)
        row.definition = event.definition
        _index(view, row.name, event.definition)
        # why: the aggregate's rule; a change that gives it no fires again leaves it completed
        if row.state == "completed" and status_after_update(row.state, event.reopens) == "active":
            row.state = "active"


_KINDS = ("success_within", "done_by")


def _index(view: SchedulesView, name: str, d: ScheduleDefinition) -> None:
    if any(v is not None for v in _expectations(d)):
        view.expecting[name] = None
    else:
        view.expecting.pop(name, None)


def _expectations(d: ScheduleDefinition) -> tuple[float | None, str | None]:
    return d.expect_success_within_s, d.expect_done_by


def _on_paused(view: SchedulesView, event: SchedulePaused, stored: StoredEvent) -> None:
    row = _live(view, event)
    if row is not None:
        _touch(row, event, stored)
        row.state = "paused"
        row.paused_by = who(stored.envelope)
        row.paused_reason = event.reason or stored.envelope.reason
        row.paused_by_system = event.by_system
        row.resume_at = event.resume_at


def _on_resumed(view: SchedulesView, event: ScheduleResumed, stored: StoredEvent) -> None:
    row = _live(view, event)
    if row is not None:
        _touch(row, event, stored)
        row.state = "active"
        row.paused_by = row.paused_reason = ""
        row.paused_by_system = False
        row.resume_at = None


def _on_completed(view: SchedulesView, event: ScheduleCompleted, stored: StoredEvent) -> None:
    row = _live(view, event)
    if row is not None:
        _touch(row, event, stored)
        row.state = "completed"


def _on_deleted(view: SchedulesView, event: ScheduleDeleted, stored: StoredEvent) -> None:
    row = _live(view, event)
    if row is not None:
        _touch(row, event, stored)
        _retire(view, row)


def _on_skip_planned(view: SchedulesView, event: FireSkipPlanned, stored: StoredEvent) -> None:
    row = _live(view, event)
    if row is not None:
        _touch(row, event, stored)
        row.skips = {**row.skips, iso_z(event.fire_time): event.fate}


def _on_skip_cancelled(view: SchedulesView, event: FireSkipCancelled, stored: StoredEvent) -> None:
    row = _live(view, event)
    if row is not None:
        _touch(row, event, stored)
        row.skips = {k: v for k, v in row.skips.items() if k != iso_z(event.fire_time)}


# -- fires and runs -----------------------------------------------------------------------


def _saw_fire(row: ScheduleRow, fire_time: datetime) -> None:
    if row.last_fire_time is None or fire_time > row.last_fire_time:
        row.last_fire_time = fire_time


def _on_triggered(view: SchedulesView, event: RunTriggered, stored: StoredEvent) -> None:
    # why: by_id inline, the run id read once: once per run in the replay hot loop
    sid, run_id = event.schedule_id, event.run_id
    name = view.ids.get(sid)
    row = view.rows[name] if name is not None else view.deleted.get(sid)
    marks = view.marks
    if row is None or run_id in marks:
        return
    if is_fanout(event.target):
        # why: the members are the runs (`<run id>-<executor>`); the mark ages like an end
        marks[run_id] = FANNED
        ended = view.ended.setdefault(sid, [])
        ended.append(run_id)
        if view.keep and len(ended) > view.keep:
            marks.pop(ended.pop(0), None)
        if not (event.manual or event.backfill_of):
            _saw_fire(row, event.fire_time)
        return
    marks[run_id] = TRIGGERED_RANK
    row.runs_total += 1
    row.last_run_id = run_id
    row.last_run_at = stored.envelope.at
    row.last_status = "triggered"
    if not (event.manual or event.backfill_of):  # why: event.forced, inline: hot loop
        _saw_fire(row, event.fire_time)


def _on_unrun_fire(
    view: SchedulesView, event: RunSkipped | FireMissed, stored: StoredEvent
) -> None:
    row = by_id(view, event.schedule_id)
    if row is not None:
        _saw_fire(row, event.fire_time)
        if row.skips:  # why: a skip is kept until its fire is recorded, so the map stays small
            row.skips = {k: v for k, v in row.skips.items() if k != iso_z(event.fire_time)}


Handler = Callable[[SchedulesView, Any, StoredEvent], None]


def _first_seen(view: SchedulesView, row: ScheduleRow, run_id: str, at: datetime) -> None:
    """A run first heard of by a run event: counted; a fan-out member is the latest run."""
    row.runs_total += 1
    if "-" in run_id and view.marks.get(fanout_parent(run_id)) == FANNED:
        row.last_run_id, row.last_run_at = run_id, at


def _progressing(phase: int, status: RunStatus) -> Handler:
    """The fold of a run's in-progress events of one phase (started, deferred, retrying).

    why: made per phase, so each such event costs one frame in the replay hot loop
    """

    def progress(view: SchedulesView, event: RunEvent, stored: StoredEvent) -> None:
        # why: by_id inline, the run id read once: once per run event in the replay hot loop
        sid, run_id = event.schedule_id, event.run_id
        name = view.ids.get(sid)
        row = view.rows[name] if name is not None else view.deleted.get(sid)
        if row is None:
            return
        new = event.attempt * 4 + phase
        marks = view.marks
        mark = marks.get(run_id)
        if mark is None:
            # why: its trigger is outside our history (retention), or it is a fan-out member
            _first_seen(view, row, run_id, stored.envelope.at)
        elif mark < 0 or new < mark:
            return
        marks[run_id] = new
        if row.last_run_id == run_id:
            row.last_status = status

    return progress


def _ended(view: SchedulesView, event: RunEvent, stored: StoredEvent) -> None:
    """A run's final outcome (the first one wins): counters, streak, last result."""
    # why: by_id inline, ids read once: once per run in the replay hot loop
    sid, run_id = event.schedule_id, event.run_id
    name = view.ids.get(sid)
    row = view.rows[name] if name is not None else view.deleted.get(sid)
    if row is None:
        return
    at, status = stored.envelope.at, OUTCOMES[type(event)]
    if row.last_run_id == run_id:
        run_id = row.last_run_id  # why: the trigger's object, not a copy kept in the window
    marks = view.marks
    mark = marks.get(run_id)
    if mark is None:
        _first_seen(view, row, run_id, at)
    elif mark < 0:
        return  # why: the first final outcome wins; duplicates must not count twice
    marks[run_id] = ENDED
    ended = view.ended.get(sid)
    if ended is None:
        view.ended[sid] = [run_id]
    else:
        ended.append(run_id)
        if view.keep and len(ended) > view.keep:
            marks.pop(ended.pop(0), None)  # why: the window of `keep`, inline: hot loop
    if row.last_run_id == run_id:
        row.last_status = status
    if status == "succeeded":
        row.runs_succeeded += 1
        if row.consecutive_failures:  # why: a Struct field store is a generic setattr
            row.consecutive_failures = 0
        if row.failing_since is not None:
            row.failing_since = None
        row.last_success_at = at
        row.last_success_run_id = run_id
    elif status in FAILED_STATUSES:
        row.runs_failed += 1
        if row.consecutive_failures == 0:
            row.failing_since = at
        row.consecutive_failures += 1
        row.last_failure_at = at
        row.last_error = next(iter(failure_text(event).strip().splitlines()), "")


_on_started = _progressing(PHASE_STARTED, "running")
_on_deferred = _progressing(PHASE_DEFERRED, "deferred")
_on_retrying = _progressing(PHASE_RETRYING, "retrying")


def _on_result(view: SchedulesView, event: RunEvent, stored: StoredEvent) -> None:
    """A failure or time-out: another attempt follows when it says so, else the run ended."""
    if event.next_retry_at is not None:  # type: ignore[attr-defined]
        _on_retrying(view, event, stored)
    else:
        _ended(view, event, stored)


def _on_expectation_missed(
    view: SchedulesView, event: ExpectationMissed, stored: StoredEvent
) -> None:
    row = by_id(view, event.schedule_id)
    if row is not None and event.kind not in row.expectations:
        row.expectations[event.kind] = Missed(
            deadline=event.deadline,
            after=event.after,
            cause=event.cause,
            detail=event.detail,
            missed_at=stored.envelope.at,
            seq=stored.seq,
        )


def _on_expectation_met(view: SchedulesView, event: ExpectationMet, stored: StoredEvent) -> None:
    row = by_id(view, event.schedule_id)
    if row is not None:
        row.expectations.pop(event.kind, None)


HANDLERS: dict[type, Handler] = {
    ScheduleCreated: _on_created,
    ScheduleUpdated: _on_updated,
    SchedulePaused: _on_paused,
    ScheduleResumed: _on_resumed,
    ScheduleCompleted: _on_completed,
    ScheduleDeleted: _on_deleted,
    FireSkipPlanned: _on_skip_planned,
    FireSkipCancelled: _on_skip_cancelled,
    RunTriggered: _on_triggered,
    FireMissed: _on_unrun_fire,
    RunSkipped: _on_unrun_fire,
    RunStarted: _on_started,
    RunDeferred: _on_deferred,
    # why: only failures and time-outs may be followed by another attempt (runs.MAY_RETRY)
    RunSucceeded: _ended,
    RunFailed: _on_result,
    RunTimedOut: _on_result,
    RunCancelled: _ended,
    RunLost: _ended,
    ExpectationMissed: _on_expectation_missed,
    ExpectationMet: _on_expectation_met,
}
"""Event type -> fold step; the container routes events through this table."""
