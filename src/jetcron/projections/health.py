"""Health: problems an operator should look at, derived from the views at a given time.

A schedule is `failing` from its first failed run until a run succeeds (with since when and
how many in a row); a low success rate over the window with a good last run is `flaky`; a
circuit-breaker pause is `paused_by_system`, reported on its own. No scheduler holding the
ticker lease is `no_ticker_leader`: nothing fires until one does. An online executor whose
heartbeat names a problem (its journal unwritable) is `executor_problem`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Literal, Protocol

import msgspec

from jetcron.domain.calendar import CalendarDefinition
from jetcron.domain.runs import FANNED_OUT, fanout_parent, is_fanout
from jetcron.projections import calendars, refused, schedules, stats
from jetcron.projections.queries import iso as _iso
from jetcron.projections.runs import IN_HAND, RunRow
from jetcron.projections.schedules import ScheduleRow
from jetcron.projections.state import Views
from jetcron.subjects import FAN_PREFIX

ProblemKind = Literal[
    "failing",
    "flaky",
    "stale",
    "paused_by_system",
    "executor_offline",
    "executor_problem",
    "poison_events",
    "refused_definition",
    "rejected_run_events",
    "expectation_missed",
    "notify_failing",
    "no_ticker_leader",
]


class ExecutorLike(Protocol):
    """What health needs from an executor heartbeat: the targets it serves."""

    @property
    def targets(self) -> Sequence[str]:
        """Host name, tag pools and fan-out groups this executor consumes."""
        ...

    @property
    def problems(self) -> Sequence[str]:
        """What keeps it from running work now (its heartbeat says; e.g. its journal)."""
        ...


class Problem(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One thing that is wrong."""

    kind: ProblemKind
    subject: str
    """The schedule name, the executor target, or `projections`."""
    detail: str
    since: datetime | None = None
    """When it began (failing: the first failed run of the streak)."""
    streak: int = 0
    """Failing: failed runs in a row."""


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
        *(_executor_checks(views, executors_online) if executors_online is not None else ()),
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


def iso(dt: datetime | None) -> str | None:
    """A time in a problem's text: UTC with a Z, to the second."""
    return None if dt is None else _iso(dt.replace(microsecond=0))


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


def _waiting(views: Views) -> Iterable[RunRow]:
    """Runs no executor has taken: triggered ones, and fan-outs of a live schedule that no
    member has run yet (a member that comes online later still runs it)."""
    rows = views.runs.rows
    fans = [r for r in rows.values() if r.status == FANNED_OUT]
    if fans:
        ran = {fanout_parent(k) for k in rows if "-" in k}
        live = views.schedules.ids
        yield from (r for r in fans if r.run_id not in ran and r.schedule_id in live)
    yield from (r for r in rows.values() if r.status == "triggered")


def _executor_checks(
    views: Views, executors_online: Mapping[str, ExecutorLike]
) -> Iterable[Problem]:
    """What the executors online now (or missing) mean for the runs waiting on them."""
    offline = [
        *_executors_offline(views, executors_online),
        *_fan_members_offline(views, executors_online),
    ]
    yield from offline
    yield from _executors_gone(views, executors_online, {p.subject for p in offline})
    yield from _executor_problems(executors_online)


def _executors_offline(
    views: Views, executors_online: Mapping[str, ExecutorLike]
) -> Iterable[Problem]:
    served = {target for info in executors_online.values() for target in info.targets}
    waiting: dict[str, list[datetime]] = {}
    for run in _waiting(views):
        if run.target not in served:
            waiting.setdefault(run.target, []).append(run.triggered_at or run.fire_time)
    for target, since in sorted(waiting.items()):
        yield Problem(
            kind="executor_offline",
            subject=target,
            detail=f"{len(since)} run(s) waiting since {iso(min(since))}; "
            "no online executor serves this target",
            since=min(since),
        )
    # why: a run an executor holds when it dies stays `running` until that executor comes back
    # (its journal reports it) or the run is redelivered; say whose silence it waits on
    held: dict[str, list[datetime]] = {}
    for run in views.runs.rows.values():
        if run.status in IN_HAND and run.executor and run.executor not in executors_online:
            held.setdefault(run.executor, []).append(run.started_at or run.fire_time)
    for executor, started in sorted(held.items()):
        yield _holding(views, executor, started)


