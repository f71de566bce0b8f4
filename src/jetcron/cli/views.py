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
    for group, title in (("schedule", "per schedule"), ("executor", "per executor")):
        table(
            f"{title}{over}",
            [group, *_STATS_COLUMNS],
            _stats_rows(r for r in rows if r["group"] == group),
        )
    overall = _stats_rows(r for r in rows if r["group"] == "overall")
    table(f"overall{over}", ["runs of", *_STATS_COLUMNS], overall)


_STATS_COLUMNS = ["runs", "failed", "ok %", "took p50", "p95", "late p99", "last success"]
"""After the first column, named by the table (schedule, executor, `runs of`: overall)."""


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
