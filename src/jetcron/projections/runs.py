"""Runs view: one row per run (and per skipped fire), folded from run events."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Collection, Iterable
from datetime import datetime
from sys import intern
from typing import Any

import msgspec

from jetcron.domain import digest
from jetcron.domain.digest import TIMED, Digest, add_bucketed, bucket, day_of
from jetcron.domain.envelope import StoredEvent
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
from jetcron.domain.runs import (
    FANNED_OUT,
    IN_FLIGHT,
    RunStatus,
    fanout_member,
    fanout_parent,
    is_fanout,
)
from jetcron.projections import tallies
from jetcron.projections.tallies import Tallies
from jetcron.projections.tallies import settled as tally_settled
from jetcron.projections.window import push, unindex

FINAL_STATUSES: frozenset[str] = frozenset(
    {"succeeded", "failed", "timed_out", "cancelled", "lost", "skipped"}
)
"""Statuses after which nothing changes a run any more."""
_CLOSED: frozenset[str] = FINAL_STATUSES | {FANNED_OUT}
"""Statuses no result changes (a fan-out trigger's row: its members have the results)."""
FAILED_STATUSES: frozenset[str] = digest.FAILED
"""Final statuses that count as a failed run (cancelled and skipped count as neither)."""

# why: redeliveries make events of one run arrive late or twice. Until its first final
# outcome (which wins), a run only moves forward along rank = attempt * 4 + phase; an
# in-progress event behind the run's current rank is stale. A final outcome applies
# whatever its attempt: cancel and lost come from operators and watchdogs that may not know it.
PHASE_DEFERRED, PHASE_STARTED, PHASE_RETRYING = 1, 2, 3
_STATUS_PHASE: dict[str, int] = {"triggered": 0, "deferred": 1, "running": 2, "retrying": 3}
TRIGGERED_RANK = 4
"""Rank of a run that was triggered and nothing else yet (attempt 1, phase 0)."""


OUTCOMES: dict[type, RunStatus] = {
    RunSucceeded: "succeeded",
    RunFailed: "failed",
    RunTimedOut: "timed_out",
    RunCancelled: "cancelled",
    RunLost: "lost",
}
"""The final status each result event type leads to (failures: when no retry follows)."""
MAY_RETRY: frozenset[type] = frozenset({RunFailed, RunTimedOut})
"""Result types followed by another attempt when they carry next_retry_at (for exact type
tests in the fold hot loops: isinstance on msgspec Struct classes costs ~5x more)."""


def is_behind(status: str, attempt: int, event_attempt: int, phase: int) -> bool:
    """True if an in-progress event is stale for a run at (status, attempt), or the run ended."""
    current = _STATUS_PHASE.get(status)
    return current is None or event_attempt * 4 + phase < attempt * 4 + current


class RunRow(msgspec.Struct, kw_only=True, gc=False, omit_defaults=True):
    """One run as it stands; skipped fires appear as rows with status `skipped` and no run_id."""

    run_id: str
    schedule: str
    schedule_id: str
    fire_id: str
    fire_time: datetime
    status: RunStatus
    attempt: int = 1
    executor: str = ""
    exit_code: int | None = None
    triggered_at: datetime | None = None
    started_at: datetime | None = None
    """Start of the first attempt."""
    finished_at: datetime | None = None
    duration_s: float | None = None
    """Duration of the last attempt that reported one."""
    lateness_s: float | None = None
    """First start minus the nominal fire time."""
    failure_class: str = ""
    error: str = ""
    reason: str = ""
    """Why it was skipped, deferred, cancelled or lost."""
    manual: bool = False
    backfill_of: str = ""
    """A backfill run: the slot it ran (`jetcron schedule backfill`)."""
    triggered_by: str = ""
    """Who triggered it: the operator of a manual run, jetcron's ticker otherwise."""
    trigger_reason: str = ""
    """Why, as the operator gave it (`jetcron schedule trigger --reason`)."""
    target: str = ""
    next_retry_at: datetime | None = None
    """Next attempt (retrying) or next admission check (deferred)."""
    deferrals: int = 0
    seq: int = 0
    """Sequence of the row's first event (`replay --verify` compares rows that began after
    the newest expired event)."""


class OpenDay(msgspec.Struct, kw_only=True, gc=False):
    """Final runs of one schedule and UTC day (by fire time) not yet rolled up."""

    schedule_id: str
    name: str
    day: str
    digest: Digest = msgspec.field(default_factory=Digest)


class RunsView(msgspec.Struct, kw_only=True, gc=False):
    """Runs by key (run_id; fire_id for skipped fires), indexed by schedule name.

    Bounded: per schedule, only the last `keep` final rows stay (in the order they became
    final); rows in flight always stay. Every final run is also counted into its day's
    `OpenDay` until the leader rolls that day up (`stats.rolled_up`).
    """

    rows: dict[str, RunRow] = {}
    by_schedule: dict[str, list[str]] = {}
    keep: int = 0
    """Final rows kept per schedule (0: all)."""
    finished: dict[str, list[str]] = {}
    """Schedule name -> keys of its final rows, in the order they became final (the window)."""
    days: dict[str, OpenDay] = {}
    """`<schedule_id>/<day>` -> final runs of that day not yet rolled up."""
    rolled: dict[str, str] = {}
    """schedule_id -> the latest day rolled up; later results of it or earlier days are not counted."""
    tallies: Tallies = msgspec.field(default_factory=Tallies)
    """Running totals of the rows kept, for `stats` (projections/tallies.py)."""
    fans: dict[str, list[str]] = {}
    """Schedule name -> run ids of its fan-out triggers (rows `fanned_out`), oldest first:
    kept like final rows, the last `keep` of them, so members that start late find them."""
    opened: dict[str, int] = {}
    """schedule_id -> how many of `days` are its (a deleted schedule leaves the views only
    once its days are rolled up: projections/forget.py)."""


def get(view: RunsView, run_id: str) -> RunRow | None:
    """One run by id."""
    return view.rows.get(run_id)


def matching(view: RunsView, prefix: str, limit: int = 6) -> list[str]:
    """Run ids starting with `prefix` (the id itself if it is one), at most `limit`, sorted.

    A fan-out member is also found by its short form `<prefix>-<executor>` (as tables show
    it); a prefix that matches one fan-out trigger and its members means the trigger.
    """
    if prefix in view.rows and view.rows[prefix].run_id:
        return [prefix]
    head, member = fanout_parent(prefix), fanout_member(prefix)
    # why: skipped fires are rows keyed by fire id, not runs; they have no run id to match
    if "-" in prefix:
        found = sorted(
            k
            for k, r in view.rows.items()
            if r.run_id and k.startswith(head) and fanout_member(k) == member
        )
        return found[:limit]
    found = sorted(k for k, r in view.rows.items() if k.startswith(prefix) and r.run_id)
    parents = {fanout_parent(k) or k for k in found}
    if len(parents) == 1 and (parent := parents.pop()) in found:
        return [parent]
    return found[:limit]


def query(
    view: RunsView,
    schedule: str | None = None,
    status: str | Collection[str] | None = None,
    since: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
    before: tuple[datetime, str] | None = None,
    schedule_id: str | None = None,
    until: datetime | None = None,
) -> list[RunRow]:
    """Runs newest first by fire time, filtered by schedule name, status(es) and fire time
    (from `since` to `until`, both included).

    `schedule_id` keeps one incarnation of the name (runs are indexed by name, and a name
    deleted and created again holds both schedules' runs). `before` (a row's `order_key`)
    starts after that row: a cursor that new runs cannot shift.
    """
    rows: Iterable[RunRow]
    if schedule is None:
        rows = view.rows.values()
    else:
        rows = (view.rows[k] for k in view.by_schedule.get(schedule, ()))
    if schedule_id is not None:
        rows = (r for r in rows if r.schedule_id == schedule_id)
    if status is not None:
        wanted = {status} if isinstance(status, str) else set(status)
        rows = (r for r in rows if r.status in wanted)
    if since is not None:
        rows = (r for r in rows if r.fire_time >= since)
    if until is not None:
        rows = (r for r in rows if r.fire_time <= until)
    if before is not None:
        rows = (r for r in rows if order_key(r) < before)
    return heapq.nlargest(offset + limit, rows, key=order_key)[offset:]


def order_key(row: RunRow) -> tuple[datetime, str]:
    """Where a run sorts (newest first): its fire time, then its id (runs of one fire differ)."""
    return row.fire_time, row.run_id or row.fire_id


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
            triggered_by=env.actor,
            trigger_reason=env.reason,
            target=event.target,
            manual=event.manual,
            backfill_of=event.backfill_of,
        )
        if fan:
            _fanned_out(view, run_id, row)
        return
    if row.triggered_at is not None:
        return
    # why: a trigger folded after its run's result (redelivery) may still clear its lateness
    final = row.status in FINAL_STATUSES and bool(event.backfill_of)
    before = tallies.changing(view.tallies, row) if final else ""
    env = stored.envelope
    row.triggered_at = env.at
    row.triggered_by = env.actor
    row.trigger_reason = env.reason
    row.target = event.target
    row.manual = event.manual
    row.backfill_of = event.backfill_of
    if event.backfill_of:
        row.lateness_s = None  # why: its start may have been folded first
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
        row.lateness_s = None if row.backfill_of else (at - row.fire_time).total_seconds()
    executor, attempt = event.executor, event.attempt
    current = _STATUS_PHASE.get(status)
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
    if row.status not in _CLOSED:
        _finish(row, event, "succeeded", stored.envelope.at)
        row.exit_code = event.exit_code
        row.duration_s = event.duration_s
        if row.error:
            row.error = ""
        _settled(view, run_id, row)


