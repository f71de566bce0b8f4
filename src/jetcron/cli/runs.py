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
from jetcron.domain.runs import RunStatus
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


def facts(r: dict[str, Any]) -> list[tuple[str, str]]:
    """A run as (label, text) lines, in the order things happened; empty ones left out."""
    schedule = f"{r['schedule']} (previous)" if r.get("previous") else r["schedule"]
    out = [("run", r["run_id"]), ("schedule", schedule), ("status", _status(r))]
    out.append(("fired", text.utc(r["fire_time"])))
    if r.get("triggered_at"):
        how = "manually" if r.get("manual") else "on schedule"
        how = "as a backfill of that fire" if r.get("backfill_of") else how
        who = f" by {r['triggered_by']}" if r.get("triggered_by") else ""
        why = f": {r['trigger_reason']}" if r.get("trigger_reason") else ""
        out.append(("triggered", f"{text.utc(r['triggered_at'])} {how}{who}{why}"))
    if r.get("target"):
        out.append(("target", r["target"]))
    if r.get("status") == "fanned_out":
        members = r.get("members") or {}
        said = ", ".join(f"{text.short_id(k)} {v.replace('_', ' ')}" for k, v in members.items())
        out.append(("members", said or "none has started it yet"))
    if r.get("started_at"):
        out.append(("started", _started(r)))
    if r.get("finished_at"):
        took = r.get("duration_s")
        out.append(
            (
                "finished",
                text.utc(r["finished_at"])
                + (f" after {text.duration(took)}" if took else "")
                + _whose(r),
            )
        )
    if r.get("exit_code") is not None:
        out.append(("exit code", str(r["exit_code"])))
    if r.get("error"):
        out.append(("error", _error(r)))
    if r.get("reason"):
        out.append(("reason", r["reason"]))
    if r.get("next_retry_at"):
        out.append(("next try", text.utc(r["next_retry_at"])))
    tried = r.get("attempts") or []
    if len(tried) > 1 or any(a["fate"] == "abandoned" for a in tried):
        out += [("attempts" if i == 0 else "", _attempt(a)) for i, a in enumerate(tried)]
    if r.get("aged_out") is not None:
        out.append(("aged out", aged_out(r) + "; the facts above are the views'"))
    return out


def aged_out(r: dict[str, Any]) -> str:
    """Why a run's events and output are not shown: the log no longer has them."""
    kept = (r.get("aged_out") or {}).get("retention_s")
    why = f"run history is kept {text.duration(kept)}" if kept else "retention"
    return f"run {text.short_id(r['run_id'])}'s events and output have aged out of the log ({why})"


def _started(r: dict[str, Any]) -> str:
    """When and where the run's job first started, and how late: the first attempt that did
    (newcomer18b F7: one handed back before it started read as the start, 63 ms late)."""
    tried = r.get("attempts") or [{}]
    unstarted = [a for a in tried if a.get("fate") == "handed_back"]
    first: dict[str, Any] = next((a for a in tried if a.get("fate") != "handed_back"), {})
    # why: started_at is the first attempt's; the row's executor is the latest one's
    began, late = r["started_at"], r.get("lateness_s")
    if unstarted and first.get("started_at"):
        began = first["started_at"]
        late = (text.parse_time(began) - text.parse_time(r["fire_time"])).total_seconds()
    who = first.get("executor") or r.get("executor")
    where = f" on {who}" if who else ""
    said = f"{text.utc(began)}{where}" + (
        f", {text.duration(late)} after the fire time" if late else ""
    )
    if unstarted:
        which = ", ".join(str(a["attempt"]) for a in unstarted)
        said += f" (attempt {which} handed back before it started)"
    return said


def _whose(r: dict[str, Any]) -> str:
    """` (attempt 2 on exA, started 03:55:50)`: the attempt whose result the header shows, when
    it is not the one the `started` line names (newcomer18b F6: 03:55:00 + 40.5 s read as 03:56:30)."""
    n, tried = r.get("attempt", 1), r.get("attempts") or []
    mine = [a for a in tried if a.get("attempt") == n]
    if n == 1 or not mine or all(a.get("fate") == "handed_back" for a in tried[: n - 1]):
        return ""  # why: the `started` line names this attempt already (_started)
    where = f" on {mine[0]['executor']}" if mine[0].get("executor") else ""
    began = mine[0].get("started_at")
    when = f", started {text.utc(began)[11:19]}" if began else ""
    return f" (attempt {n}{where}{when})"


def _attempt(a: dict[str, Any]) -> str:
    """One attempt: `#1 2026-12-02T03:00:00Z on host-a: abandoned (no result; attempt 2 took over)`."""
    where = f" on {a['executor']}" if a.get("executor") else ""
    if a["fate"] == "handed_back":
        why = f" ({a['detail']})" if a.get("detail") else ""
        return f"#{a['attempt']}{where}: handed back before it started{why}"
    took = f" after {text.duration(a['duration_s'])}" if a.get("duration_s") else ""
    fate = a["fate"].replace("_", " ") + took
    if a.get("detail") and a["detail"] != fate:  # why: "timed out after 5s (timed out after 5s)"
        fate += f" ({a['detail']})"
    return f"#{a['attempt']} {text.utc(a.get('started_at'))}{where}: {fate}"


def _status(r: dict[str, Any]) -> str:
    attempt = r.get("attempt", 1)
    if r["status"] == "deferred":
        return f"deferred {r.get('deferrals', 1)} time(s) (attempt {attempt})"
    if r.get("offline"):  # why: its executor is away, its job may be stopped (held.py)
        which = f"attempt {attempt}; " if attempt > 1 else ""
        return f"{r['status']}? ({which}{r['offline']})"
    return r["status"] if attempt == 1 else f"{r['status']} (attempt {attempt})"


def _error(r: dict[str, Any]) -> str:
    """The run's error, labelled `attempt N: …` when it is an earlier attempt's (the answer's
    `error_attempt`; newcomer19b F12: attempt 1's error read as attempt 2's)."""
    earlier = r.get("error_attempt")
    return f"attempt {earlier}: {r['error']}" if earlier else str(r["error"])


def truncation(output: dict[str, Any], stream: str) -> str | None:
    """The marker for output the executor capped: what was kept, and the original size if known."""
    if not output.get(f"{stream}_truncated"):
        return None
    # why bytes, not KiB: 65,536 of 65,544 read "64 KiB of 64 KiB" (newcomer16c #7)
    kept = len(output.get(stream, "").encode())
    total = output.get(f"{stream}_size")
    if total:
        return f"[{stream} truncated: {kept:,} of {total:,} bytes kept]"
    return f"[{stream} truncated: {kept:,} bytes kept; the original was larger (size not recorded)]"


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
    """The output of a schedule's latest finished run (which run, on stderr)."""
    params = {"schedule": schedule, "status": list(FINISHED), "limit": 1, "current": True}
    page = ask_view(server, "runs", params)
    if not page["runs"]:
        raise InvalidInput(f"{schedule!r} has no finished run yet: see `jetcron runs list`")
    row, output = run(with_nats(server, lambda nc: _run_and_output(nc, page["runs"][0]["run_id"])))
    if as_json:
        print_json(dict(row, output=output))
        return
    echo(
        f"run {text.short_id(row['run_id'])} of {schedule}: {row['status']} "
        f"at {text.utc(row.get('finished_at'))}",
        err=True,
    )
    write_output(output)
    if (said := silent_failure(row, output)) is not None:
        echo(said, err=True)


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
