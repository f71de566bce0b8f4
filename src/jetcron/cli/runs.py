"""`jetcron runs ...`: run history, one run's facts and output, the latest output, runs live.

A run id is taken whole or as any unique prefix (tables show 8 characters); the projection
service resolves it, and an ambiguous prefix is an error naming the candidates.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any, get_args

import typer

from jetcron.cli import text
from jetcron.cli.common import (
    MOST,
    ActorOpt,
    JsonOpt,
    ReasonOpt,
    ServerOpt,
    ask_view,
    count_option,
    default_actor,
    echo,
    handle_errors,
    parse_since,
    print_json,
    run,
    run_until_interrupted,
    table,
    with_nats,
)
from jetcron.cli.run_facts import aged_out, facts
from jetcron.domain.runs import RunStatus, truncation
from jetcron.errors import InvalidInput

if TYPE_CHECKING:
    from nats.aio.client import Client

app = typer.Typer(help="Run history, output, and runs as they happen.", no_args_is_help=True)

RUN_STATUSES: tuple[str, ...] = get_args(RunStatus)
FINISHED = ("succeeded", "failed", "timed_out", "cancelled", "lost")
"""Statuses of a run that ended and may have output (a skipped fire never ran)."""
RunArg = typer.Argument(..., metavar="RUN", help="A run id, or its first characters.")


@app.command("list")
@handle_errors
def runs_list(
    schedule: str | None = typer.Option(None, "--schedule", help="Only this schedule."),
    status: str | None = typer.Option(
        None, "--status", help=f"Only this status: {', '.join(RUN_STATUSES)}."
    ),
    since: str | None = typer.Option(
        None,
        "--since",
        metavar="TIME",
        help="Only runs fired at or after this time: ISO-8601, or a duration back from now (2h, 3d).",
    ),
    until: str | None = typer.Option(
        None,
        "--until",
        metavar="TIME",
        help="Only runs fired at or before this time: ISO-8601, or a duration back (as fires).",
    ),
    limit: int = count_option(50, "--limit", help="At most this many runs."),
    server: str = ServerOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Runs, newest first."""
    if status is not None and status not in RUN_STATUSES:
        raise InvalidInput(f"unknown status {status!r}: one of {', '.join(RUN_STATUSES)}")
    since = parse_since(since) if since else None
    until = parse_since(until, "--until") if until else None
    params = dict(schedule=schedule, status=status, since=since, until=until, limit=limit)
    page = ask_view(server, "runs", params)
    if as_json:
        print_json(page["runs"])
        return
    table(
        None,
        ["run", "schedule", "fired (UTC)", "status", "took", "note"],
        ([*_row_cells(r)] for r in page["runs"]),
        cut=("note",),
    )
    if page.get("more"):
        echo(f"more runs: use --limit {min(limit * 2, MOST)}", err=True)


def _row_cells(r: dict[str, Any]) -> list[str]:
    status = r["status"] if r.get("attempt", 1) == 1 else f"{r['status']} #{r['attempt']}"
    status += "?" if r.get("offline") else ""  # why: its executor is away (projections/held.py)
    return [
        text.short_id(r.get("run_id")),
        # why: a name deleted and created again lists both schedules' runs; say whose
        f"{r['schedule']} (previous)" if r.get("previous") else r["schedule"],
        text.utc(r["fire_time"]),
        status,
        text.duration(r.get("duration_s")),
        note(r),
    ]


def note(r: dict[str, Any]) -> str:
    """The one thing to know about a run in a list: its error, why, or who triggered it."""
    said = r.get("offline") or r.get("error") or r.get("reason")
    if said and (into := text.coalesced(said, text.parse_time(r["fire_time"]))):
        said = "".join(into)  # why: which fire ran, before a cut
    if said:
        return text.first_line(text.whole_seconds(said))
    why = r.get("trigger_reason")
    if r.get("manual"):
        return f"manual by {r.get('triggered_by') or '?'}" + (f": {why}" if why else "")
    if r.get("backfill_of"):
        return f"backfill by {r.get('triggered_by') or '?'}" + (f": {why}" if why else "")
    return ""


@app.command("show")
@handle_errors
def runs_show(run_id: str = RunArg, server: str = ServerOpt, as_json: bool = JsonOpt) -> None:
    """One run: its facts, who triggered it and why, its result and output."""
    row, output = run(with_nats(server, lambda nc: _run_and_output(nc, run_id)))
    if as_json:
        print_json(dict(row, output=output))
        return
    for key, value in facts(row):
        echo(f"{key:10} {text.clean(str(value))}")
    if output.get("result") is not None:
        echo("── result (the action's return value) ──")
        echo(json.dumps(output["result"], indent=2, default=str))
    whose = output.get("attempt", 1)
    of = f" of attempt {whose}" if whose != row.get("attempt", 1) else ""
    for stream in ("stdout", "stderr"):
        if output.get(stream):
            echo(f"── {stream}{of} ──")
            echo(output[stream].rstrip("\n"))
        if (cut := truncation(output, stream)) is not None:
            echo(cut)


@app.command("logs")
@handle_errors
def runs_logs(run_id: str = RunArg, server: str = ServerOpt) -> None:
    """A run's raw output: stdout (and an action's result, as JSON) to stdout, stderr to stderr."""
    row, output = run(with_nats(server, lambda nc: _run_and_output(nc, run_id)))
    write_output(output)
    if (said := silent_failure(row, output)) is not None:
        echo(said, err=True)


