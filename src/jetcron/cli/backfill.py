"""`jetcron schedule backfill`: run the fires of a past range that did not succeed, paced.

The plan is the `fires` view's answer for [--from, --to]: every nominal fire with its fate.
A fire is backfilled when it should have run and did not succeed (missed, unrecorded, lost,
cancelled, skipped for overlap, failed or timed out). Left alone: fires that succeeded (unless
--rerun), runs still in flight, fires an operator skipped or a calendar excluded (backfill
runs the fires we missed, not the ones we meant not to have), fires while paused or before
the schedule existed, and forgotten ones (their fate is gone from the views).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import typer

from jetcron.cli import text
from jetcron.cli.common import (
    ActorOpt,
    JsonOpt,
    ReasonOpt,
    ServerOpt,
    count_option,
    echo,
    handle_errors,
    parse_iso,
    print_json,
    run,
    table,
    with_nats,
)
from jetcron.domain.calendar import DELIBERATE
from jetcron.errors import InvalidInput

MOST_WITHOUT_YES = 1_000
"""A plan with more fires than this needs --yes (a typo in --from must not flood executors)."""
POLL_S = 0.25
"""How often the pacing loop asks whether a sent run has ended."""
NOT_RUN_YET = frozenset({"triggered", "running", "retrying", "deferred"})
LEFT: dict[str, str] = {
    "upcoming": "not due yet",
    "pending": "the ticker may still be on it",
    "buffered": "waiting behind a run",
    "paused": "the schedule was paused",
    "not_created": "the schedule did not exist yet",
    "forgotten": "older than the run history kept",
}


def verdict(row: dict[str, Any], rerun: bool) -> str:
    """'' if the fire (a `fires` row) is to be backfilled, else why it is left alone."""
    fate, status = row["fate"], row.get("status", "")
    if fate in LEFT:
        return LEFT[fate]
    if fate == "skipped" and str(row.get("reason", "")).startswith(DELIBERATE):
        return str(row["reason"])
    if fate in ("triggered", "deferred") and status in NOT_RUN_YET:
        return f"its run is {status}"
    if status == "succeeded" and not rerun:
        return "succeeded (--rerun runs it again)"
    return ""


def plan(
    rows: list[dict[str, Any]], rerun: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(to run, left alone) of the fires rows; each with `utc`, `fate`, and `rerun` (the
    backfills the fire already had) or `why`."""
    todo, left = [], []
    for r in rows:
        why = verdict(r, rerun)
        base = {"utc": r["utc"], "fate": r["fate"], "status": r.get("status", "")}
        if why:
            left.append({**base, "why": why})
        else:
            todo.append({**base, "rerun": int(r.get("backfills", 0))})
    return todo, left


def range_of(start: str, end: str, now: datetime) -> tuple[datetime, datetime]:
    """[--from, --to] as instants; InvalidInput if reversed or reaching into the future."""
    frm, to = parse_iso(start), parse_iso(end)
    if frm > to:
        raise InvalidInput(f"--from {text.utc(frm)} is after --to {text.utc(to)}")
    if to > now:
        raise InvalidInput(f"--to {text.utc(to)} is in the future: backfill runs past fires only")
    return frm, to


