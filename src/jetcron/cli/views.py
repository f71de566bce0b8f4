"""Query commands: stats, health, audit, status, executors, actions, replay."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import typer

from jetcron.cli import text
from jetcron.cli.common import (
    ActorOpt,
    JsonOpt,
    ServerOpt,
    ask_view,
    command_meta,
    echo,
    handle_errors,
    parse_iso,
    parse_since,
    print_json,
    run,
    table,
    with_nats,
)
from jetcron.errors import (
    InfrastructureError,
    InvalidInput,
    JetcronError,
    NotPermitted,
    ServiceUnavailable,
)
from jetcron.projections.tallies import NO_EXECUTOR

if TYPE_CHECKING:
    from nats.aio.client import Client

HEALTHY, UNHEALTHY, UNREACHABLE = 0, 1, 3
"""`jetcron health` exit codes: all good, problems found, no answer (no NATS or no service)."""


@handle_errors
def stats(
    schedule: str | None = typer.Option(None, "--schedule", help="Only this schedule."),
    window: str | None = typer.Option(
        None, "--window", metavar="DURATION", help="Only runs fired within this long, e.g. 24h, 7d."
    ),
    server: str = ServerOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Run statistics per schedule, per executor and overall."""
    params: dict[str, Any] = {"schedule": schedule}
    if window:
        from jetcron.domain.durations import window_seconds

        params["window_s"] = window_seconds(window, "--window")
    rows = ask_view(server, "stats", params)
    if as_json:
        print_json(rows)
        return
    over = f" over {window}" if window else ""
    if not any(r.get("runs") for r in rows):
        # why: three empty tables read like a broken command
        of = f" of {schedule!r}" if schedule else ""
        echo(f"no finished runs{of}{over} yet" if not window else f"no finished runs{of}{over}")
        return
    for group, title in (("schedule", "per schedule"), ("executor", "per executor")):
        table(f"{title}{over}", _STATS_COLUMNS, _stats_rows(r for r in rows if r["group"] == group))
    table(f"overall{over}", _STATS_COLUMNS, _stats_rows(r for r in rows if r["group"] == "overall"))


_STATS_COLUMNS = ["", "runs", "failed", "ok %", "took p50", "p95", "late p99", "last success"]


def _stats_rows(rows: Iterable[dict[str, Any]]) -> Iterable[list[Any]]:
    for r in rows:
        rate = r.get("success_rate")
        key = r.get("key", "")
        yield [
            # why: runs no executor ever started (cancelled or lost before a start) are grouped
            # under the views' placeholder; a bare "-" read as a missing name
            "(not started)" if r["group"] == "executor" and key == NO_EXECUTOR else key,
            r.get("runs", 0),
            _count(r, "failed", "timed_out", "lost"),
            "-" if rate is None else f"{100 * rate:.0f}",
            *(_bound(r, r.get(k)) for k in ("duration_p50", "duration_p95", "lateness_p99")),
            text.utc(r.get("last_success")),
        ]


def _bound(row: dict[str, Any], seconds: float | None) -> str:
    """A percentile; `≤` marks a bucket upper bound (newcomer20b F4: 46.3s read as a fact)."""
    said = text.duration(seconds)
    return f"≤{said}" if row.get("bounded") and seconds is not None else said


def _count(row: dict[str, Any], *statuses: str) -> int:
    by_status = row.get("by_status") or {}
    return sum(int(by_status.get(s, 0)) for s in statuses)