def silent_failure(row: dict[str, Any], output: dict[str, Any]) -> str | None:
    """For a run that printed nothing, the one line that says so (and why, if it ended badly);
    None when it printed something. why: empty stdout looked like the wrong run."""
    printed = output.get("stdout") or output.get("stderr") or output.get("result") is not None
    if printed:
        return None
    short = text.short_id(row["run_id"])
    if row.get("aged_out") is not None:
        return aged_out(row)
    if row["status"] not in FINISHED:
        return f"run {short} is {row['status']} and has printed nothing yet"
    if row["status"] == "succeeded":
        return f"run {short} succeeded with no output"
    why = text.first_line(row.get("error") or row.get("reason"), 200) or "no output"
    return f"run {text.short_id(row['run_id'])} {row['status']} with no output: {why}"


def write_output(output: dict[str, Any]) -> None:
    """Raw output as captured; truncation markers on stderr, so stdout stays the job's own."""
    sys.stdout.write(output.get("stdout", ""))
    if output.get("result") is not None:
        sys.stdout.write(json.dumps(output["result"], indent=2, default=str) + "\n")
    sys.stdout.flush()
    sys.stderr.write(output.get("stderr", ""))
    for stream in ("stdout", "stderr"):
        if (cut := truncation(output, stream)) is not None:
            sys.stderr.write(cut + "\n")


@app.command("last")
@handle_errors
def runs_last(
    schedule: str = typer.Argument(..., metavar="NAME", help="The schedule."),
    server: str = ServerOpt,
    as_json: bool = JsonOpt,
) -> None:
    """The output of a schedule's latest finished run (which run, on stderr); of a fan-out
    fire, the member that finished last (and the other members' statuses)."""
    last = ask_view(server, "last_run", {"schedule": schedule})
    row, output = run(with_nats(server, lambda nc: _run_and_output(nc, last["run_id"])))
    others = last.get("other_members", [])
    if as_json:
        print_json(dict(row, other_members=others, output=output))
        return
    echo(
        f"run {text.short_id(row['run_id'])} of {schedule}: {row['status']} "
        f"at {text.utc(row.get('finished_at'))}{other_members(others)}",
        err=True,
    )
    write_output(output)
    if (said := silent_failure(row, output)) is not None:
        echo(said, err=True)


def other_members(others: list[dict[str, Any]], shown: int = 3) -> str:
    """`; 1 other member: 7241fd3e-pi succeeded` ('' for none), the first `shown` named."""
    if not others:
        return ""
    named = [f"{text.short_id(m['run_id'])} {m['status'].replace('_', ' ')}" for m in others]
    more = f" and {len(named) - shown} more" if len(named) > shown else ""
    noun = "member" if len(others) == 1 else "members"
    return f"; {len(others)} other {noun}: {', '.join(named[:shown])}{more}"


@app.command("cancel")
@handle_errors
def runs_cancel(
    run_id: str = RunArg,
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

    row = ask_view(server, "run", {"run_id": run_id})
    shown = text.short_id(row["run_id"])
    command = CancelRun(
        name=row["schedule"], run_id=row["run_id"], command_id=ids.new_id(),
        at=datetime.now(UTC), actor=actor or default_actor(), reason=reason,
    )  # fmt: skip
    reply = run(with_nats(server, lambda nc: send_command(nc, command)))
    if as_json:
        print_json(reply)
    else:
        fan = "every member of fan-out " if row["status"] == "fanned_out" else ""
        echo(f"cancel requested for {fan}run {shown} of {row['schedule']}")


async def _run_and_output(nc: Client, ref: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The run (resolved from a prefix, with `attempts`: each one's fate) and its output, read
    from the run's events in the log."""
    import msgspec

    from jetcron.client import output_of, query, run_events
    from jetcron.projections.attempts import attempts

    row: dict[str, Any] = await query(nc, "run", {"run_id": ref})
    events = await run_events(nc, row["schedule"], row["run_id"])
    row["attempts"] = msgspec.to_builtins(attempts(events))
    if row["status"] in RESULTS and not any(hasattr(e.event, "output") for e in events):
        # why: the views say how it ended, the log no longer has the event that said it (and
        # its output); with a retention lowered live the views' horizon cannot tell (#1)
        row.setdefault("aged_out", {"retention_s": await _retention(nc)})
    return row, output_of(events)


async def _retention(nc: Client) -> int:
    """The log's run-history retention now (0: forever or unknown)."""
    from jetcron.log.stream import EventLog

    try:
        return await EventLog(nc).load_retention() or 0
    except Exception:  # noqa: BLE001 - the line is said without it
        return 0


RESULTS = ("succeeded", "failed", "timed_out")
"""A run's statuses set by an event that carries its output (RunSucceeded, RunFailed, RunTimedOut)."""


# -- runs follow ---------------------------------------------------------------------------------


@app.command("follow")
@handle_errors
def runs_follow(
    schedule: str | None = typer.Option(None, "--schedule", help="Only this schedule."),
    count: int | None = count_option(
        None,
        "--count",
        "-n",
        help="Stop after this many events (default: until Ctrl-C).",
        most=None,
    ),
    server: str = ServerOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Runs as they happen: triggers, starts, results, skipped and missed fires (Ctrl-C stops)."""
    from jetcron.cli.follow import follow

    async def checked(nc: Client) -> None:
        if schedule:
            from jetcron.client import query

            # why: an unknown name would follow nothing forever; say so, as every command does
            await query(nc, "schedule", {"name": schedule, "fires": 0})
        await follow(nc, schedule, count, as_json)

    if run_until_interrupted(lambda: with_nats(server, checked, follow=True)):
        raise typer.Exit(130)  # why: as any command interrupted; also while connecting
