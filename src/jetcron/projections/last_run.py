"""`runs last`: a schedule's latest finished run; of a fan-out fire, the member that finished
last and the fire's other members; pure.

why: the members of one fire share its fire time, so the runs' order (fire time, then run id)
picked the member whose executor sorts last, not the one that finished last, and said nothing
of the others (newcomer19a #13).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from jetcron.domain.runs import fanout_parent
from jetcron.errors import InvalidInput
from jetcron.projections import fanout, runs, schedules
from jetcron.projections.queries import _ever_existed, iso, not_found, run_dict
from jetcron.projections.runs import RunRow, RunsView
from jetcron.projections.state import Views

FINISHED: frozenset[str] = runs.FINAL_STATUSES - {"skipped"}
"""The statuses of a run that ran and ended (a skipped fire is no run)."""
NO_FINISHED_RUN = "has no finished run yet"
"""Part of the answer's error when there is none (the HTTP gateway answers 404 for it)."""


def latest_finished(
    view: RunsView, name: str, schedule_id: str | None = None
) -> tuple[RunRow, list[RunRow]] | None:
    """The latest finished run of `name` (of one schedule of the name, if `schedule_id`) and,
    when it is a fan-out member, the fire's other members (any status, by run id); None if
    no run of it has finished."""
    top = runs.query(view, schedule=name, status=FINISHED, limit=1, schedule_id=schedule_id)
    if not top:
        return None
    parent = fanout_parent(top[0].run_id)
    if not parent:
        return top[0], []
    members = fanout.of_rows(view, name, parent)
    last = finished_last(members) or top[0]
    return last, sorted((r for r in members if r is not last), key=lambda r: r.run_id)


def finished_last(members: Iterable[RunRow]) -> RunRow | None:
    """Of a fan-out fire's members, the one that finished last (None while none has): the one
    member `runs last`, `schedule show` and `schedule list` name for the fire."""
    done = [r for r in members if r.status in FINISHED]
    return max(done, key=_finished) if done else None


def shown_last(view: RunsView, name: str, run_id: str) -> RunRow | None:
    """The row of the run a schedule's answers name as its last run, from the one the
    schedules view keeps (`run_id`): of a fan-out fire, the member that finished last.

    why: the schedules view keeps the member whose first event it folded last (it cannot
    order results by their end: schedule_fold keeps no end times), so `schedule show` named
    another member than `runs last`; while no member has finished, the view's own stays.
    """
    parent = fanout_parent(run_id)
    last = finished_last(fanout.of_rows(view, name, parent)) if parent else None
    return last or view.rows.get(run_id)


def _finished(row: RunRow) -> tuple[datetime, str]:
    return row.finished_at or row.fire_time, row.run_id


def last_run_of(views: Views, params: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The live schedule's latest finished run (a deleted name's: its last schedule's), as
    `run` shows it, with `other_members`: the other members of its fan-out fire."""
    name = str(params.get("schedule", ""))
    live = schedules.get(views.schedules, name)
    if live is None and not _ever_existed(views, name):
        raise not_found(views, name)
    found = latest_finished(views.runs, name, live.schedule_id if live is not None else None)
    if found is None:
        raise InvalidInput(f"{name!r} {NO_FINISHED_RUN}: see `jetcron runs list`")
    last, others = found
    told = [
        {
            "run_id": r.run_id,
            "status": r.status,
            "executor": r.executor,
            "finished_at": iso(r.finished_at),
        }
        for r in others
    ]
    return dict(run_dict(views, last), other_members=told)
