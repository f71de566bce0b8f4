"""`jetcron fires` and `jetcron why`: did it run, and if not, why (from the fire ledger)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import typer

from jetcron.cli import text
from jetcron.cli.common import (
    EXIT_INVALID,
    JsonOpt,
    ServerOpt,
    ask_view,
    count_option,
    echo,
    handle_errors,
    parse_iso,
    parse_since,
    print_json,
    run_until_interrupted,
    table,
    with_nats,
)
from jetcron.cli.timing import with_seconds
from jetcron.domain.definition import MISSED_AFTER
from jetcron.errors import InvalidInput

if TYPE_CHECKING:
    import asyncio


@handle_errors
def fires(
    name: str = typer.Argument(..., metavar="NAME", help="The schedule."),
    since: str | None = typer.Option(
        None,
        "--since",
        metavar="TIME",
        help="Fires at or after this time: ISO-8601, or a duration back from now (2h, 3d) "
        "(default: a day back, or the creation if later).",
    ),
    until: str | None = typer.Option(
        None,
        "--until",
        metavar="TIME",
        help="Fires up to this time, ISO-8601 or a duration back (default: now).",
    ),
    limit: int = count_option(100, "--limit", help="At most this many fires (the latest)."),
    follow: bool = typer.Option(
        False,
        "--follow",
        "-f",
        help="Then keep following: a line for each new fire as its fate lands, and again when "
        "its run ends (Ctrl-C stops; with --json one object per line).",
    ),
    server: str = ServerOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Every nominal fire of a schedule in a window, and what became of it.

    Fates: triggered (with the run's status), skipped, buffered, missed, lost, cancelled,
    deferred; paused and not_created for fires the schedule could not have; unrecorded for a
    fire with nothing in the log while the schedule was active (a bug: please report it);
    forgotten for a fire older than the run history kept (`serve --keep-runs`, `--retention`).
    """
    since = parse_since(since) if since else None
    until = parse_since(until, "--until") if until else None
    if follow and until:
        raise InvalidInput("--until goes without --follow (following never ends)")
    params = {"name": name, "since": since, "until": until, "limit": limit}
    if follow:
        # why: Ctrl-C is how following ends, not a failure: exit 0, also when it comes while
        # connecting or while the window is still being asked for or printed
        run_until_interrupted(lambda: _window_then_follow(server, params, as_json))
        return
    answer = ask_view(server, "fires", params)
    rows = answer["fires"]
    if as_json:
        print_json(rows)
        return
    if not rows:
        echo(f"no fires of {name} from {text.utc(answer['since'])} to {text.utc(answer['until'])}")
        return
    zones = {r["tz"] for r in rows} - {"UTC"}
    # why: in UTC the local column would repeat the first one; the zone goes in the title,
    # where a long name (Australia/Lord_Howe) does not widen the column
    local = ["local"] if zones else []
    secs = with_seconds(r["local"] for r in rows)
    table(
        f"fires of {name} ({', '.join(sorted(zones))})" if zones else None,
        ["fire (UTC)", *local, "fate", "run", "detail"],
        (
            [
                text.utc(r["utc"]),
                *([_local(r["local"], secs)] if zones else []),
                fate_of(r),
                _run(r),
            ]
            + [detail(r)]
            for r in rows
        ),
        # why: the times are what these lines are for (newcomer20c #5); the detail goes first
        cut=("detail",),
        keep=("fire (UTC)", "local"),
    )
    if answer.get("more"):
        echo(f"(earlier fires not shown: use --since, --until or --limit; {len(rows)} shown)")
    for line in expectation_lines(answer.get("expectations", [])):
        echo(line)
    if answer.get("refused"):
        echo(f"note: {answer['refused']}")


async def _window_then_follow(server: str, params: dict[str, Any], as_json: bool) -> None:
    from jetcron.client import query

    answer = await with_nats(server, lambda nc: query(nc, "fires", params))
    rows = answer["fires"]
    for row in rows:
        _emit(row, as_json)
    name = params["name"]
    await with_nats(
        server, lambda nc: _follow(nc, name, rows, answer["until"], as_json), follow=True
    )


FOLLOW_POLL_S = 1.0
"""Following also asks this often without news: fates that land by time alone (missed,
pending turning into a fate) and answers the query service had not folded yet."""
OPEN_FATES = frozenset({"pending", "upcoming"})
"""Fates that have not landed: nothing is printed for them yet."""


def fate_of(row: dict[str, Any]) -> str:
    """A fire's fate as its line says it: `triggered (previous)` for a fire of an earlier
    schedule of the name (README: a reused name's history is marked)."""
    return f"{row['fate']} (previous)" if row.get("previous") else str(row["fate"])


def _landed(row: dict[str, Any]) -> tuple[str, str] | None:
    """What a followed fire's line says: None before its fate lands, `open` while its run
    has not ended (printed once when the fate lands and again when the run ends)."""
    from jetcron.projections.runs import FINAL_STATUSES

    fate = row["fate"]
    if fate in OPEN_FATES:
        return None
    if fate in ("triggered", "deferred"):
        return fate, row["status"] if row.get("status") in FINAL_STATUSES else "open"
    return fate, ""


