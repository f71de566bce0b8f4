"""`jetcron preview` and `jetcron due`: when things will fire."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pytz
import typer

from jetcron.cli.common import (
    JsonOpt,
    ServerOpt,
    count_option,
    echo,
    err_console,
    handle_errors,
    parse_iso,
    print_json,
    run,
    table,
    with_nats,
)
from jetcron.clock import iso_z
from jetcron.domain.definition import ScheduleDefinition
from jetcron.domain.durations import window_seconds
from jetcron.domain.fires import next_fires
from jetcron.domain.spec import normal_spec, validate_tz, zone_note
from jetcron.domain.validation import validate_spec
from jetcron.errors import InvalidInput
from jetcron.projections.limits import DUE_LIMIT, DUE_MAX


def fires_rows(
    fires: list[Any], tz: str, spec: str | None = None, after: datetime | None = None
) -> list[dict[str, Any]]:
    """[{utc, local, tz}] for fire times (datetimes or ISO strings); with `spec`, also `dst`:
    what DST did to each fire, in the words of `why` (and of the console), and on the fire
    after a gap that swallowed fires of an interval-like spec, which (`after`: where the
    search began, for the first fire)."""
    zone = pytz.timezone(tz)
    out: list[dict[str, Any]] = []
    prev = after
    for f in fires:
        dt = f if isinstance(f, datetime) else parse_iso(str(f))
        local = dt.astimezone(zone)
        row: dict[str, Any] = {
            "utc": iso_z(dt),
            "local": local.replace(microsecond=0).isoformat(),
            "tz": tz,
        }
        if spec is not None:
            from jetcron.domain.dst import dst_notes, gap_notes

            if notes := gap_notes(prev, dt, spec, tz) + dst_notes(dt, spec, tz):
                row["dst"] = notes
        prev = dt
        out.append(row)
    return out


def print_fires(rows: list[dict[str, Any]], title: str | None) -> None:
    """A table of fire times, with the local weekday (so 5L or 2#2 can be checked at a glance)."""
    # why: `schedule next` marks skipped fires; DST moves or repeats some wall times
    noted = any("skipped" in r or r.get("dst") for r in rows)
    secs = with_seconds(r["local"] for r in rows)
    table(
        title,
        ["#", "UTC", "local", "day"] + (["note"] if noted else []),
        (
            [i, r["utc"], local_cell(r["local"], r["tz"], secs), _weekday(r["local"])]
            + ([_note(r)] * noted)
            for i, r in enumerate(rows, 1)
        ),
        # why: on a narrow terminal the times stay whole (as `schedule list` keeps the next
        # fire): the row number and the weekday go, then the note gives way
        drop=("#", "day"),
        cut=("note",),
        keep=("UTC", "local"),
    )


def with_seconds(locals_: Iterable[str]) -> bool:
    """Whether a column of these ISO times shows seconds: when any has some, all do (09:47:40
    above 09:48 read as two formats)."""
    return any(datetime.fromisoformat(t).second for t in locals_)


def local_cell(local: str, tz: str, seconds: bool | None = None) -> str:
    """`2026-12-02 09:00 CET (+01:00)`: wall time with the abbreviation the console shows;
    seconds when `seconds` (None: when this time has some).

    why: an offset alone does not say which side of a DST change a fire is on; `--json` keeps
    the ISO `local` (the abbreviation is for people, and some zones have none: `+03`).
    """
    wall = datetime.fromisoformat(local).astimezone(pytz.timezone(tz))
    secs = wall.second if seconds is None else seconds
    shown = f"{wall:%Y-%m-%d %H:%M:%S}" if secs else f"{wall:%Y-%m-%d %H:%M}"
    from jetcron.domain.dst import zone_name

    offset, name = wall.isoformat()[-6:], zone_name(wall)
    return f"{shown} {offset}" if name == offset else f"{shown} {name} ({offset})"


def _note(row: dict[str, Any]) -> str:
    return "; ".join([*([row["skipped"]] if "skipped" in row else []), *row.get("dst", [])])


def note_zone(zone: str, of: str = "") -> None:
    """Warn on stderr when the zone is a fixed offset likely meant as a place with DST (EST);
    `of` names what has that zone when several may (apply's schedules and calendars)."""
    if (note := zone_note(zone)) is not None:
        err_console.print(f"note: {of}{': ' if of else ''}{note}", highlight=False)


def note_jitter(definition: ScheduleDefinition, of: str = "") -> None:
    """Say on stderr when the jitter is capped (above half the interval: `@every 10s` with
    `--jitter 1h` waits under 5s); the scheduler caps it by the same rule. `add`, `update` and
    `apply` (`of` naming the schedule) all say it here, in one wording."""
    from jetcron.domain.fires import jitter_note
    from jetcron.domain.spec import parse_spec

    if definition.jitter_s <= 0 or definition.spec.startswith("@at"):
        return
    note = jitter_note(parse_spec(definition.spec), definition.tz, definition.jitter_s)
    if note is not None:
        err_console.print(f"note: {of}{': ' if of else ''}{note}", highlight=False)


def note_naive(text: str, zone: str, why: str) -> None:
    """Say on stderr in which zone a time given without one was read (`why` says whose rule it
    is): the time options read it in UTC, `why` and `schedule skip` in the schedule's zone
    (README "Time options"), and nothing else on the line tells which.

    why: the one place that says it, so every command words it alike; `02:00` read as
    `02:00 Europe/London` is said, `02:00Z` or `2h` (no wall time) is not.
    """
    if naive(text):
        shown = text.strip()
        err_console.print(f"note: {shown} read as {shown} {zone} ({why})", highlight=False)


def naive(text: str) -> bool:
    """Whether `text` is a wall time without a zone: `HH:MM[:SS]`, or ISO-8601 without an
    offset or `Z` (a duration or anything unreadable is not)."""
    source = text.strip()
    if re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?", source):
        return True
    try:
        when = datetime.fromisoformat(source.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return False
    return when.tzinfo is None


def _weekday(local: str) -> str:
    return datetime.fromisoformat(local).strftime("%a")


def _wall_time(text: str, zone: str) -> datetime:
    """An ISO time; without an offset, wall time in `zone` (the rule of the API's `after`)."""
    from jetcron.domain.fires import search_after

    try:
        naive = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        from jetcron.domain.days import ISO_HINT, bad_time

        raise InvalidInput(f"--after: {bad_time(text, ISO_HINT)}") from None
    try:
        return search_after(naive, zone)
    except OverflowError:
        raise InvalidInput(f"--after {text}: out of range in {zone}") from None


@handle_errors
def preview(
    spec: str = typer.Argument(..., help="A spec: cron, @daily, '@every 15m', '@at ...'."),
    tz: str = typer.Option("UTC", "--tz", metavar="ZONE", help="IANA time zone."),
    after: str | None = typer.Option(
        None,
        "--after",
        metavar="TIME",
        show_default="now",
        help="Start after this ISO time; without an offset it is wall time in --tz.",
    ),
    n: int = count_option(10, "-n", help="How many fires."),
    exclude: list[str] | None = typer.Option(
        None,
        "--exclude",
        metavar="CAL",
        help="Leave out fires inside this calendar (asks the server).",
    ),
    only_within: list[str] | None = typer.Option(
        None,
        "--only-within",
        metavar="CAL",
        help="Keep only fires inside this calendar (asks the server).",
    ),
    server: str = ServerOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Show the next fire times of a spec (offline unless it names calendars)."""
    zone = validate_tz(tz)
    validate_spec(spec, zone)
    note_zone(zone)
    start = _wall_time(after, zone) if after else datetime.now(UTC)
    if exclude or only_within:
        fires = _fires_left(server, spec, zone, start, n, exclude or [], only_within or [])
    else:
        fires = next_fires(spec, zone, start, n)
    rows = fires_rows(fires, zone, spec, start)
    if as_json:
        print_json(rows)
    elif not rows:
        # why: without --after "that time" is now, which nothing else on the screen names
        echo(f"no fires after {iso_z(start.replace(microsecond=0))}")
    else:
        print_fires(rows, f"{normal_spec(spec)} ({zone})")


def _fires_left(
    server: str,
    spec: str,
    zone: str,
    start: datetime,
    n: int,
    exclude: list[str],
    only_within: list[str],
) -> list[datetime]:
    """The next n fires of a spec that the named calendars (read from the server) leave."""
    from jetcron.cli.calendars import live_calendars
    from jetcron.domain.calendar import fires_left
    from jetcron.domain.definition import Job, ScheduleDefinition

    cals = live_calendars(server)
    unknown = [c for c in [*exclude, *only_within] if c not in cals]
    if unknown:
        raise InvalidInput(f"unknown calendar {unknown[0]!r} (see `jetcron calendar list`)")
    d = ScheduleDefinition(spec=spec, tz=zone, job=Job(), exclude=exclude, only_within=only_within)
    return fires_left(d, cals, start, limit=n)


@handle_errors
def due(
    within: str = typer.Option(
        "1h", "--within", metavar="DURATION", help="Look this far ahead, e.g. 15m, 1h, 1d."
    ),
    limit: int = count_option(
        DUE_LIMIT,
        "--limit",
        help=f"Show at most this many fires, soonest first (1..{DUE_MAX}).",
        most=DUE_MAX,
    ),
    server: str = ServerOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Upcoming fires across all active schedules, soonest first."""
    horizon = window_seconds(within, "--within")
    from jetcron.client import query  # why: preview, in this module too, needs no NATS

    page: dict[str, Any] = run(
        with_nats(server, lambda nc: query(nc, "due", {"within_s": horizon, "limit": limit}))
    )
    rows = page["fires"]
    if as_json:
        print_json(rows)
    else:
        secs = with_seconds(r["local"] for r in rows)
        table(
            f"due within {within}",
            ["UTC", "local", "schedule", "target", "runs"],
            (
                [
                    r["utc"],
                    local_cell(r["local"], r["tz"], secs),
                    r["name"],
                    r["target"],
                    r.get("skipped") or r["job"],
                ]
                for r in rows
            ),
            drop=("target",),
            cut=("runs",),
            keep=("UTC", "local"),
        )
    if page.get("more"):
        more = (
            f"use --limit {min(limit * 2, DUE_MAX)}"
            if limit < DUE_MAX
            else "use a shorter --within"
        )
        echo(
            f"capped: the first {len(rows)} fires are shown, more are due within {within} ({more})",
            err=True,
        )