def _holding(views: Views, executor: str, started: list[datetime]) -> Problem:
    """An executor not online that holds runs: offline since its heartbeat expired (as the log
    says; newcomer19b F4: the run's start read as that), and when the runs started."""
    gone = views.hosts.since.get(executor) if views.hosts.online.get(executor) is False else None
    away = f"offline since {iso(gone)} (its heartbeat expired)" if gone else "not online"
    n = len(started)
    runs = "1 run in flight, started at" if n == 1 else f"{n} runs in flight, the first started at"
    return Problem(
        kind="executor_offline",
        subject=executor,
        detail=f"{away}; holds {runs} {iso(min(started))}; its journal settles them when it "
        "comes back, else they are redelivered or declared lost after their timeout + grace",
        since=gone or min(started),
    )


def _executors_gone(
    views: Views, executors_online: Mapping[str, ExecutorLike], listed: set[str]
) -> Iterable[Problem]:
    """Executors whose heartbeat expired (died, hung, lost NATS) and have not come back.

    why: a pool member that dies holds nothing and nothing waits for it while its peers take the
    work, so silence would read as healthy while the pool has lost a host. One that stopped on
    purpose, or that an operator acknowledged (`health --ack`: gone for good), is not listed.
    """
    hosts = views.hosts
    for name, online in sorted(hosts.online.items()):
        if online or name in executors_online or name in listed or name in hosts.quiet:
            continue
        since = hosts.since.get(name)
        yield Problem(
            kind="executor_offline",
            subject=name,
            detail=f"offline{f' since {iso(since)}' if since else ''}: its heartbeat expired "
            "(it died, hung or lost NATS); listed until it comes back, or `jetcron health "
            "--ack` if it is gone for good",
            since=since,
        )


def _executor_problems(executors_online: Mapping[str, ExecutorLike]) -> Iterable[Problem]:
    """What an online executor says keeps it from running work (a full journal disk): online
    is not enough, its triggers wait (the NATS side of this is `log_full`)."""
    for name, info in sorted(executors_online.items()):
        for problem in info.problems:
            yield Problem(kind="executor_problem", subject=name, detail=problem)


def _fan_members_offline(
    views: Views, executors_online: Mapping[str, ExecutorLike]
) -> Iterable[Problem]:
    """Members of a live schedule's fan-out group whose heartbeat is gone: its fires wait.

    why: a member that is away misses every fire of the group; nothing waits in the views for
    it (how many members a fire has is not in the log), so silence would read as healthy.
    """
    groups: dict[str, list[str]] = {}
    for row in views.schedules.rows.values():
        if row.state == "active" and is_fanout(row.definition.target):
            groups.setdefault(row.definition.target, []).append(row.name)
    if not groups:
        return
    held = {r.executor for r in views.runs.rows.values() if r.status in IN_HAND}
    away = _fan_members(views, groups.keys()).items()
    for name, targets in sorted(away):
        if name in executors_online or name in held or _acknowledged(views, name):
            continue  # why: online, already reported as holding runs, or gone for good
        since = views.hosts.since.get(name) if views.hosts.online.get(name) is False else None
        names = sorted({n for t in targets for n in groups[t]})
        yield Problem(
            kind="executor_offline",
            subject=name,
            detail=f"member of {', '.join(sorted(targets))} (schedule(s) {', '.join(names)}) "
            f"but offline{f' since {iso(since)}' if since else ''}; it misses their fires "
            "until it comes back",
            since=since,
        )


def _acknowledged(views: Views, name: str) -> bool:
    """An operator said (`health --ack`) this offline executor is gone for good."""
    return views.hosts.quiet.get(name) == "acknowledged"


def _fan_members(views: Views, targets: Iterable[str]) -> dict[str, set[str]]:
    """Executor -> the fan-out targets among `targets` it belongs to, as the log knows it."""
    wanted, out = set(targets), dict[str, set[str]]()
    for name, tags in views.hosts.tags.items():
        if mine := {f"{FAN_PREFIX}{tag}" for tag in tags} & wanted:
            out[name] = mine
    # why: an online event from before tags were recorded: one that ran a member belongs too
    for run in views.runs.rows.values():
        if run.executor and run.target in wanted and run.executor not in views.hosts.tags:
            out.setdefault(run.executor, set()).add(run.target)
    return out


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
