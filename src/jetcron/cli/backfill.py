"""`jetcron schedule backfill`: run the fires of a past range that did not succeed, paced.

The plan (which fires, which overlap) is the `backfill` query's answer, the pacing
`client.backfill`; the rules are in projections/backfill.py, shared with the HTTP API.
"""

from __future__ import annotations

from typing import Any

import typer

from jetcron.cli import text
from jetcron.cli.common import (
    ActorOpt,
    JsonOpt,
    ReasonOpt,
    ServerOpt,
    ask_view,
    count_option,
    echo,
    handle_errors,
    print_json,
    run,
    table,
    with_nats,
)
from jetcron.errors import InvalidInput
from jetcron.projections.backfill import MOST_PARALLEL, MOST_WITHOUT_YES, OVERLAPS


@handle_errors
def backfill(
    name: str = typer.Argument(..., metavar="NAME", help="The schedule."),
    start: str = typer.Option(
        ...,
        "--from",
        metavar="TIME",
        help="First fire time, included: ISO (naive: wall time in the schedule's zone), HH:MM (the latest), or 2h (ago).",
    ),
    end: str = typer.Option(
        ..., "--to", metavar="TIME", help="Last fire time, included, past; read as --from."
    ),
    max_parallel: int | None = count_option(
        None,
        "--max-parallel",
        help="With --overlap allow: at most this many backfill runs at once (default 2).",
        most=MOST_PARALLEL,
    ),
    overlap: str | None = typer.Option(
        None,
        "--overlap",
        metavar="|".join(OVERLAPS),
        help="allow: runs beside any other; skip: one at a time, a fire that meets a run of "
        "the schedule is skipped; queue: one at a time, it waits. Default: the schedule's "
        "overlap policy (buffer_one and cancel_previous: queue).",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the plan; send nothing."),
    rerun: bool = typer.Option(False, "--rerun", help="Run fires that succeeded again too."),
    yes: bool = typer.Option(
        False, "--yes", "-y", help=f"Allow a plan of more than {MOST_WITHOUT_YES} fires."
    ),
    server: str = ServerOpt,
    actor: str | None = ActorOpt,
    reason: str = ReasonOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Run the past fires of [--from, --to] that did not succeed, each as a backfill of its
    fire (never one that succeeded, unless --rerun), paced by --overlap and --max-parallel.

    Ctrl-C stops sending more; the runs already sent go on.
    """
    params = {
        "name": name,
        # why: read by the service in the schedule's zone, as `why TIME` and `skip TIME` are
        "from": start,
        "to": end,
        "spelled": ["--from", "--to"],  # why: errors name the options as typed here
        "rerun": rerun,
        "overlap": overlap,
        "max_parallel": max_parallel,
    }
    answer: dict[str, Any] = ask_view(server, "backfill", params)
    _notes(start, end, answer)
    todo, left = answer["backfill"], answer["left"]
    if len(todo) > MOST_WITHOUT_YES and not yes and not dry_run:
        raise InvalidInput(
            f"the plan has {len(todo)} fires (more than {MOST_WITHOUT_YES}): check --from/--to, "
            "or pass --yes"
        )
    if dry_run:
        _show_plan(answer, as_json)
        return
    if not todo:
        if as_json:
            print_json([])
        echo(
            f"nothing to backfill for {name}: {len(left)} fires in range, none to run", err=as_json
        )
        return
    _send(server, answer, actor, reason, as_json)


def _notes(start: str, end: str, answer: dict[str, Any]) -> None:
    """The note: lines on how --from/--to were read: the zone of a naive one, the day of an
    HH:MM taken as yesterday's."""
    from jetcron.cli.timing import note_naive

    tz = answer.get("tz", "UTC")  # why: an older service's answer has none
    for given in dict.fromkeys((start, end)):
        note_naive(given, tz, "the schedule's zone")
    for note in answer.get("notes", []):
        echo(f"note: {note}", err=True)


def _send(
    server: str, answer: dict[str, Any], actor: str | None, reason: str, as_json: bool
) -> None:
    from jetcron.cli.common import command_meta
    from jetcron.client import Backfilling, backfill

    name, todo, most = answer["schedule"], answer["backfill"], answer["max_parallel"]

    def say(line: str) -> None:
        echo(line, err=as_json)  # why: with --json, stdout holds the JSON only

    say(
        f"backfilling {len(todo)} fires of {name}, overlap {answer['overlap']}, at most {most} "
        "at a time (Ctrl-C stops)"
    )
    done = Backfilling()
    try:
        run(
            with_nats(
                server,
                lambda nc: backfill(
                    nc,
                    todo,
                    overlap=answer["overlap"],
                    most=most,
                    meta=lambda: command_meta(name, actor, reason),
                    say=say,
                    progress=done,
                ),
            )
        )
    except KeyboardInterrupt:
        echo(
            f"stopped: sent {len(done.sent)} of {len(todo)} backfills and no more; the "
            f"{done.in_flight} still running go on (`jetcron runs list --schedule {name}`)",
            err=True,
        )
        raise typer.Exit(130) from None
    if as_json:
        rows = [
            {"fire": f, "run_id": r, "status": done.ended.get(r, "")} for r, f in done.sent.items()
        ]
        rows += [
            {"fire": f, "run_id": "", "status": "skipped", "why": w}
            for f, w in done.skipped.items()
        ]
        print_json(sorted(rows, key=lambda r: r["fire"]))
    ok = sum(1 for s in done.ended.values() if s == "succeeded")
    skipped = f", {len(done.skipped)} skipped (overlap)" if done.skipped else ""
    say(
        f"done: {len(done.sent)} backfill runs, {ok} succeeded, {len(done.sent) - ok} did not{skipped}"
    )
    if ok < len(done.sent):
        raise typer.Exit(1)


def _show_plan(answer: dict[str, Any], as_json: bool) -> None:
    todo, left = answer["backfill"], answer["left"]
    if as_json:
        print_json(
            {k: answer[k] for k in ("schedule", "overlap", "max_parallel", "backfill", "left")}
        )
        return
    rows = sorted(todo + left, key=lambda r: r["utc"])
    table(
        None,
        ["fire (UTC)", "fate", "plan"],
        (
            [text.utc(r["utc"]), _fate(r), f"leave: {r['why']}" if "why" in r else "backfill"]
            for r in rows
        ),
    )
    echo(
        f"dry run: {len(todo)} fires would be backfilled, {len(left)} left alone; nothing sent "
        f"(overlap {answer['overlap']}, at most {answer['max_parallel']} at a time)"
    )


def _fate(row: dict[str, Any]) -> str:
    return (
        f"{row['fate']} ({row['status']})"
        if row["status"] and row["fate"] == "triggered"
        else row["fate"]
    )
