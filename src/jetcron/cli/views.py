"""Query commands: runs, stats, health, audit, status, executors, replay."""

from __future__ import annotations

from typing import Any, get_args

import typer

from jetcron.cli.common import (
    ActorOpt,
    JsonOpt,
    ReasonOpt,
    ServerOpt,
    console,
    default_actor,
    fmt_secs,
    fmt_time,
    handle_errors,
    parse_iso,
    print_json,
    run,
    table,
    with_nats,
)
from jetcron.client import query
from jetcron.domain.events import RunStatus
from jetcron.domain.spec import parse_duration
from jetcron.errors import InvalidInput

runs_app = typer.Typer(help="Run history.", no_args_is_help=True)

RUN_STATUSES: tuple[str, ...] = get_args(RunStatus)


def _q(server: str, view: str, params: dict[str, Any] | None = None) -> Any:
    return run(with_nats(server, lambda nc: query(nc, view, params or {})))


def _short(text: str, width: int = 60) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


@runs_app.command("list")
@handle_errors
def runs_list(
    schedule: str | None = typer.Option(None, "--schedule", help="Only this schedule."),
    status: str | None = typer.Option(
        None, "--status", help=f"Only this status: {', '.join(RUN_STATUSES)}."
    ),
    since: str | None = typer.Option(
        None, "--since", help="Only runs fired at or after this ISO time."
    ),
    limit: int = typer.Option(50, "--limit", help="At most this many runs."),
    server: str = ServerOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Runs, newest first."""
    if status is not None and status not in RUN_STATUSES:
        raise InvalidInput(f"unknown status {status!r}: one of {', '.join(RUN_STATUSES)}")
    if since:
        parse_iso(since)
    page = _q(
        server, "runs", {"schedule": schedule, "status": status, "since": since, "limit": limit}
    )
    if as_json:
        print_json(page["runs"])
        return
    table(
        None,
        [
            "run",
            "schedule",
            "fire time",
            "status",
            "try",
            "executor",
            "exit",
            "duration s",
            "late s",
            "error / reason",
        ],
        (
            [
                r["run_id"],
                r["schedule"],
                fmt_time(r["fire_time"]),
                r["status"],
                r.get("attempt", 1),
                r.get("executor", ""),
                r.get("exit_code"),
                fmt_secs(r.get("duration_s")),
                fmt_secs(r.get("lateness_s")),
                _short(r.get("error") or r.get("reason") or ""),
            ]
            for r in page["runs"]
        ),
    )
    if page.get("more"):
        console.print(f"(more: use --limit {limit * 2})")


@runs_app.command("show")
@handle_errors
def runs_show(run_id: str, server: str = ServerOpt, as_json: bool = JsonOpt) -> None:
    """One run, with its events and output."""
    row = _q(server, "run", {"run_id": run_id})
    output = run(with_nats(server, lambda nc: _output(nc, row)))
    if as_json:
        print_json(dict(row, output=output))
        return
    for key, value in row.items():
        console.print(f"  {key:14} {value}", highlight=False)
    for stream in ("stdout", "stderr"):
        if output.get(stream):
            console.rule(stream)
            console.print(output[stream], highlight=False, markup=False)


@runs_app.command("cancel")
@handle_errors
def runs_cancel(
    run_id: str,
    reason: str = ReasonOpt,
    actor: str | None = ActorOpt,
    server: str = ServerOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Stop a run: its executor stops the job (SIGTERM, then SIGKILL after its grace period)."""
    from datetime import UTC, datetime

    from jetcron import ids
    from jetcron.client import send_command
    from jetcron.domain.commands import CancelRun

    row = _q(server, "run", {"run_id": run_id})
    command = CancelRun(
        name=row["schedule"], run_id=row["run_id"], command_id=ids.new_id(),
        at=datetime.now(UTC), actor=actor or default_actor(), reason=reason,
    )  # fmt: skip
    reply = run(with_nats(server, lambda nc: send_command(nc, command)))
    if as_json:
        print_json(reply)
    else:
        console.print(f"cancel requested for run {row['run_id']} of {row['schedule']!r}")


@runs_app.command("logs")
@handle_errors
def runs_logs(run_id: str, server: str = ServerOpt) -> None:
    """The raw captured output of a run (stdout, then stderr to stderr)."""
    import sys

    row = _q(server, "run", {"run_id": run_id})
    output = run(with_nats(server, lambda nc: _output(nc, row)))
    sys.stdout.write(output.get("stdout", ""))
    sys.stderr.write(output.get("stderr", ""))


async def _output(nc: Any, row: dict[str, Any]) -> dict[str, Any]:
    from jetcron import subjects
    from jetcron.log.stream import EventLog

    event_log = await EventLog(nc).open(create=False)
    try:
        events, _ = await event_log.load(subjects.run(row["schedule"], row["run_id"]))
    finally:
        await event_log.close()
    for stored in reversed(events):
        output = getattr(stored.envelope.event, "output", None)
        if output is not None:
            import msgspec

            return msgspec.to_builtins(output)  # type: ignore[no-any-return]
    return {}


@handle_errors
def stats(
    schedule: str | None = typer.Option(None, "--schedule", help="Only this schedule."),
    window: str | None = typer.Option(
        None, "--window", help="Only runs fired within this long, e.g. 24h, 7d."
    ),
    server: str = ServerOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Run statistics per schedule, per executor and overall."""
    params: dict[str, Any] = {"schedule": schedule}
    if window:
        try:
            params["window_s"] = parse_duration(window).total_seconds()
        except ValueError as err:
            raise InvalidInput(f"--window: {err}") from err
    rows = _q(server, "stats", params)
    if as_json:
        print_json(rows)
        return
    table(
        f"stats{' over ' + window if window else ''}",
        [
            "group",
            "key",
            "runs",
            "ok",
            "failed",
            "success %",
            "dur p50",
            "dur p95",
            "late p50",
            "late p99",
            "last success",
        ],
        (
            [
                r["group"],
                r.get("key", ""),
                r.get("runs", 0),
                _count(r, "succeeded"),
                _count(r, "failed", "timed_out", "lost"),
                "-" if r.get("success_rate") is None else f"{100 * r['success_rate']:.0f}",
                fmt_secs(r.get("duration_p50")),
                fmt_secs(r.get("duration_p95")),
                fmt_secs(r.get("lateness_p50")),
                fmt_secs(r.get("lateness_p99")),
                fmt_time(r.get("last_success")),
            ]
            for r in rows
        ),
    )


def _count(row: dict[str, Any], *statuses: str) -> int:
    by_status = row.get("by_status") or {}
    return sum(int(by_status.get(s, 0)) for s in statuses)


@handle_errors
def health(server: str = ServerOpt, as_json: bool = JsonOpt) -> None:
    """Problems: failing or stale schedules, breaker pauses, offline executors. Exit 1 if any."""
    report = _q(server, "health")
    if as_json:
        print_json(report)
    elif report.get("healthy"):
        console.print("[green]healthy[/]")
    else:
        table(
            "health",
            ["problem", "subject", "detail"],
            ([p["kind"], p["subject"], p["detail"]] for p in report["problems"]),
        )
    if not report.get("healthy"):
        raise typer.Exit(1)


@handle_errors
def audit(
    name: str | None = typer.Argument(None, help="Only this schedule."),
    since: str | None = typer.Option(
        None, "--since", help="Only changes at or after this ISO time."
    ),
    server: str = ServerOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Every schedule change: when, who, why, and what changed."""
    if since:
        parse_iso(since)
    entries = _q(server, "audit", {"name": name, "since": since})
    if as_json:
        print_json(entries)
        return
    table(
        "audit",
        ["seq", "time", "schedule", "change", "v", "actor", "reason", "diff"],
        (
            [
                e["seq"],
                fmt_time(e["at"]),
                e["name"],
                e["type"],
                e.get("version"),
                e["actor"],
                e.get("reason", ""),
                "; ".join(f"{k}: {v[0]!r} -> {v[1]!r}" for k, v in (e.get("diff") or {}).items()),
            ]
            for e in entries
        ),
    )


@handle_errors
def status(server: str = ServerOpt, as_json: bool = JsonOpt) -> None:
    """The system at a glance: stream, projection lag, schedules, runs in flight, executors."""
    s = _q(server, "status")
    if as_json:
        print_json(s)
        return
    st, pr = s["stream"], s["projection"]
    console.print(
        f"[bold]stream[/] {st['name']}: {st['messages']} events, {st['bytes']} bytes, last seq "
        f"{st['last_seq']}, R{st['replicas']}",
        highlight=False,
    )
    console.print(
        f"[bold]projection[/] at seq {pr['position']} (lag {pr['lag']}), poison events {pr['poison_events']}",
        highlight=False,
    )
    console.print(
        f"[bold]scheduler replicas[/] {len(s['scheduler_replicas'])}; ticker leader "
        f"{s['ticker_leader'] or 'none (no lease holder!)'}",
        highlight=False,
    )
    console.print(
        f"[bold]schedules[/] {s['schedules'] or 'none'}; runs in flight {s['runs_in_flight']}",
        highlight=False,
    )
    console.print(
        f"[bold]executors online[/] {len(s['executors'])}: "
        f"{', '.join(e['name'] for e in s['executors']) or 'none'}",
        highlight=False,
    )
    for note in s.get("service", {}).get("notes", []):  # NATS outages, followers, staleness
        console.print(f"[yellow]{note}[/]", highlight=False)


@handle_errors
def executors(server: str = ServerOpt, as_json: bool = JsonOpt) -> None:
    """Executors online now (from their heartbeats)."""
    from jetcron.log.heartbeats import list_executors

    rows = run(with_nats(server, list_executors))
    if as_json:
        print_json(rows)
        return
    table(
        "executors online",
        ["name", "targets", "tags", "running", "cpu %", "mem %", "clock offset s", "seen"],
        (
            [
                e.name,
                ",".join(e.targets),
                ",".join(e.tags),
                len(e.running),
                e.cpu_percent,
                e.memory_percent,
                f"{e.clock_offset_s:+.3f}" if e.clock_offset_s is not None else "-",
                fmt_time(e.host_time),
            ]
            for e in rows
        ),
    )


@handle_errors
def replay(
    as_of: str | None = typer.Option(
        None, "--as-of", help="Show the world as it was at this ISO time."
    ),
    verify: bool = typer.Option(
        False, "--verify", help="Rebuild from scratch and compare with the live service."
    ),
    server: str = ServerOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Rebuild state from the log, client-side (audits, `--as-of`, `--verify`)."""
    from jetcron.cli.replaying import replay_command

    replay_command(server, parse_iso(as_of) if as_of else None, verify, as_json)
