"""Expectations (a built-in dead-man's switch): which are missed or met again at a given time; pure.

`expect_success_within D`: some run succeeded in the last D (counted from the last success, or
from when the expectation was set). `expect_done_by HH:MM`: the day's last fire before HH:MM
(wall time in the schedule's zone) has a run that succeeded by then; a day whose fires its
calendars all take away (a holiday, a maintenance window) owes nothing. A miss names its cause as
the fire ledger tells it (reusing `fates`); it is reported once per deadline and stays until a
run succeeds (`expectation.met`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, time, timedelta

import pytz

from jetcron.domain.calendar import CalendarDefinition, fires_left
from jetcron.domain.events import ExpectationMet, ExpectationMissed
from jetcron.domain.fires import wall_to_utc
from jetcron.domain.runs import IN_FLIGHT
from jetcron.projections import calendars, fates, fire_queries
from jetcron.projections.queries import iso
from jetcron.projections.schedules import ScheduleRow
from jetcron.projections.state import Views

Verdict = ExpectationMissed | ExpectationMet
CAUSES: dict[str, str] = {
    "skipped": "skipped",
    "paused": "paused",
    "missed": "missed",
    "lost": "failed",
    "cancelled": "cancelled",
    "deferred": "still_running",
}
"""Fates that are a cause of their own; a triggered fire's cause is its run's status."""
_SEARCH_CAP = 1000
_US = timedelta(microseconds=1)


def check(views: Views, now: datetime) -> list[Verdict]:
    """Every expectation.missed and expectation.met the log is owed at `now`."""
    out: list[Verdict] = []
    cals = calendars.definitions(views.calendars)
    # why: a scan of every schedule each second would cost the leader dearly at 1M schedules
    for name in sorted(views.schedules.expecting):
        row = views.schedules.rows[name]
        out += met(row)
        if row.state != "completed":  # why: a finished schedule owes no more runs
            out += missed(views, row, now, cals)
    return out


def msg_id(verdict: Verdict) -> str:
    """One append per schedule, kind and deadline, whichever leader (or how often) decides it."""
    tag = "missed" if isinstance(verdict, ExpectationMissed) else "met"
    return f"expect-{tag}:{verdict.schedule_id}:{verdict.kind}:{iso(verdict.deadline)}"


def met(row: ScheduleRow) -> Iterator[ExpectationMet]:
    """expectation.met for each miss that a later success resolved."""
    for kind, miss in sorted(row.expectations.items()):
        if row.last_success_at is not None and row.last_success_at > miss.after:
            yield ExpectationMet(
                schedule_id=row.schedule_id,
                name=row.name,
                kind=kind,
                deadline=miss.deadline,
                run_id=row.last_success_run_id,
            )


def missed(
    views: Views,
    row: ScheduleRow,
    now: datetime,
    cals: Mapping[str, CalendarDefinition] | None = None,
) -> Iterator[ExpectationMissed]:
    """expectation.missed for each expectation whose deadline passed without a success."""
    for kind, due in _deadlines(row, now, cals or {}):
        if kind in row.expectations or due is None:
            continue
        deadline, after = due
        if now < deadline or (row.last_success_at is not None and row.last_success_at > after):
            continue
        cause, detail, fire = cause_of(views, row, after, now)
        yield ExpectationMissed(
            schedule_id=row.schedule_id,
            name=row.name,
            kind=kind,
            deadline=deadline,
            after=after,
            cause=cause,
            detail=detail,
            fire_time=None if fire is None else fire.fire_time,
            run_id="" if fire is None else fire.run_id,
        )


def _deadlines(
    row: ScheduleRow, now: datetime, cals: Mapping[str, CalendarDefinition]
) -> Iterable[tuple[str, tuple[datetime, datetime] | None]]:
    """(kind, (deadline, a success must come after)) for each expectation set on the row."""
    d = row.definition
    since = row.expect_since or row.created_at or now
    if d.expect_success_within_s is not None:
        last = row.last_success_at
        after = last if last is not None and last > since else since
        yield "success_within", (after + timedelta(seconds=d.expect_success_within_s), after)
    if d.expect_done_by is not None:
        yield "done_by", done_by(row, now, since, cals)


def done_by(
    row: ScheduleRow,
    now: datetime,
    since: datetime,
    cals: Mapping[str, CalendarDefinition] | None = None,
) -> tuple[datetime, datetime] | None:
    """The latest HH:MM deadline by `now` and the fire it is about; None when there is none
    (no fire in the day before it that its calendars let run, or the deadline is before the
    expectation was set): a holiday or a maintenance window owes no run."""
    d = row.definition
    assert d.expect_done_by is not None
    hours, minutes = map(int, d.expect_done_by.split(":"))
    day = now.astimezone(pytz.timezone(d.tz)).date()
    deadline = wall_to_utc(datetime.combine(day, time(hours, minutes)), d.tz)
    if deadline > now:
        deadline = wall_to_utc(
            datetime.combine(day - timedelta(days=1), time(hours, minutes)), d.tz
        )
    if deadline <= since:
        return None
    fire = last_fire(row, deadline - timedelta(days=1), deadline, cals or {})
    return None if fire is None else (deadline, fire)


def last_fire(
    row: ScheduleRow, lo: datetime, hi: datetime, cals: Mapping[str, CalendarDefinition]
) -> datetime | None:
    """The latest nominal fire in (lo, hi] that the schedule's calendars leave to run."""
    while True:
        times = fires_left(row.definition, cals, lo, until=hi, limit=_SEARCH_CAP)
        if len(times) < _SEARCH_CAP:
            return times[-1] if times else None
        lo = hi - (hi - lo) / 2  # why: fires come oldest first; halve until the newest fit


def cause_of(
    views: Views, row: ScheduleRow, after: datetime, now: datetime
) -> tuple[str, str, fates.Fire | None]:
    """Why no run succeeded in (after, now], from the latest fire there with a fate."""
    # why: `after` may be the fire itself (done_by); the window is open at its start
    _, told, _ = fire_queries.fates_in(views, row.name, after - _US, now, now)
    fire = next((f for f in reversed(told) if f.fate not in ("upcoming", "pending")), None)
    if fire is None:
        if row.state == "paused":
            return "paused", f"paused by {row.paused_by}: {row.paused_reason}".rstrip(": "), None
        return "never_triggered", f"no fire was due since {iso(after)}", None
    at = iso(fire.fire_time)
    if fire.fate in CAUSES:
        cause = CAUSES[fire.fate]
        why = fire.reason or fire.detail
        return cause, f"the fire of {at} was {fire.fate}" + (f": {why}" if why else ""), fire
    if fire.fate == "triggered":
        if fire.status in IN_FLIGHT:
            return (
                "still_running",
                f"the run {fire.run_id[:8]} of {at} is still {fire.status}",
                fire,
            )
        if fire.status in ("failed", "timed_out"):
            what = f": {fire.detail}" if fire.detail else ""
            return "failed", f"the run {fire.run_id[:8]} of {at} {fire.status}{what}", fire
    return "never_triggered", f"the fire of {at} is {fire.fate}", fire
