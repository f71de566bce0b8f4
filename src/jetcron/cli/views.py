"""Query commands: stats, audit, replay (health: health.py, status: status.py, executors and
actions: online.py)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import typer

from jetcron.cli import text
from jetcron.cli.common import (
    JsonOpt,
    ServerOpt,
    ask_view,
    echo,
    handle_errors,
    parse_iso,
    parse_since,
    print_json,
    table,
)
from jetcron.domain.digest import FAILED
from jetcron.domain.runs import IN_FLIGHT
from jetcron.errors import InvalidInput
from jetcron.projections.tallies import NO_EXECUTOR


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
    # why: the two columns appear when some run was cancelled or is in flight (then the note
    # says how ok % counts them), so the common table still fits 80 columns
    unended = any(_count(r, "cancelled", *IN_FLIGHT) for r in rows)
    kept = [True, *(unended or c not in _UNENDED for c in _STATS_COLUMNS)]  # the first: the key
    shown = [c for c, keep in zip(_STATS_COLUMNS, kept[1:], strict=True) if keep]

    def rows_of(group: str) -> list[list[Any]]:
        picked = _stats_rows(r for r in rows if r["group"] == group)
        return [[cell for cell, keep in zip(row, kept, strict=True) if keep] for row in picked]

    for group, title in (("schedule", "per schedule"), ("executor", "per executor")):
        table(f"{title}{over}", [group, *shown], rows_of(group))
    table(f"overall{over}", ["runs of", *shown], rows_of("overall"))
    if unended:
        echo(OK_RULE)


_STATS_COLUMNS = [
    "runs", "failed", "cancelled", "in flight", "ok %", "took p50", "p95", "late p99",
    "last success",
]  # fmt: skip
"""After the first column, named by the table (schedule, executor, `runs of`: overall)."""
_UNENDED = ("cancelled", "in flight")
OK_RULE = (
    "note: ok % is succeeded of the runs that ended (succeeded, failed, timed out, lost); "
    "cancelled runs and those in flight count in neither"
)
"""why: `runs 72  failed 0  ok % 100` hid 30 cancelled and 17 unfinished runs (newcomer21c #8);
the rule is projections/stats.py's (`finished`), said where the numbers are."""


def _stats_rows(rows: Iterable[dict[str, Any]]) -> Iterable[list[Any]]:
    for r in rows:
        rate = r.get("success_rate")
        key = r.get("key", "")
        yield [
            # why: runs no executor ever started (cancelled or lost before a start) are grouped
            # under the views' placeholder; a bare "-" read as a missing name
            "(not started)" if r["group"] == "executor" and key == NO_EXECUTOR else key,
            r.get("runs", 0),
            _count(r, *sorted(FAILED)),
            _count(r, "cancelled"),
            _count(r, *IN_FLIGHT),
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
    change = "backfilled run" if e.get("backfill") else _CHANGES.get(e["type"], e["type"])
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
def replay(
    name: str | None = typer.Argument(
        None,
        metavar="[NAME]",
        help="Only this schedule: its definition as `schedule show` prints it, and who changed "
        "it last (deleted by then, or not created yet: says so).",
    ),
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

    when = parse_iso(parse_since(as_of, "--as-of")) if as_of else None
    if name is not None:
        from datetime import UTC, datetime

        from jetcron.cli.replay_schedule import replay_one

        if verify:
            raise InvalidInput("--verify compares every view with the live service; drop NAME")
        replay_one(server, name, when or datetime.now(UTC), as_json)
        return
    replay_command(server, when, verify, as_json)
