"""The answers about one replica itself: `health` and `status` (NATS, followers, lease, stream)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec

from jetcron import __version__, subjects
from jetcron.log.errors import STORAGE
from jetcron.log.follow import iso
from jetcron.log.lease import KvLease, last_written, lease_holder
from jetcron.log.replicas import replica_answer
from jetcron.log.retention import MAX_RETENTION_S, kept
from jetcron.log.stream import retention_of
from jetcron.projections import forecast, health
from jetcron.projections.rollups import retention_problem
from jetcron.projections.staleness import notes
from jetcron.projections.state import Views

if TYPE_CHECKING:
    from jetcron.projections.service import ProjectionService


async def health_of(
    svc: ProjectionService, views: Views, params: dict[str, Any], now: datetime
) -> Any:
    """The `health` answer: the views' problems, the executors', the service's, the ticker's."""
    from jetcron.log.heartbeats import online_or_why

    listed, why = await online_or_why(svc.nc)
    if STORAGE.since is not None:
        # why: heartbeats are appends too: while the log is full a live executor's beats are
        # refused and expire, so a missing one says nothing (newcomer19b F5: "not online … lost")
        listed, why = None, HEARTBEATS_REFUSED
    online = None if listed is None else {e.name: e for e in listed}
    report = msgspec.to_builtins(health.evaluate(views, now=now, executors_online=online))
    if why:
        unknown = {"kind": "executors_unknown", "subject": "executors", "detail": why}
        report["problems"].append(unknown)
    # why: a frozen view would otherwise report "healthy" from old data
    report["problems"] += service_problems(svc, await behind(svc))
    report["problems"] += await ticker_problems(svc)
    report["problems"] += retention_problems(svc.log.stream, svc.log.retention_s)
    report["healthy"] = not report["problems"]
    return report


def retention_problems(stream: str, seconds: int | None) -> list[dict[str, str]]:
    """`retention_short` (`retention_long`) when the log keeps run history less than the
    minimum (longer than the maximum; the rule: rollups.retention_problem). why: a log set
    short live (or by an older jetcron) was warned of only at a replica's start; `health` said
    healthy (newcomer19c #5); one set far too long kept nothing (newcomer20b F2)."""
    problem = retention_problem(seconds) if seconds else None
    if problem is None or not seconds:
        return []
    long = seconds > MAX_RETENTION_S
    detail = (
        f"run history kept {'' if long else 'only '}{kept(seconds)}, "
        f"too {'long' if long else 'short'} ({problem}): "
        f"restart a replica with --retention {'forever' if long else '2d or longer'}"
    )
    kind = "retention_long" if long else "retention_short"
    return [{"kind": kind, "subject": f"stream {stream}", "detail": detail}]


async def snapshot_bytes(js: Any) -> int | None:
    """Bytes of the checkpoints' object store on disk (None: not read). why: it held more than
    the log itself, and `status` showed only the log's (newcomer20b F3)."""
    try:
        info = await js.stream_info(f"OBJ_{subjects.SNAPSHOT_BUCKET}")
    except Exception:  # noqa: BLE001 - a status answer without it
        return None
    return int(info.state.bytes)


HEARTBEATS_REFUSED = (
    "executors' heartbeats cannot be stored while the log is full (see `log full`), so which "
    "are online is unknown: none is called offline, and the runs they hold wait for them"
)


async def conflicts_of(
    svc: ProjectionService, views: Views, params: dict[str, Any], now: datetime
) -> Any:
    """forecast.conflicts_of; a crowded check with the online executors' concurrency."""
    from jetcron.log.heartbeats import online_or_why

    executors: list[tuple[list[str], int | None]] = []
    if params.get("crowded"):
        # why: the warning of `schedule add` waits at most 2 s for the whole answer; a
        # bucket that cannot be read now counts as no executor (each target takes 1)
        listed, _ = await online_or_why(svc.nc, timeout=1.0)
        executors = [(e.targets + e.tags, e.concurrency) for e in listed or []]
    return forecast.conflicts_of(views, params, now, executors)


async def behind(svc: ProjectionService) -> int | None:
    """How many events the views lack right now (None if the log does not say)."""
    try:
        async with asyncio.timeout(2.0):  # why: not wait_for (log/follow.set_within)
            return max(0, await svc.log.last_seq() - svc.views.position)
    except Exception:  # noqa: BLE001 - an unreachable log is itself the answer
        return None


async def ticker_problems(svc: ProjectionService) -> list[Any]:
    """`no_ticker_leader` when no replica holds the ticker lease (the rule: `health.py`)."""
    lease = svc.lease
    if not isinstance(lease, KvLease):
        return []  # why: a SoloLease means this very process ticks
    holder = await lease.holder_now()
    written = None if holder else await last_written(svc.nc, bucket=lease.bucket)
    problem = health.no_ticker_leader(
        holder,
        last_held=_wall(written or lease.last_held),
        looking_since=_wall(lease.started),
        cause=lease.error,
    )
    return [] if problem is None else [msgspec.to_builtins(problem)]


def service_problems(svc: ProjectionService, behind: int | None) -> list[dict[str, str]]:
    """The service's own problems: a follower down, views stale, the log full."""
    out = [
        {
            "kind": "follower_down",
            "subject": name,
            "detail": f"down since {iso(f.down_since)}: {f.error}",
        }
        for name, f in sorted(svc.followers.items())
        if f.down_since is not None
    ]
    stale = svc.staleness(behind) if not out else None
    if stale is not None:
        out.append({"kind": "view_stale", "subject": "projections", "detail": stale.line()})
    if (full := _log_full()) is not None:
        out.append({"kind": "log_full", "subject": STORAGE.where(), "detail": full})
    return out


async def status_of(
    svc: ProjectionService, views: Views, params: dict[str, Any], now: datetime
) -> Any:
    """The `status` answer: stream, views, schedules by state, executors, replicas, service."""
    from jetcron.log.heartbeats import online_or_why

    info = await svc.log.js.stream_info(svc.log.stream)
    states: dict[str, int] = {}
    for row in views.schedules.rows.values():
        states[row.state] = states.get(row.state, 0) + 1
    # why: the fold keeps the rows in flight (tallies), so this does not walk every row
    in_flight = len(views.runs.tallies.flight)
    listed, why = await online_or_why(svc.nc)
    return {
        "stream": {
            "name": info.config.name,
            "messages": info.state.messages,
            "bytes": info.state.bytes,
            "first_seq": info.state.first_seq,
            "last_seq": info.state.last_seq,
            "replicas": info.config.num_replicas,
            "retention_s": retention_of(info.config.metadata),
            "retention_problem": retention_problem(retention_of(info.config.metadata) or 0),
            "snapshot_bytes": await snapshot_bytes(svc.log.js),
        },
        "projection": _projection(views, info.state.last_seq),
        "schedules": states,
        "runs_in_flight": in_flight,
        "executors": [msgspec.to_builtins(e) for e in listed or []],
        "executors_unknown": why or None,
        **await replicas(svc),
        "ticker_leader": await lease_holder(svc.nc),
        "service": service_report(svc, info.state.last_seq - views.position),
        "version": __version__,
    }


def _projection(views: Views, last_seq: int) -> dict[str, Any]:
    """The views' part of `status`: position, lag, poison, windows kept."""
    return {
        "position": views.position,
        "lag": last_seq - views.position,
        "poison_events": views.poison,
        "rejected_run_events": views.rejected,
        "keep_runs": views.keep,
        "keep_deleted": views.keep_deleted,
        "deleted_held": len(views.schedules.deleted),
        "deleted_forgotten": views.schedules.forgotten,
    }


def service_report(svc: ProjectionService, behind: int) -> dict[str, Any]:
    """This replica's view of NATS and of its followers, with one human line per concern."""
    nats = svc.connection.report()
    followers = {name: f.report() for name, f in sorted(svc.followers.items())}
    stale = svc.staleness(behind)
    full = _log_full()
    return {
        "nats": nats,
        "followers": followers,
        "stale": None if stale is None else {"since": stale.iso(), "reason": stale.reason},
        "notes": [*notes(nats, followers, stale), *([f"log full: {full}"] if full else [])],
    }


async def replicas(svc: ProjectionService) -> dict[str, Any]:
    """Instances of the jetcron-query service that answer a micro PING within 250 ms, and
    the jetcron version each runs (why: a rolling upgrade shows as mixed versions)."""
    inbox = svc.nc.new_inbox()
    versions: dict[str, str] = {}

    async def collect(msg: Any) -> None:
        answer = replica_answer(msg.data)
        if answer is not None:
            versions[answer[0]] = answer[1]

    sub = await svc.nc.subscribe(inbox, cb=collect)
    await svc.nc.publish(subjects.service_ping(subjects.QUERY_SERVICE), b"", reply=inbox)
    await asyncio.sleep(0.25)
    await sub.unsubscribe()
    return {"scheduler_replicas": list(versions), "scheduler_versions": versions}


def _wall(t: float) -> datetime | None:
    """A `time.time()` stamp as a UTC datetime (0: unknown)."""
    return datetime.fromtimestamp(t, UTC) if t else None


def _log_full() -> str | None:
    """Since when this process's appends are refused for want of storage, and what to do."""
    if STORAGE.since is None:
        return None
    last = f" (the last to {STORAGE.subject})" if STORAGE.subject else ""
    return f"appends refused since {iso(STORAGE.since)}{last}: {STORAGE.cause}"