@handle_errors
def health(
    server: str = ServerOpt,
    as_json: bool = JsonOpt,
    ack: bool = typer.Option(
        False,
        "--ack",
        help="Acknowledge the unreadable and rejected events and the offline executors listed "
        "now (recorded in the log with --reason; the events stay in the log and in `status`, an "
        "executor is listed again if it comes back and dies); then show what is left.",
    ),
    reason: str = typer.Option("", "--reason", help="Why (with --ack), recorded with it."),
    actor: str | None = ActorOpt,
) -> None:
    """Problems: failing, flaky or stale schedules, breaker pauses, offline executors, bad events.

    Bad events: unreadable or rejected ones; offline executors: heartbeat expired (one stopped
    on purpose is not listed). `--ack` acknowledges those listed now.

    Exit 0 healthy, 1 unhealthy, 3 unreachable (no NATS, or no jetcron service answers).
    """
    if reason and not ack:
        raise InvalidInput("--reason goes with --ack")
    seq = 0
    if ack:  # why: outside the try below: a refused or lost command is not "unreachable"
        seq = run(with_nats(server, lambda nc: _acknowledge(nc, actor, reason)))
        echo(
            f"acknowledged the unreadable and rejected events before log seq {seq}, "
            "and the executors offline then",
            err=True,
        )
    try:
        report = _health_at(server, ask_view(server, "health"), seq)
    except NotPermitted:
        raise  # why: the identity may not ask; the service is not unreachable (exit 1)
    except (InfrastructureError, OSError) as err:
        # why: no service answers, but NATS does: say whether a scheduler still ticks
        ticker = _no_ticker(server) if type(err) is ServiceUnavailable else None
        if as_json:
            more = {"problems": [ticker]} if ticker else {}
            print_json({"healthy": False, "reachable": False, "error": str(err), **more})
        echo(f"unreachable: {err}", err=True)
        if ticker:
            echo(ticker["detail"], err=True)
        raise typer.Exit(UNREACHABLE) from None
    if as_json:
        print_json(report)
    elif report.get("healthy"):
        echo("healthy")
    else:
        table(
            None,
            ["problem", "subject", "detail"],
            ([p["kind"].replace("_", " "), p["subject"], p["detail"]] for p in report["problems"]),
        )
    raise typer.Exit(HEALTHY if report.get("healthy") else UNHEALTHY)


def _no_ticker(server: str) -> dict[str, Any] | None:
    """The `no_ticker_leader` problem as the lease bucket shows it (the rule: health.py);
    None if a scheduler holds the lease, or NATS cannot be asked either."""
    from datetime import UTC, datetime

    import msgspec

    from jetcron.log.lease import last_written, lease_holder
    from jetcron.projections.health import no_ticker_leader

    async def look(nc: Any) -> tuple[str | None, float | None]:
        holder = await lease_holder(nc)
        return holder, None if holder else await last_written(nc)

    try:
        holder, written = run(with_nats(server, look))
    except (InfrastructureError, OSError):
        return None
    when = datetime.fromtimestamp(written, UTC) if written else None
    problem = no_ticker_leader(holder, last_held=when)
    return None if problem is None else msgspec.to_builtins(problem)


async def _acknowledge(nc: Any, actor: str | None, reason: str) -> int:
    """Send `health-ack`; the log seq of the acknowledgement."""
    from jetcron.client import send_command
    from jetcron.domain.commands import AcknowledgeHealth

    reply = await send_command(nc, AcknowledgeHealth(**command_meta("health", actor, reason)))
    return int(reply.events[0].seq)


def _health_at(server: str, report: Any, seq: int, wait_s: float = 3.0) -> Any:
    """The health report once the views have folded log seq `seq` (or the last one after
    `wait_s`): the answer to an --ack shows the acknowledgement."""
    import time

    deadline = time.monotonic() + wait_s
    while report.get("position", seq) < seq and time.monotonic() < deadline:
        time.sleep(0.1)
        report = ask_view(server, "health")
    return report