def _on_failed(view: RunsView, event: RunFailed, stored: StoredEvent) -> None:
    row = _row(view, event, stored.seq)
    if _attempt_failed(row, event, "failed", stored.envelope.at, event.next_retry_at):
        row.exit_code = event.exit_code
        row.failure_class = event.failure_class
        row.error = event.error
        row.duration_s = event.duration_s
        if event.next_retry_at is None:
            _settled(view, event.run_id, row)


def _on_timed_out(view: RunsView, event: RunTimedOut, stored: StoredEvent) -> None:
    row = _row(view, event, stored.seq)
    if _attempt_failed(row, event, "timed_out", stored.envelope.at, event.next_retry_at):
        row.exit_code = None
        row.failure_class = "timeout"
        row.error = failure_text(event)
        row.duration_s = event.duration_s
        if event.next_retry_at is None:
            _settled(view, event.run_id, row)


def _on_cancelled(view: RunsView, event: RunCancelled, stored: StoredEvent) -> None:
    row = _row(view, event, stored.seq)
    if row.status not in _CLOSED:
        _finish(row, event, "cancelled", stored.envelope.at)
        row.reason = event.reason or stored.envelope.reason
        if event.duration_s:
            row.duration_s = event.duration_s
        _settled(view, event.run_id, row)


def _on_lost(view: RunsView, event: RunLost, stored: StoredEvent) -> None:
    row = _row(view, event, stored.seq)
    if row.status not in _CLOSED:
        _finish(row, event, "lost", stored.envelope.at)
        row.reason = event.reason
        _settled(view, event.run_id, row)


def failure_text(event: RunEvent) -> str:
    """Why a run failed, from its failure event: the error, the timeout, or why it was lost."""
    if isinstance(event, RunTimedOut):
        return f"timed out after {event.timeout_s:g}s"
    if isinstance(event, RunFailed):
        return event.error
    return str(getattr(event, "reason", ""))


def _attempt_failed(
    row: RunRow, event: RunEvent, final: RunStatus, at: datetime, retry_at: datetime | None
) -> bool:
    """Record a failed attempt (final, or retrying when retry_at is set); False if stale."""
    if retry_at is None:
        if row.status in _CLOSED:
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
