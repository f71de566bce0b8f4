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
    parse_since,
    print_json,
    run_until_interrupted,
    table,
)
from jetcron.cli.timing import note_naive, with_seconds
from jetcron.domain.definition import MISSED_AFTER
from jetcron.errors import InvalidInput

if TYPE_CHECKING:
    pass


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
    deferred; paused, not_created and deleted for fires the schedule could not have (deleted:
    between a deletion and the name's next creation); unrecorded for a
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
        from jetcron.cli.fires_follow import window_then_follow

        run_until_interrupted(lambda: window_then_follow(server, params, as_json))
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
                *([local_cell(r["local"], secs)] if zones else []),
                fate_of(r),
                run_cell(r),
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


def fate_of(row: dict[str, Any]) -> str:
    """A fire's fate as its line says it: `triggered (previous)` for a fire of an earlier
    schedule of the name (README: a reused name's history is marked)."""
    return f"{row['fate']} (previous)" if row.get("previous") else str(row["fate"])


def expectation_lines(missed: list[dict[str, Any]]) -> list[str]:
    """One line per expectation missed and not met yet, with the event that recorded it."""
    return [
        f"expectation {m['kind']} missed at {text.utc(m['deadline'])}: "
        f"{m['cause'].replace('_', ' ')} ({m['detail']})  (seq {m['seq']}, {text.utc(m['missed_at'])})"
        for m in missed
    ]


def local_cell(iso_local: str, seconds: bool | None = None) -> str:
    """`2026-03-29T03:00:00+02:00` as `03-29 03:00+02:00`; with `seconds` (None: when it has
    some) `03-29 03:00:28+02:00`."""
    wall = datetime.fromisoformat(iso_local)
    secs = wall.second if seconds is None else seconds
    shown = f"{wall:%m-%d %H:%M:%S}" if secs else f"{wall:%m-%d %H:%M}"
    return shown + wall.isoformat()[-6:]


def run_cell(row: dict[str, Any]) -> str:
    """The run column: the short run id, `-` for a fire with no run."""
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


def _deleted(row: dict[str, Any]) -> str:
    told = row.get("evidence") or [{}]
    gone, again = told[0], (told[1] if len(told) > 1 else None)
    if not gone:
        return ""
    why = f" ({row['reason']})" if row.get("reason") else ""
    out = f"deleted by {gone.get('actor', '?')} at {text.utc(gone.get('at'))}{why}"
    if again is not None:
        made = text.utc(again.get("at"))
        if made == text.utc(row.get("last_utc") or row.get("utc")):
            made = text.utc_fraction(again.get("at"))  # why: to the second, it reads as this fire's
        out += f"; created again by {again.get('actor', '?')} at {made}"
    if row.get("count", 1) > 1:  # why: the fires in between, one line (fire_queries.py)
        return f"{row['count']} fires to {text.utc(row['last_utc'])}: {out}"
    return out


_OTHER: dict[str, Callable[[dict[str, Any]], str]] = {
    "skipped": _behind,
    "buffered": lambda r: f"waits for run {text.short_id(r.get('blocking_run_id'))}",
    "missed": _missed,
    "paused": _paused,
    "not_created": _created,
    "deleted": _deleted,
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
        if when is not None:
            note_naive(when, answer.get("tz") or "UTC", "the schedule's zone")
        return
    if wrong:
        raise InvalidInput("; ".join(s["text"] for s in answer["sentences"]))
    if when is not None:
        note_naive(when, answer.get("tz") or "UTC", "the schedule's zone")
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