@handle_errors
def audit(
    name: str | None = typer.Argument(None, metavar="NAME", help="Only this schedule."),
    since: str | None = typer.Option(
        None,
        "--since",
        metavar="TIME",
        help="Only changes at or after this time: ISO-8601, or a duration back from now (2h, 3d).",
    ),
    server: str = ServerOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Every change: when, who, why, and what changed.

    Schedule and calendar changes with a field diff, operators' run commands (manual
    triggers, cancels), notification sinks added, removed or tested, and `health --ack`.
    """
    if since:
        since = parse_since(since)
    entries = ask_view(server, "audit", {"name": name, "since": since})
    if as_json:
        print_json(entries)
        return
    if not entries:
        echo("no changes" + (f" since {text.utc(since)}" if since else ""))
    for e in entries:
        for line in audit_lines(e):
            echo(line)


_CHANGES = {
    "schedule.created": "created",
    "schedule.updated": "updated",
    "schedule.paused": "paused",
    "schedule.resumed": "resumed",
    "schedule.completed": "completed",
    "schedule.deleted": "deleted",
    "run.triggered": "triggered run",
    "run.cancel_requested": "cancelled run",
    "schedule.fire_skip_planned": "skip planned",
    "schedule.fire_skip_cancelled": "skip cancelled",
    "calendar.created": "calendar created",
    "calendar.updated": "calendar updated",
    "calendar.deleted": "calendar deleted",
    "notify.added": "notification added",
    "notify.updated": "notification updated",
    "notify.removed": "notification removed",
    "notify.test": "notification tested",
    "health.acknowledged": "acknowledged (health --ack)",
}


def audit_lines(e: dict[str, Any]) -> list[str]:
    """One entry: `<time> <schedule> <change> by <actor>: <reason>`, then its diff indented."""
    change = _CHANGES.get(e["type"], e["type"])
    if e.get("run_id"):
        change += f" {text.short_id(e['run_id'])}"
    elif e.get("version"):
        change += f" (v{e['version']})"
    why = f": {e['reason']}" if e.get("reason") else ""
    # why: one line whatever the actor or reason hold (a newline forged an audit line)
    head = text.clean(f"{text.utc(e['at'])} {e['name']} {change} by {e['actor']}{why}")
    if "changes" not in e:  # why: a service older than the CLI answers with the diff only
        return [head, *(f"    {line}" for line in text.diff_lines(e.get("diff") or {}))]
    arrow = e["type"].endswith(".updated")  # why: else an old null means "not set before"
    return [head, *(f"    {text.change(c, arrow=arrow)}" for c in e["changes"])]


@handle_errors
def status(server: str = ServerOpt, as_json: bool = JsonOpt) -> None:
    """The system at a glance: log, views, schedules, runs in flight, executors."""
    s = ask_view(server, "status")
    if as_json:
        print_json(s)
        return
    for line in status_lines(s):
        echo(line)


def status_lines(s: dict[str, Any]) -> list[str]:
    """The status answer as lines of text."""
    st, pr = s["stream"], s["projection"]
    executors = [e["name"] for e in s["executors"]]
    leader = s.get("ticker_leader") or "none (no lease holder!)"
    online = f"{len(executors)} online" + (f": {', '.join(executors)}" if executors else "")
    if s.get("executors_unknown"):
        online = f"unknown: {s['executors_unknown']}"  # why: not "0 online", which is false
    kept = st.get("retention_s") or 0
    keep = pr.get("keep_runs") or 0
    return [
        f"log        {st['name']}: {st['messages']} events, {text.size(st['bytes'])}, "
        f"last seq {st['last_seq']}, {st['replicas']} replica(s)" + _snapshots(st),
        f"history    runs kept {text.duration(kept) if kept else 'forever'} in the log, "
        + (f"the last {keep} per schedule in the views" if keep else "all in the views"),
        f"views      at seq {pr['position']}, {pr['lag']} behind, "
        f"{pr['poison_events']} unreadable event(s), "
        f"{pr.get('rejected_run_events', 0)} rejected run event(s)",
        f"scheduler  {len(s['scheduler_replicas'])} replica(s), ticker leader {leader}"
        + _versions(s.get("scheduler_versions") or {}),
        f"schedules  {text.counts(s.get('schedules') or {})}; {s['runs_in_flight']} run(s) in flight"
        + _deleted(pr),
        f"executors  {online}",
        *(f"note: {note}" for note in s.get("service", {}).get("notes", [])),
        *(
            [f"warning: run history kept too {_too(kept)}: {short}"]
            if (short := st.get("retention_problem"))
            else []
        ),
    ]


def _versions(versions: dict[str, str]) -> str:
    """`, jetcron 0.2.0`, or each replica's version when they differ (a rolling upgrade)."""
    distinct = sorted(set(versions.values()))
    if len(distinct) <= 1:
        return f", jetcron {distinct[0]}" if distinct else ""
    return ", mixed versions: " + ", ".join(f"{r} {v}" for r, v in sorted(versions.items()))


def _deleted(pr: dict[str, Any]) -> str:
    """`; deleted: 1000 held, 19000 forgotten (the views keep the last 1000)` (forget.py)."""
    held, gone, bound = (
        pr.get(k) or 0 for k in ("deleted_held", "deleted_forgotten", "keep_deleted")
    )
    if not (held or gone):
        return ""
    out = f"; deleted: {held} held" + (f", {gone} forgotten" if gone else "")
    return out + (f" (the views keep the last {bound})" if bound else "")