def _emit(row: dict[str, Any], as_json: bool) -> None:
    if as_json:
        import msgspec

        echo(msgspec.json.encode(row).decode())
        return
    local = [_local(row["local"])] if row["tz"] != "UTC" else []
    cells = [text.utc(row["utc"]), *local, fate_of(row), _run(row), detail(row)]
    echo(text.clean("  ".join(cells)).rstrip())


async def _follow(
    nc: Any, name: str, rows: list[dict[str, Any]], until: str, as_json: bool
) -> None:
    """After the window: print each fire whose fate (or run's end) lands, until cancelled.

    The subscription (`runs follow`'s) only wakes the loop; what a fire became is always
    the `fires` view's answer, so the lines say what `jetcron fires` would.
    """
    import asyncio
    import contextlib
    from datetime import UTC, datetime

    from jetcron.client import query
    from jetcron.log.errors import transient
    from jetcron.projections.queries import FIRES_MAX

    printed = {r["utc"]: _landed(r) for r in rows}
    inbox: asyncio.Queue[None] = asyncio.Queue()
    waking = asyncio.ensure_future(_wake(nc, name, inbox))
    echo(f"following the fires of {name} (Ctrl-C stops)", err=True)
    unanswered: str | None = None
    try:
        while True:
            if waking.done():
                waking.result()  # why: the log's reader failed for good (not an outage): say so
            since = _cursor(printed, until)
            try:
                answer = await query(
                    nc, "fires", {"name": name, "since": since, "limit": FIRES_MAX}
                )
            except Exception as err:
                # why: a follower rides out an outage or a stalled service, as `runs follow`
                # does; it says so once, and once again when answers come back
                if not transient(err):
                    raise
                if unanswered is None:
                    echo(f"note: {err}; still following (Ctrl-C stops)", err=True)
                unanswered = unanswered or text.utc(datetime.now(UTC))
                await asyncio.sleep(FOLLOW_POLL_S)
                continue
            if unanswered is not None:
                echo(f"note: answered again (unanswered since {unanswered}); following", err=True)
                unanswered = None
            for row in answer["fires"]:
                landed = _landed(row)
                if landed is not None and printed.get(row["utc"]) != landed:
                    _emit(row, as_json)
                printed[row["utc"]] = landed
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FOLLOW_POLL_S):  # why: not wait_for (set_within)
                    await inbox.get()
            while not inbox.empty():  # why: one question answers a burst of events
                inbox.get_nowait()
    finally:
        waking.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await waking


async def _wake(nc: Any, name: str, inbox: asyncio.Queue[None]) -> None:
    """Put a wake-up into `inbox` for each batch of the schedule's events the log gets."""
    import asyncio

    from jetcron.cli.follow import events
    from jetcron.log.errors import transient

    while True:
        try:
            async for batch in events(nc, name):
                if batch:
                    inbox.put_nowait(None)
        except Exception as err:
            # why: only a wake-up (the loop asks every second anyway): an outage while it
            # opens is waited out, whatever else is the command's error
            if not transient(err) or nc.is_closed:
                raise
            await asyncio.sleep(FOLLOW_POLL_S)


def _cursor(printed: dict[str, tuple[str, str] | None], until: str) -> str:
    """Where the next question starts: just before the oldest fire still open, else at the
    newest one seen; printed fires before that are forgotten."""
    from datetime import UTC, datetime, timedelta

    waiting = [t for t, landed in printed.items() if landed is None or landed[1] == "open"]
    if waiting:
        start = min(waiting)
        # why: the view takes fires after `since`, which must be in the past
        since = min(parse_iso(start), datetime.now(UTC)) - timedelta(milliseconds=1)
        return _forget(printed, start, since.isoformat())
    newest = max(printed, default=until)
    return _forget(printed, newest, newest)


def _forget(printed: dict[str, tuple[str, str] | None], before: str, since: str) -> str:
    for t in [t for t in printed if t < before]:
        del printed[t]
    return since


def expectation_lines(missed: list[dict[str, Any]]) -> list[str]:
    """One line per expectation missed and not met yet, with the event that recorded it."""
    return [
        f"expectation {m['kind']} missed at {text.utc(m['deadline'])}: "
        f"{m['cause'].replace('_', ' ')} ({m['detail']})  (seq {m['seq']}, {text.utc(m['missed_at'])})"
        for m in missed
    ]


def _local(iso_local: str, seconds: bool | None = None) -> str:
    """`2026-03-29T03:00:00+02:00` as `03-29 03:00+02:00`; with `seconds` (None: when it has
    some) `03-29 03:00:28+02:00`."""
    wall = datetime.fromisoformat(iso_local)
    secs = wall.second if seconds is None else seconds
    shown = f"{wall:%m-%d %H:%M:%S}" if secs else f"{wall:%m-%d %H:%M}"
    return shown + wall.isoformat()[-6:]


def _run(row: dict[str, Any]) -> str:
    return text.short_id(row["run_id"]) if row.get("run_id") else "-"


