"""Client-side replay: the same folds as the service, run from sequence 1."""

from __future__ import annotations

import sys
from contextlib import aclosing
from datetime import UTC, datetime
from typing import Any

import msgspec
import typer
from rich.progress import Progress

from jetcron.cli.common import console, iso_z, print_json, run, table, with_nats
from jetcron.client import query
from jetcron.errors import InvalidInput
from jetcron.log.stream import EventLog
from jetcron.projections import queries
from jetcron.projections.state import Views, apply_until, record_undecodable


async def rebuild(nc: Any, as_of: datetime | None, until_seq: int | None = None) -> Views:
    """Views folded from the whole log by the projections' own fold (up to as_of, by append time)."""
    event_log = await EventLog(nc).open(create=False)
    views = Views()
    try:
        end = until_seq or await event_log.last_seq()
        if end == 0:
            return views
        with Progress(console=console, transient=True, disable=not sys.stderr.isatty()) as progress:
            task = progress.add_task("replaying", total=end)
            async with aclosing(
                event_log.read(
                    until_seq=end,
                    on_skipped=lambda seq, u: record_undecodable(views, seq, u.type, u.problem),
                )
            ) as batches:
                async for batch in batches:
                    if not apply_until(views, batch, as_of):
                        break
                    progress.update(task, completed=batch[-1].seq)
    finally:
        await event_log.close()
    return views


def replay_command(server: str, as_of: datetime | None, verify: bool, as_json: bool) -> None:
    """`jetcron replay`."""
    if verify:
        if as_of is not None:
            raise InvalidInput("--verify compares with the live service now; drop --as-of")
        _verify(server, as_json)
        return
    views = run(with_nats(server, lambda nc: rebuild(nc, as_of)))
    when = as_of or datetime.now(UTC)
    rows = queries.list_schedules(views, {}, when)
    if as_json:
        print_json({"as_of": iso_z(when), "position": views.position, "schedules": rows})
        return
    table(
        f"schedules as of {iso_z(when)} (log seq {views.position})",
        ["name", "spec", "tz", "state", "version", "runs", "ok", "failed", "updated by"],
        (
            [
                r["name"],
                r["spec"],
                r["tz"],
                r["state"],
                r["version"],
                r.get("runs_total", 0),
                r.get("runs_succeeded", 0),
                r.get("runs_failed", 0),
                r.get("updated_by") or r.get("created_by"),
            ]
            for r in rows
        ),
    )


def _verify(server: str, as_json: bool) -> None:
    async def both(nc: Any) -> tuple[dict[str, Any], Views]:
        live = await query(nc, "state", {})
        return live, await rebuild(nc, None, until_seq=live["position"])

    live, views = run(with_nats(server, both))
    rebuilt = msgspec.to_builtins(views)
    live_views = live["views"]
    same = msgspec.json.encode(rebuilt) == msgspec.json.encode(live_views) or rebuilt == live_views
    differences = [] if same else differing_paths(rebuilt, live_views)
    result = {"position": live["position"], "identical": same, "differences": differences}
    if as_json:
        print_json(result)
    else:
        console.print(
            f"replayed to seq {live['position']}: "
            + (
                "[green]identical[/] to the live service"
                if same
                else "[red]DIFFERENT[/] from the live service"
            )
        )
        for path in differences:
            console.print(f"  differs at /{path}", highlight=False, markup=False)
    if not same:
        raise typer.Exit(1)


def differing_paths(a: Any, b: Any, path: str = "", limit: int = 10) -> list[str]:
    """Where two JSON-like values differ (slash paths, at most `limit`)."""
    if type(a) is not type(b):
        return [path]
    if isinstance(a, dict):
        found: list[str] = []
        for key in sorted(set(a) | set(b), key=str):
            here = f"{path}/{key}" if path else str(key)
            if key not in a or key not in b:
                found.append(here)
            elif a[key] != b[key]:
                found += differing_paths(a[key], b[key], here, limit - len(found))
            if len(found) >= limit:
                break
        return found[:limit]
    if isinstance(a, list) and len(a) == len(b):
        out: list[str] = []
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                out += differing_paths(x, y, f"{path}/{i}", limit - len(out))
            if len(out) >= limit:
                break
        return out[:limit]
    return [path] if a != b else []
