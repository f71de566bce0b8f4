"""Health's executor checks: runs waiting on a target no executor online serves, runs held by
an executor gone quiet, fan-out members away, and what an online executor says is wrong.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from jetcron.domain.runs import FANNED_OUT, fanout_parent, is_fanout
from jetcron.projections import held
from jetcron.projections.problems import Problem, iso
from jetcron.projections.runs import IN_HAND, RunRow
from jetcron.projections.state import Views
from jetcron.subjects import FAN_PREFIX


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


def executor_checks(
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
    holding: dict[str, list[datetime]] = {}
    for run in views.runs.rows.values():
        if run.status in IN_HAND and run.executor and run.executor not in executors_online:
            holding.setdefault(run.executor, []).append(run.started_at or run.fire_time)
    for executor, started in sorted(holding.items()):
        yield _holding(views, executor, started)


def _holding(views: Views, executor: str, started: list[datetime]) -> Problem:
    """An executor not online that holds runs: offline since its heartbeat expired (as the log
    says; newcomer19b F4: the run's start read as that), and when the runs started."""
    gone = views.hosts.since.get(executor) if views.hosts.online.get(executor) is False else None
    away = f"offline since {iso(gone)} (its heartbeat expired)" if gone else "not online"
    n = len(started)
    fate = held.fate(n, views.hosts.ack_wait.get(executor))
    runs = "1 run in flight, started at" if n == 1 else f"{n} runs in flight, the first started at"
    return Problem(
        kind="executor_offline",
        subject=executor,
        detail=f"{away}; holds {runs} {iso(min(started))}; {fate}",
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