def detail(row: dict[str, Any]) -> str:
    """What the fate column does not say: status and attempts, reasons, who paused."""
    fate = row["fate"]
    if fate in ("triggered", "lost", "cancelled", "deferred"):
        status = row["status"]
        parts = [status.replace("_", " ") if fate == "triggered" else ""]
        if status == "triggered" and not row.get("executor"):
            parts = ["not started yet"]  # why: no executor has taken it (or said so) so far
        else:
            parts.append(f"attempt {row['attempt']}" if row.get("attempt") else "")
        parts.append(f"on {row['executor']}" if row.get("executor") else "")
        parts.append(row.get("detail") or "")
        late = row.get("late_s") or 0.0
        if row.get("backfill_of"):
            n = row.get("backfills", 1)
            parts.append("backfill" + (f" ({n} backfills)" if n > 1 else ""))
        elif late > MISSED_AFTER.total_seconds():
            parts.append(f"{text.duration(late)} late ({_late_cause(row)})")
        if row.get("buffered_at"):
            parts.append(f"buffered behind {text.short_id(row['blocking_run_id'])}")
        out = ", ".join(p for p in parts if p)
    else:
        out = _OTHER[fate](row)
    dst = "; ".join(row.get("dst") or [])
    return "; ".join(p for p in (out, dst) if p)


def _late_cause(row: dict[str, Any]) -> str:
    """Why a triggered fire started over 60 s late, by the answer's `late_cause` (fates.py)."""
    if row.get("late_cause") == "waited":
        return "waited for the run before it"
    return f"catch-up {row['catchup']}"


def _missed(row: dict[str, Any]) -> str:
    instead = f"; ran {text.utc(row['instead'])} instead" if row.get("instead") else ""
    return f"{row['reason']}{instead}"


def _behind(row: dict[str, Any]) -> str:
    blocking = row.get("blocking_run_id")
    return f"{row.get('reason') or 'overlap'}" + (
        f" (run {text.short_id(blocking)})" if blocking else ""
    )


def _paused(row: dict[str, Any]) -> str:
    ev = (row.get("evidence") or [{}])[0]
    why = f": {row['reason']}" if row.get("reason") else ""
    return f"paused by {ev.get('actor', '?')} at {text.utc(ev.get('at'))}{why}"


def _created(row: dict[str, Any]) -> str:
    ev = (row.get("evidence") or [{}])[0]
    if not ev:
        return ""
    made = text.utc(ev.get("at"))
    if row.get("count", 1) > 1:  # why: the fires before the creation, one line (fire_queries.py)
        return f"{row['count']} fires to {text.utc(row['last_utc'])}: created only at {made}"
    if made == text.utc(row.get("utc")):  # why: to the second, the two read as one time
        return f"created only at {text.utc_fraction(ev.get('at'))}, just after this fire time"
    return f"created only at {made}"


_OTHER: dict[str, Callable[[dict[str, Any]], str]] = {
    "skipped": _behind,
    "buffered": lambda r: f"waits for run {text.short_id(r.get('blocking_run_id'))}",
    "missed": _missed,
    "paused": _paused,
    "not_created": _created,
    "unrecorded": lambda r: "nothing recorded while active (a jetcron bug: please report it)",
    "forgotten": lambda r: "older than the run history kept (--keep-runs, --retention); in stats",
    "pending": lambda r: "due, not recorded yet (within 2m, plus jitter)",
    "upcoming": lambda r: "",
}


@handle_errors
def why(
    name: str = typer.Argument(..., metavar="NAME", help="The schedule."),
    when: str | None = typer.Argument(
        None,
        metavar="TIME",
        help="A fire time: ISO with Z or an offset, or wall time in the schedule's zone "
        "(2026-03-29T02:30, or 02:30 for the latest one). Default: the latest fire of the "
        "last week that did not succeed.",
    ),
    server: str = ServerOpt,
    as_json: bool = JsonOpt,
) -> None:
    """The story of one fire in plain sentences, each with the event it comes from."""
    answer = ask_view(server, "why", {"name": name, "time": when})
    # why exit 2: a time that is no fire time is bad input, as `schedule skip` says of it
    wrong = answer.get("fate") == "not_a_fire"
    if as_json:
        print_json(answer)
        if wrong:
            raise typer.Exit(EXIT_INVALID)
        return
    if wrong:
        raise InvalidInput("; ".join(s["text"] for s in answer["sentences"]))
    for line in story_lines(answer["sentences"]):
        echo(line)
    for line in expectation_lines(answer.get("expectations", [])):
        echo(line)


def story_lines(sentences: list[dict[str, Any]]) -> list[str]:
    """The first sentence as a heading, the rest indented, each with `(seq N, time, actor)`."""
    out = []
    for i, s in enumerate(sentences):
        ev = s.get("evidence")
        source = f"  (seq {ev['seq']}, {text.utc(ev['at'])}, {ev['actor']})" if ev else ""
        out.append(("" if i == 0 else "  ") + text.clean(s["text"] + source))
    return out