def _executors(server: str) -> list[Any]:
    from jetcron.log.heartbeats import online_or_why

    async def listed(nc: Client) -> list[Any]:
        rows, why = await online_or_why(nc, timeout=5.0)
        if rows is None:
            raise InfrastructureError(why)  # why: "nats: timeout" alone names nothing
        return rows

    return run(with_nats(server, listed))


@handle_errors
def executors(server: str = ServerOpt, as_json: bool = JsonOpt) -> None:
    """Executors online now (from their heartbeats)."""
    rows = _executors(server)
    if as_json:
        print_json(rows)
        return
    if not rows:
        echo("no executor online (none has a live heartbeat)")
        for note in _log_full(server):
            echo(f"note: {note} (heartbeats are refused too)", err=True)
        return
    table(
        None,
        ["name", "targets", "running", "shell", "cpu %", "mem %", "clock", "seen", "problems"],
        (
            [
                e.name,
                ", ".join([*e.targets, *(f"tag:{t}" for t in e.tags)]),
                len(e.running),
                {True: "yes", False: "no", None: "-"}[e.allow_shell],
                "-" if e.cpu_percent is None else f"{e.cpu_percent:.0f}",
                "-" if e.memory_percent is None else f"{e.memory_percent:.0f}",
                "-" if e.clock_offset_s is None else f"{e.clock_offset_s:+.3f}s",
                text.utc(e.seen_at or e.host_time),
                "; ".join(e.problems) or "-",
            ]
            for e in rows
        ),
    )


def _log_full(server: str) -> list[str]:
    """The service's `log full` note, if it has one (why no heartbeat is stored)."""
    try:
        notes = ask_view(server, "status").get("service", {}).get("notes", [])
    except (JetcronError, OSError):
        return []  # why: no service answers (or may not be asked): just "none online"
    return [n for n in notes if n.startswith("log full")]


@handle_errors
def actions(server: str = ServerOpt, as_json: bool = JsonOpt) -> None:
    """Actions the executors online now can run, and who offers them."""
    offered = actions_offered(_executors(server))
    if as_json:
        print_json(offered)
        return
    if not offered:
        echo("no executor online offers an action")
        return
    table(
        None,
        ["action", "parameters", "executors", "targets"],
        (
            [a["action"], " ".join(a["parameters"]) or "-", ", ".join(a["executors"]),
             ", ".join(a["targets"])]
            for a in offered
        ),
    )  # fmt: skip


def actions_offered(infos: Iterable[Any]) -> list[dict[str, Any]]:
    """[{action, parameters, executors, targets}] by action name, from executor heartbeats."""
    by: dict[str, dict[str, set[str]]] = {}
    params: dict[str, list[str]] = {}
    for info in infos:
        for name in info.actions:
            entry = by.setdefault(name, {"executors": set(), "targets": set()})
            entry["executors"].add(info.name)
            entry["targets"].update(info.targets)
            params.setdefault(name, list(info.action_params.get(name, [])))
    return [
        {
            "action": name,
            "parameters": params[name],
            "executors": sorted(e["executors"]),
            "targets": sorted(e["targets"]),
        }
        for name, e in sorted(by.items())
    ]


@handle_errors
def replay(
    as_of: str | None = typer.Option(
        None,
        "--as-of",
        metavar="TIME",
        help="Show the world as it was at this time: ISO-8601, or a duration back (2h, 3d).",
    ),
    verify: bool = typer.Option(
        False, "--verify", help="Rebuild from scratch and compare with the live service."
    ),
    server: str = ServerOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Rebuild state from the log, client-side (audits, `--as-of`, `--verify`)."""
    from jetcron.cli.replaying import replay_command

    replay_command(
        server, parse_iso(parse_since(as_of, "--as-of")) if as_of else None, verify, as_json
    )


def _too(retention_s: int) -> str:
    """Which bound a refused retention crosses (the rule: rollups.retention_problem)."""
    from jetcron.log.retention import MAX_RETENTION_S

    return "long" if retention_s > MAX_RETENTION_S else "short"


def _snapshots(stream: dict[str, Any]) -> str:
    """The checkpoints' store beside the log (newcomer20b F3: it held more than the log)."""
    size = stream.get("snapshot_bytes")
    return "" if size is None else f"; checkpoints {text.size(size)}"
