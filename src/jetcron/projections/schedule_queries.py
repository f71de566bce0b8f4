"""Answers about schedules: the list, one schedule with its runs and next fires, the fires due."""

from __future__ import annotations

import heapq
import shlex
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import pytz

from jetcron.domain.calendar import CalendarDefinition
from jetcron.projections import aged, calendars, held, runs, schedules
from jetcron.projections.last_run import shown_last
from jetcron.projections.limits import DUE_LIMIT, DUE_MAX
from jetcron.projections.queries import _missing, _note_refused, abbr, iso, plain, run_dict
from jetcron.projections.state import Views


def schedule_row(
    row: schedules.ScheduleRow, now: datetime, cals: Mapping[str, CalendarDefinition] | None = None
) -> dict[str, Any]:
    """One schedule as the CLI shows it (fields: name, spec, tz, state, version, target, command, next_fire...)."""
    data: dict[str, Any] = plain(row)
    d = row.definition
    fire = schedules.next_fire(row, now, cals)
    data.update(
        spec=d.spec,
        tz=d.tz,
        target=d.target,
        command=d.job.command or d.job.shell or d.job.action,
        next_fire=iso(fire),
        next_fire_abbr=abbr(fire, d.tz),
        state=row.state,
    )
    return data


def list_schedules(views: Views, params: dict[str, Any], now: datetime) -> list[dict[str, Any]]:
    """All live schedules."""
    cals = calendars.definitions(views.calendars)
    rows = schedules.query(views.schedules, params.get("state"))
    out = [_with_held(views, schedule_row(r, now, cals), r) for r in rows]
    horizon, missing = aged.gone(params)
    if horizon or missing:
        for row in out:
            if _aged_runs(views, row["name"], horizon, missing):
                row["runs_aged_out"] = True  # why: counted here, gone from the log (`replay`)
    return out


def _aged_runs(views: Views, name: str, horizon: int, missing: frozenset[int]) -> bool:
    """Whether the schedule's oldest run the views hold has aged out of the log."""
    keys = views.runs.by_schedule.get(name)
    oldest = views.runs.rows.get(keys[0]) if keys else None
    return oldest is not None and aged.aged(oldest.seq, horizon, missing)


def _with_held(views: Views, data: dict[str, Any], row: schedules.ScheduleRow) -> dict[str, Any]:
    """The last run as `runs last` names it (of a fan-out fire: the member that finished last,
    last_run.shown_last); `last_offline`: its executor is offline while it holds it (held.py)."""
    last = shown_last(views.runs, row.name, row.last_run_id) if row.last_run_id else None
    if last is not None and last.run_id != row.last_run_id:
        data.update(last_run_id=last.run_id, last_status=last.status)
    if last is not None and (note := held.note(views.hosts, last)):
        data["last_offline"] = note
    return data


def one_schedule(views: Views, params: dict[str, Any], now: datetime) -> dict[str, Any]:
    """One schedule with its last 10 runs and next fires."""
    name = str(params.get("name", ""))
    row = schedules.get(views.schedules, name)
    if row is None:
        raise _missing(views, name)
    cals = calendars.definitions(views.calendars)
    data = _with_held(views, schedule_row(row, now, cals), row)
    _note_refused(views, name, data)
    # why: this schedule's own runs, not those of an earlier schedule of the same name
    mine = runs.query(views.runs, schedule=name, schedule_id=row.schedule_id, limit=10)
    data["runs"] = [run_dict(views, r) for r in mine]
    fires = schedules.next_fires(row, now, int(params.get("fires", 10)), calendars=cals)
    data["next_fires"] = [iso(f) for f in fires]
    return data


JOB_TEXT_MAX = 200


def due(views: Views, params: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The `limit` soonest fires of active schedules within the horizon; `more` if there are others."""
    horizon = now + timedelta(seconds=float(params.get("within_s", 3600)))
    limit = max(1, min(int(params.get("limit", DUE_LIMIT)), DUE_MAX))
    cals = calendars.definitions(views.calendars)
    # why: the soonest limit+1 fires overall are among each schedule's own soonest limit+1
    candidates = (
        (fire, row.name, row)
        for row in schedules.query(views.schedules, "active")
        for fire in schedules.next_fires(row, now, limit + 1, until=horizon, calendars=cals)
    )
    soonest = heapq.nsmallest(limit + 1, candidates, key=lambda c: (c[0], c[1]))
    return {
        "fires": [_due_row(fire, row) for fire, _, row in soonest[:limit]],
        "more": len(soonest) > limit,
        "limit": limit,
    }


def _due_row(fire: datetime, row: schedules.ScheduleRow) -> dict[str, Any]:
    d = row.definition
    job = shlex.join(d.job.command or []) or d.job.shell or d.job.action or ""
    shown = {
        "utc": iso(fire),
        "local": fire.astimezone(pytz.timezone(d.tz)).isoformat(),
        "tz": d.tz,
        "name": row.name,
        "target": d.target,
        "job": job if len(job) <= JOB_TEXT_MAX else job[: JOB_TEXT_MAX - 1] + "…",
    }
    # why: a skipped fire is still due (it is recorded as skipped), but it will not run: say so
    skipped = schedules.skipped(row, fire)
    return shown | {"skipped": skipped} if skipped else shown