@handle_errors
def backfill(
    name: str = typer.Argument(..., metavar="NAME", help="The schedule."),
    start: str = typer.Option(
        ..., "--from", metavar="TIME", help="First fire time (ISO, included)."
    ),
    end: str = typer.Option(
        ..., "--to", metavar="TIME", help="Last fire time (ISO, included, past)."
    ),
    max_parallel: int = count_option(
        2, "--max-parallel", help="At most this many backfill runs in flight at once.", most=100
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
    fire (never one that succeeded, unless --rerun), at most --max-parallel at a time.

    Ctrl-C stops sending more; the runs already sent go on.
    """
    frm, to = range_of(start, end, datetime.now(UTC))
    todo, left = run(with_nats(server, lambda nc: _plan(nc, name, frm, to, rerun)))
    if len(todo) > MOST_WITHOUT_YES and not yes and not dry_run:
        raise InvalidInput(
            f"the plan has {len(todo)} fires (more than {MOST_WITHOUT_YES}): check --from/--to, "
            "or pass --yes"
        )
    if dry_run:
        _show_plan(name, todo, left, as_json)
        return
    if not todo:
        if as_json:
            print_json([])
        echo(
            f"nothing to backfill for {name}: {len(left)} fires in range, none to run", err=as_json
        )
        return

    def say(line: str) -> None:
        echo(line, err=as_json)  # why: with --json, stdout holds the JSON only

    say(f"backfilling {len(todo)} fires of {name}, at most {max_parallel} at a time (Ctrl-C stops)")
    sent: dict[str, str] = {}
    ended: dict[str, str] = {}
    try:
        run(
            with_nats(
                server,
                lambda nc: _send_all(nc, name, todo, max_parallel, actor, reason, sent, ended, say),
            )
        )
    except KeyboardInterrupt:
        going = len(sent) - len(ended)
        echo(
            f"stopped: sent {len(sent)} of {len(todo)} backfills and no more; the {going} "
            f"still running go on (`jetcron runs list --schedule {name}`)",
            err=True,
        )
        raise typer.Exit(130) from None
    if as_json:
        print_json([{"fire": f, "run_id": r, "status": ended.get(r, "")} for r, f in sent.items()])
    ok = sum(1 for s in ended.values() if s == "succeeded")
    say(f"done: {len(sent)} backfill runs, {ok} succeeded, {len(sent) - ok} did not")
    if ok < len(sent):
        raise typer.Exit(1)


async def _plan(
    nc: Any, name: str, frm: datetime, to: datetime, rerun: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from jetcron.client import query
    from jetcron.projections.queries import FIRES_MAX

    await query(nc, "schedule", {"name": name})  # why: ScheduleNotFound for an unknown name
    # why: the fires view's window is (since, until]; --from is included
    since = (frm - timedelta(microseconds=1)).isoformat()
    params = {"name": name, "since": since, "until": to.isoformat(), "limit": FIRES_MAX}
    answer = await query(nc, "fires", params)
    if answer.get("more") and answer["fires"]:
        raise InvalidInput(
            f"more than {len(answer['fires'])} fires from {text.utc(frm)} to {text.utc(to)}: "
            "backfill a shorter range at a time"
        )
    return plan(answer["fires"], rerun)


def _show_plan(
    name: str, todo: list[dict[str, Any]], left: list[dict[str, Any]], as_json: bool
) -> None:
    if as_json:
        print_json({"schedule": name, "backfill": todo, "left": left})
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
    echo(f"dry run: {len(todo)} fires would be backfilled, {len(left)} left alone; nothing sent")


def _fate(row: dict[str, Any]) -> str:
    return (
        f"{row['fate']} ({row['status']})"
        if row["status"] and row["fate"] == "triggered"
        else row["fate"]
    )


async def _send_all(
    nc: Any,
    name: str,
    todo: list[dict[str, Any]],
    most: int,
    actor: str | None,
    reason: str,
    sent: dict[str, str],
    ended: dict[str, str],
    say: Callable[[str], None],
) -> None:
    """Send one backfill per fire, at most `most` in flight; then wait for the last ones.

    `sent` (run id -> fire time) and `ended` (run id -> final status) are filled as it goes,
    so an interrupted caller can say how far it got.
    """
    import asyncio

    from jetcron.cli.common import command_meta
    from jetcron.client import send_command
    from jetcron.domain.commands import BackfillFire

    for fire in todo:
        while len(sent) - len(ended) >= most:
            await asyncio.sleep(POLL_S)
            await _settle(nc, sent, ended, say)
        meta = command_meta(name, actor, reason)
        command = BackfillFire(**meta, fire_time=parse_iso(fire["utc"]), rerun=fire["rerun"])
        reply = await send_command(nc, command)
        run_id = str(reply.events[0].envelope.event.run_id)  # type: ignore[union-attr]
        sent[run_id] = fire["utc"]
        say(f"{text.utc(fire['utc'])}: sent run {text.short_id(run_id)}")
    while len(ended) < len(sent):
        await asyncio.sleep(POLL_S)
        await _settle(nc, sent, ended, say)


async def _settle(
    nc: Any, sent: dict[str, str], ended: dict[str, str], say: Callable[[str], None]
) -> None:
    """Record the runs that ended since the last look (and print a line for each)."""
    from jetcron.client import query
    from jetcron.projections.runs import FINAL_STATUSES

    for run_id, utc in sent.items():
        if run_id in ended:
            continue
        try:
            row = await query(nc, "run", {"run_id": run_id})
        except InvalidInput:
            continue  # why: the runs view has not folded the trigger yet
        if row["status"] in FINAL_STATUSES:
            ended[run_id] = row["status"]
            say(f"{text.utc(utc)}: run {text.short_id(run_id)} {row['status']}")
