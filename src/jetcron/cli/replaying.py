"""Client-side replay: the same folds as the service, run from sequence 1."""

from __future__ import annotations

import sys
from contextlib import aclosing
from datetime import UTC, datetime
from typing import Any

import msgspec
import typer
from rich.progress import Progress

from jetcron import __version__
from jetcron.cli.common import console, print_json, run, table, with_nats
from jetcron.cli.text import utc
from jetcron.client import query
from jetcron.errors import InvalidInput
from jetcron.log.stream import EventLog
from jetcron.memory import collector_paused
from jetcron.projections import schedule_queries
from jetcron.projections.compare import Gaps, comparable
from jetcron.projections.forget import DEFAULT_KEEP_DELETED
from jetcron.projections.snapshot import SNAPSHOT_VERSION, canonical
from jetcron.projections.state import Views, apply_until, new_views, record_undecodable
from jetcron.projections.window import DEFAULT_KEEP


async def rebuild(
    nc: Any,
    as_of: datetime | None,
    until_seq: int | None = None,
    keep: int = DEFAULT_KEEP,
    keep_deleted: int = DEFAULT_KEEP_DELETED,
) -> tuple[Views, Gaps]:
    """Views folded from the log by the projections' own fold (up to as_of, by append time),
    and where the log has gaps (expired run history)."""
    event_log = await EventLog(nc).open(create=False)
    views, gaps, skipped = new_views(keep, keep_deleted), Gaps(), []

    def undecodable(seq: int, unknown: Any) -> None:
        skipped.append(seq)
        record_undecodable(views, seq, unknown.type, unknown.problem, unknown.name)

    try:
        end = until_seq or await event_log.last_seq()
        if end == 0:
            return views, gaps
        progress = Progress(console=console, transient=True, disable=not sys.stderr.isatty())
        with progress, collector_paused():
            task = progress.add_task("replaying", total=end)
            async with aclosing(event_log.read(until_seq=end, on_skipped=undecodable)) as batches:
                async for batch in batches:
                    _saw(gaps, batch, skipped)
                    if not apply_until(views, batch, as_of):
                        break
                    progress.update(task, completed=batch[-1].seq)
        if skipped:
            _saw(gaps, [], skipped)  # why: the log ended with undecodable events
        if as_of is None:
            gaps.end(end)
            # why: read to `end`; what is missing at its tail aged out (the live views saw it)
            views.position = max(views.position, end)
    finally:
        await event_log.close()
    return views, gaps


def _saw(gaps: Gaps, batch: list[Any], skipped: list[int]) -> None:
    if not gaps.first_ns and batch:
        first = batch[0]
        gaps.first_ns = first.stored_ns or int(first.envelope.at.timestamp() * 1e9)
    seqs = sorted([s.seq for s in batch] + skipped) if skipped else [s.seq for s in batch]
    skipped.clear()
    if seqs[0] == gaps.next and seqs[-1] - seqs[0] + 1 == len(seqs):
        gaps.next = seqs[-1] + 1  # why: the common case, no gap: no per-event work
        return
    times = {s.seq: s.stored_ns for s in batch}
    for seq in seqs:
        gaps.see((seq,), times.get(seq, 0))


def aged_out_line(gaps: Gaps) -> str | None:
    """One line when events up to the time asked about have aged out of the log (retention)."""
    if gaps.horizon <= 1 or not gaps.horizon_ns:
        return None
    kept_from = datetime.fromtimestamp(gaps.horizon_ns / 1e9, UTC)
    return (
        f"run history before {utc(kept_from)} has aged out of the log (retention): runs, fires "
        "and run counters shown are only those since; schedules and their audit are complete"
    )


def before_the_log(as_of: datetime | None, gaps: Gaps) -> str | None:
    """One line when `--as-of` is before the log's first event. why: an empty table with no
    word read as "nothing was scheduled then" (newcomer19c #14)."""
    if as_of is None or not gaps.first_ns:
        return None
    begins = datetime.fromtimestamp(gaps.first_ns / 1e9, UTC)
    if as_of >= begins:
        return None
    return f"--as-of {utc(as_of)} is before the log begins (its first event: {utc(begins)})"


