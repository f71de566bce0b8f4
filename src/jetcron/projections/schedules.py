"""Schedules view: current state of every schedule, its last run and its run counters.

The fold of events into it: schedule_fold.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Literal

import msgspec

from jetcron.clock import iso_z
from jetcron.domain.calendar import CalendarDefinition, fires_left
from jetcron.domain.definition import ScheduleDefinition
from jetcron.domain.fires import next_fire_within

ScheduleState = Literal["active", "paused", "completed", "deleted"]
ENDED = -1
"""Mark of a run that reached its final outcome."""
FANNED = -2
"""Mark of a fan-out trigger: no run itself; each member's first event counts a run."""


class ScheduleRow(msgspec.Struct, kw_only=True, gc=False, omit_defaults=True):
    """One schedule incarnation: its definition, lifecycle state and run counters."""

    name: str
    schedule_id: str
    definition: ScheduleDefinition
    state: ScheduleState = "active"
    version: int = 1
    paused_by: str = ""
    """Actor who paused it."""
    paused_reason: str = ""
    paused_by_system: bool = False
    resume_at: datetime | None = None
    created_at: datetime | None = None
    created_by: str = ""
    updated_at: datetime | None = None
    updated_by: str = ""
    last_run_id: str = ""
    last_run_at: datetime | None = None
    """When the last run (clock or manual) was triggered."""
    last_status: str = ""
    """Current status of the run named by last_run_id."""
    runs_total: int = 0
    runs_succeeded: int = 0
    runs_failed: int = 0
    """Final failures: failed, timed out or lost (retried attempts are not counted)."""
    consecutive_failures: int = 0
    failing_since: datetime | None = None
    """When the current streak of failed runs began (its first failure); None after a success."""
    last_error: str = ""
    """What the last failed run said (its error, timeout or reason lost)."""
    last_fire_time: datetime | None = None
    """Latest nominal fire time, whether triggered, missed or skipped."""
    last_success_at: datetime | None = None
    last_failure_at: datetime | None = None
    skips: dict[str, str] = {}
    """Coming fires an operator skipped: ISO UTC fire time -> 'skipped by alice: reason'."""
    last_success_run_id: str = ""
    expect_since: datetime | None = None
    """When the schedule's current expectations were set (its creation or the update)."""
    expectations: dict[str, Missed] = {}
    """Expectations missed and not yet met again, by kind (success_within, done_by)."""


class Missed(msgspec.Struct, kw_only=True, gc=False, omit_defaults=True):
    """An expectation.missed not yet followed by its expectation.met."""

    deadline: datetime
    after: datetime
    cause: str
    detail: str = ""
    missed_at: datetime | None = None
    seq: int = 0


class SchedulesView(msgspec.Struct, kw_only=True, gc=False):
    """Live schedules by name; deleted incarnations by schedule_id."""

    rows: dict[str, ScheduleRow] = {}
    ids: dict[str, str] = {}
    """schedule_id -> name, for live schedules."""
    deleted: dict[str, ScheduleRow] = {}
    """schedule_id -> row of a deleted incarnation (late run events still land here)."""
    marks: dict[str, int] = {}
    """run_id -> rank of that run (attempt * 4 + phase, see runs) or ENDED; outcomes count once."""
    expecting: dict[str, None] = {}
    """Names of live schedules with an expectation set (the leader checks these every second).

    why a dict, not a set: fold order, so live and rebuilt views serialise the same."""
    keep: int = 0
    """ENDED marks kept per schedule (0: all): a duplicate outcome older than that counts again."""
    ended: dict[str, list[str]] = {}
    """schedule_id -> run ids whose mark is ENDED, oldest first (the window of `keep`)."""
    forgotten: int = 0
    """Deleted incarnations no longer held (projections/forget.py): the views hold the last
    `keep_deleted` deleted ones."""


def get(view: SchedulesView, name: str) -> ScheduleRow | None:
    """The live schedule with this name."""
    return view.rows.get(name)


def by_id(view: SchedulesView, schedule_id: str) -> ScheduleRow | None:
    """A schedule incarnation by id, live or deleted."""
    name = view.ids.get(schedule_id)
    if name is not None:
        return view.rows[name]
    return view.deleted.get(schedule_id)


def query(view: SchedulesView, state: str | None = None) -> list[ScheduleRow]:
    """Live schedules sorted by name, optionally only those in `state`."""
    rows = sorted(view.rows.values(), key=lambda r: r.name)
    return rows if state is None else [r for r in rows if r.state == state]


def next_fire(
    row: ScheduleRow, now: datetime, calendars: Mapping[str, CalendarDefinition] | None = None
) -> datetime | None:
    """The next fire after `now` that will run: its calendars leave it and no operator skipped
    it; None if not active or none is left within its bounds."""
    if row.state != "active":
        return None
    # why: no run count: the ticker completes a schedule right after the fire that reaches
    # its run limit, so an active one still has runs left
    if not (row.definition.exclude or row.definition.only_within):
        fire = next_fire_within(row.definition, now)
        while fire is not None and skipped(row, fire):
            fire = next_fire_within(row.definition, fire)
        return fire
    # why: skips hold only coming fires, so one more than their count reaches a fire that runs
    fires = next_fires(row, now, len(row.skips) + 1, calendars=calendars)
    return next((f for f in fires if not skipped(row, f)), None)


def skipped(row: ScheduleRow, fire: datetime) -> str | None:
    """Who skipped this coming fire and why ('skipped by alice: reason'); None if it runs."""
    return row.skips.get(iso_z(fire))


def next_fires(
    row: ScheduleRow,
    now: datetime,
    limit: int,
    until: datetime | None = None,
    calendars: Mapping[str, CalendarDefinition] | None = None,
) -> list[datetime]:
    """Up to `limit` nominal fires after `now` (and by `until`) that its calendars leave;
    [] if not active."""
    if row.state != "active":
        return []
    return fires_left(row.definition, calendars or {}, now, until=until, limit=max(limit, 0))


# -- schedule lifecycle -------------------------------------------------------------------
