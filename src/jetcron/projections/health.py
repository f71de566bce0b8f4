"""Health: problems an operator should look at, derived from the views at a given time.

A schedule is `failing` from its first failed run until a run succeeds (with since when and
how many in a row); a low success rate over the window with a good last run is `flaky`; a
circuit-breaker pause is `paused_by_system`, reported on its own. No scheduler holding the
ticker lease is `no_ticker_leader`: nothing fires until one does. An online executor whose
heartbeat names a problem (its journal unwritable) is `executor_problem`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

import msgspec

from jetcron.domain.calendar import CalendarDefinition
from jetcron.projections import calendars, refused, schedules, stats
from jetcron.projections.executor_health import ExecutorLike, executor_checks
from jetcron.projections.problems import Problem, iso
from jetcron.projections.schedules import ScheduleRow
from jetcron.projections.state import Views


class HealthReport(msgspec.Struct, kw_only=True):
    """All problems found at `checked_at`; healthy when there are none."""

    healthy: bool
    checked_at: datetime
    problems: list[Problem] = []
    position: int = 0
    """The log sequence the views reflect (a caller waiting for its own change to show)."""
    acknowledged: int = 0
    """Unreadable and rejected events acknowledged (`health --ack`) and no longer listed."""


class Thresholds(msgspec.Struct, frozen=True, kw_only=True):
    """When a schedule counts as failing, flaky or stale."""

    failing_after: int = 1
    """Failed runs in a row that make a schedule failing (1: from its first failed run)."""
    flaky_rate: float = 0.5
    flaky_min_finished: int = 10
    flaky_window: timedelta | None = timedelta(days=7)
    """Runs fired in this window decide `flaky` (None: all history)."""
    stale_after: timedelta = timedelta(days=7)


DEFAULT_THRESHOLDS = Thresholds()


def evaluate(
    views: Views,
    *,
    now: datetime,
    executors_online: Mapping[str, ExecutorLike] | None,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> HealthReport:
    """Every problem visible in the views at `now`, given the executors currently online
    (None: unknown now, so no executor is called offline; the caller says why)."""
    problems = [
        *_schedule_problems(
            views.schedules.rows.values(), now, thresholds, calendars.definitions(views.calendars)
        ),
        *_flaky(views, now, thresholds),
        *(executor_checks(views, executors_online) if executors_online is not None else ()),
        *_expectations(views.schedules.rows.values()),
        *_notifications(views),
    ]
    if unacknowledged := views.poison - views.poison_acknowledged:
        problems.append(_poison(views, unacknowledged))
    problems += [
        Problem(
            kind="refused_definition",
            subject=name,
            detail=refused.explain(name, r, exists=name in views.schedules.rows),
        )
        for name, r in views.refused.by_name.items()
    ]
    problems += [
        Problem(
            kind="rejected_run_events",
            subject=f"seq {sample.seq}",
            detail=f"rejected, not folded: {sample.problem}",
        )
        for sample in views.rejected_samples
    ]
    return HealthReport(
        healthy=not problems,
        checked_at=now,
        problems=problems,
        position=views.position,
        acknowledged=views.poison_acknowledged + views.rejected_acknowledged,
    )


POISON_NAMED = 3
"""Unreadable events the health row names by sequence; the rest are counted."""


def _poison(views: Views, n: int) -> Problem:
    """The unreadable events since the last acknowledgement: how many, and where the first
    are (newcomer19b F11: a count alone left the operator to search the log)."""
    since = " since the last `health --ack`" if views.poison_acknowledged else ""
    named = [f"seq {p.seq} ({p.type or '?'})" for p in views.poison_samples[:POISON_NAMED]]
    more = f" and {n - len(named)} more" if named and n > len(named) else ""
    where = f": {', '.join(named)}{more}" if named else ""
    return Problem(
        kind="poison_events",
        subject="projections",
        detail=f"{n} event(s) could not be folded{since}{where}; see the projection log "
        "(or `jetcron -v replay --verify`), then `jetcron health --ack`",
    )


def _flaky(views: Views, now: datetime, t: Thresholds) -> Iterable[Problem]:
    live = views.schedules.rows
    for row in stats.compute(views.runs, now=now, window=t.flaky_window, group="schedule"):
        rate, schedule = row.success_rate, live.get(row.key)
        if schedule is None or rate is None or row.finished < t.flaky_min_finished:
            continue
        # why: a schedule whose last run failed is `failing` already; one line per schedule
        if rate < t.flaky_rate and schedule.consecutive_failures < t.failing_after:
            yield Problem(
                kind="flaky",
                subject=row.key,
                detail=f"{rate:.0%} of {row.finished} finished runs succeeded",
            )


def _schedule_problems(
    rows: Iterable[ScheduleRow],
    now: datetime,
    t: Thresholds,
    cals: Mapping[str, CalendarDefinition],
) -> Iterable[Problem]:
    for row in sorted(rows, key=lambda r: r.name):
        if row.consecutive_failures >= t.failing_after:
            yield _failing(row)
        if row.state == "paused" and row.paused_by_system:
            yield Problem(
                kind="paused_by_system",
                subject=row.name,
                detail=row.paused_reason or "paused by jetcron",
            )
        due = _stale_since(row, now, t.stale_after, cals)
        if due is not None:
            last = iso(row.last_run_at) or "never"
            yield Problem(
                kind="stale",
                subject=row.name,
                detail=f"a fire was due at {iso(due)} but no run since {last}",
                since=due,
            )


def _failing(row: ScheduleRow) -> Problem:
    n = row.consecutive_failures
    runs = "the last run" if n == 1 else f"the last {n} runs"
    since = f" since {iso(row.failing_since)}" if row.failing_since else ""
    error = f": {row.last_error}" if row.last_error else ""
    return Problem(
        kind="failing",
        subject=row.name,
        detail=f"failing{since} ({runs} failed){error}",
        since=row.failing_since,
        streak=n,
    )


def _stale_since(
    row: ScheduleRow, now: datetime, horizon: timedelta, cals: Mapping[str, CalendarDefinition]
) -> datetime | None:
    """The first fire expected in the horizon, if the schedule is old enough and ran in none
    (a fire its calendars take is not expected)."""
    since = now - horizon
    if row.state != "active" or row.created_at is None or row.created_at > since:
        return None
    if row.last_run_at is not None and row.last_run_at >= since:
        return None
    due = schedules.next_fire(row, since, cals)
    return None if due is None or due > now else due


def _expectations(rows: Iterable[ScheduleRow]) -> Iterable[Problem]:
    for row in sorted(rows, key=lambda r: r.name):
        for kind, miss in sorted(row.expectations.items()):
            yield Problem(
                kind="expectation_missed",
                subject=row.name,
                detail=f"{kind.replace('_', ' ')} missed at {iso(miss.deadline)}: "
                f"{miss.cause.replace('_', ' ')} ({miss.detail})",
                since=miss.deadline,
            )


def _notifications(views: Views) -> Iterable[Problem]:
    for name, row in sorted(views.notifications.rows.items()):
        if row.failing:
            counts = f"; {len(row.retrying)} event(s) retrying" if row.retrying else ""
            counts += f"; {row.failed} event(s) given up" if row.failed else ""
            yield Problem(
                kind="notify_failing",
                subject=name,
                detail=f"deliveries failing since {iso(row.failing_since)}: {row.last_error}"
                + counts,
                since=row.failing_since,
            )


def no_ticker_leader(
    holder: str | None,
    *,
    last_held: datetime | None,
    looking_since: datetime | None = None,
    cause: str = "",
) -> Problem | None:
    """The problem when no scheduler holds the ticker lease (`holder` None), else None.

    `last_held`: when the lease was last written (a renew: the server's time) or else last seen
    held; `looking_since`: when the asker began to look (if it never saw it held); `cause`: why
    the answering replica cannot take it.
    """
    if holder is not None:
        return None
    since = last_held or looking_since
    seen = (
        f"; last held at about {iso(last_held)}"
        if last_held
        else f"; not seen held since {iso(looking_since)}"
        if looking_since
        else ""
    )
    why = f"; this replica cannot take it: {cause}" if cause else ""
    return Problem(
        kind="no_ticker_leader",
        subject="scheduler",
        detail=f"no scheduler is ticking (nobody holds the ticker lease{seen}), so nothing "
        f"fires{why}",
        since=since,
    )