def replay_command(server: str, as_of: datetime | None, verify: bool, as_json: bool) -> None:
    """`jetcron replay`."""
    if verify:
        if as_of is not None:
            raise InvalidInput("--verify compares with the live service now; drop --as-of")
        _verify(server, as_json)
        return
    views, gaps = run(with_nats(server, lambda nc: rebuild(nc, as_of)))
    when = as_of or datetime.now(UTC)
    aged = aged_out_line(gaps)
    if aged is not None:
        print(f"note: {aged}", file=sys.stderr)
    if (before := before_the_log(as_of, gaps)) is not None:
        print(f"note: {before}", file=sys.stderr)
    if as_of is not None and as_of > datetime.now(UTC):
        print(
            f"note: --as-of {utc(as_of)} is in the future: this is the log as it is now",
            file=sys.stderr,
        )
    rows = schedule_queries.list_schedules(views, {}, when)
    if as_json:
        print_json({"as_of": utc(when), "position": views.position, "schedules": rows})
        return
    table(
        f"schedules as of {utc(when)} (log seq {views.position})",
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


SHOWN = 10
"""Differences `replay --verify` lists."""


def _verify(server: str, as_json: bool) -> None:
    async def both(nc: Any) -> tuple[dict[str, Any], tuple[Views, Gaps]]:
        live = await live_state(nc)
        keep = int(live["views"].get("keep", 0))
        # why: the rule of projections/forget.py with the live service's bound
        keep_deleted = int(live["views"].get("keep_deleted", 0))
        return live, await rebuild(
            nc, None, until_seq=live["position"], keep=keep, keep_deleted=keep_deleted
        )

    live, (views, gaps) = run(with_nats(server, both))
    other = other_version(live)
    if other and not as_json:
        console.print(other, highlight=False, markup=False)
    # why: rows that began before expired events cannot be rebuilt; compare.py says what counts
    rebuilt, live_views = comparable(canonical(views), canonical(live["views"]), gaps.horizon)
    same = msgspec.json.encode(rebuilt) == msgspec.json.encode(live_views) or rebuilt == live_views
    differences = [] if same else differing_paths(rebuilt, live_views, limit=SHOWN + 1)
    more = len(differences) > SHOWN
    differences = differences[:SHOWN]
    result = {
        "position": live["position"],
        "identical": same,
        "differences": differences,
        "more_differences": more,
        "compared_from_seq": gaps.horizon,
        "other_version": other,
    }
    if as_json:
        print_json(result)
    else:
        if gaps.horizon > 1:
            console.print(
                f"run history before seq {gaps.horizon} has aged out: runs, fires and run audit "
                "compared from there; schedules, their audit and rollups in full",
                highlight=False,
            )
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
        if more:
            console.print(f"  … and more (the first {SHOWN} shown)", highlight=False, markup=False)
    if not same:
        raise typer.Exit(1)


def other_version(live: dict[str, Any]) -> str | None:
    """A note when the answering replica runs other code than this client (None: the same).

    why: during a rolling upgrade the views of two versions differ by design (a field added, a
    rule changed), which --verify would otherwise report like a corrupt fold."""
    version, form = live.get("version"), live.get("format")
    if version == __version__ and form == SNAPSHOT_VERSION:
        return None
    theirs = f"jetcron {version or 'before 0.2.0'} (views format {form or 'unknown'})"
    return (
        f"note: the answering replica runs {theirs}, this client jetcron {__version__} (views "
        f"format {SNAPSHOT_VERSION}): differences may be the versions', not a fault; verify with "
        "a client of the replica's version, or after the upgrade"
    )


async def live_state(nc: Any) -> dict[str, Any]:
    """The live service's whole state (read from the object store when it is large; the
    service deletes it there a while later: an auditor may read the store, not change it)."""
    from jetcron.log import snapshots

    live: dict[str, Any] = await query(nc, "state", {})
    name = live.get("object")
    if name:
        data = await snapshots.load(nc, str(name))
        if data is None:
            raise InvalidInput(f"the live state {name!r} vanished before it was read; try again")
        live = msgspec.json.decode(data)
    return live


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
