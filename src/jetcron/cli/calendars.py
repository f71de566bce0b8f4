"""`jetcron calendar ...`: named time (maintenance windows, holidays) schedules exclude or stay in."""

from __future__ import annotations

from datetime import date
from typing import Any

import msgspec
import typer

from jetcron.cli.common import (
    ActorOpt,
    JsonOpt,
    ReasonOpt,
    ServerOpt,
    command_meta,
    console,
    fmt_time,
    handle_errors,
    print_json,
    run,
    table,
    with_nats,
)
from jetcron.cli.sending import query, send
from jetcron.cli.text import clean
from jetcron.cli.timing import note_zone
from jetcron.cli.whatif import NextOpt, what_if_option
from jetcron.domain.calendar import (
    CalendarDefinition,
    CalendarPatch,
    in_use,
    parse_date,
    validate_calendar,
    validate_calendar_name,
)
from jetcron.domain.commands import CreateCalendar, DeleteCalendar, UpdateCalendar
from jetcron.errors import InvalidInput

app = typer.Typer(
    help="Named time (maintenance windows, holidays) that schedules exclude or stay in.",
    no_args_is_help=True,
)

NameArg = typer.Argument(..., help="Calendar name: letters, digits, '_', '.', '-'.")
WindowOpt = typer.Option(
    None,
    "--window",
    metavar="'CRON for DURATION'",
    help="A recurring window, e.g. '0 2 * * sun for 4h' (starts in --tz; repeatable).",
)
DatesOpt = typer.Option(
    None,
    "--dates",
    metavar="DATE,...",
    help="Whole local days, e.g. 2026-12-25,2027-01-01 (repeatable).",
)
RangeOpt = typer.Option(
    None,
    "--range",
    metavar="FIRST..LAST",
    help="Whole local days from FIRST to LAST, both included (repeatable).",
)
DescriptionOpt = typer.Option(None, "--description", "-d", help="Free text shown in listings.")
RESETTABLE = ("windows", "dates", "ranges", "description")


def parse_dates(items: list[str] | None) -> list[date]:
    """`--dates 2026-12-25,2027-01-01` (repeatable) as dates; InvalidInput naming a bad one."""
    out: list[date] = []
    for item in items or []:
        for text in filter(None, (t.strip() for t in item.split(","))):
            try:
                out.append(parse_date(text))
            except InvalidInput as err:
                raise InvalidInput(f"--dates: {err}") from None
    return sorted(out)  # why: not a set: a date given twice is a slip validate_calendar names


@app.command("add")
@handle_errors
def add(
    name: str = NameArg,
    tz: str = typer.Option("UTC", "--tz", metavar="ZONE", help="IANA zone of windows and days."),
    window: list[str] | None = WindowOpt,
    dates: list[str] | None = DatesOpt,
    range_: list[str] | None = RangeOpt,
    description: str | None = DescriptionOpt,
    server: str = ServerOpt,
    actor: str | None = ActorOpt,
    reason: str = ReasonOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Create a calendar: `jetcron calendar add maint --tz Europe/Berlin --window "0 2 * * sun for 4h"`."""
    validate_calendar_name(name)
    definition = validate_calendar(
        CalendarDefinition(
            tz=tz,
            windows=list(window or []),
            dates=parse_dates(dates),
            ranges=list(range_ or []),
            description=description or "",
        )
    )
    cmd = CreateCalendar(**command_meta(name, actor, reason), definition=definition)
    send(server, cmd, as_json, f"created calendar {name!r}")
    note_zone(definition.tz)  # why: windows are wall-time crons: EST keeps no DST either


@app.command("update")
@handle_errors
def update(
    name: str = NameArg,
    tz: str | None = typer.Option(None, "--tz", metavar="ZONE", help="IANA zone."),
    window: list[str] | None = WindowOpt,
    dates: list[str] | None = DatesOpt,
    range_: list[str] | None = RangeOpt,
    description: str | None = DescriptionOpt,
    reset: list[str] | None = typer.Option(
        None,
        "--reset",
        metavar="FIELD",
        help="Empty windows, dates, ranges or description (repeatable).",
    ),
    what_if: bool = what_if_option(
        "for every schedule using the calendar, which past fires would have appeared or "
        "vanished, and the next fires before and after."
    ),
    past: str | None = typer.Option(
        None,
        "--past",
        metavar="DURATION",
        help="With --what-if: how far back (--window is the calendar's own). Default: 30d.",
    ),
    n: int = NextOpt,
    server: str = ServerOpt,
    actor: str | None = ActorOpt,
    reason: str = ReasonOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Change a calendar: the options given replace those lists whole; the rest is kept."""
    validate_calendar_name(name)
    values: dict[str, Any] = {}
    for key in reset or []:
        if key not in RESETTABLE:
            raise InvalidInput(f"--reset {key}: use one of {', '.join(RESETTABLE)}")
        values[key] = "" if key == "description" else []
    given = {"tz": tz, "windows": window, "ranges": range_, "description": description}
    values |= {k: list(v) if isinstance(v, list) else v for k, v in given.items() if v}
    if dates:
        values["dates"] = parse_dates(dates)
    if not values:
        raise InvalidInput(
            "nothing to change: give --window, --dates, --range, --tz, -d or --reset"
        )
    patch = msgspec.convert(values, CalendarPatch)
    if tz:
        note_zone(tz)
    if what_if:
        from jetcron.cli import whatif

        whatif.show_calendar(server, name, patch, past or "30d", n, as_json)
        return
    if past is not None:
        raise InvalidInput("--past goes with --what-if (this update would be sent)")
    cmd = UpdateCalendar(**command_meta(name, actor, reason), patch=patch)
    send(server, cmd, as_json, f"updated calendar {name!r}")


@app.command("delete")
@handle_errors
def delete(
    name: str = NameArg,
    server: str = ServerOpt,
    actor: str | None = ActorOpt,
    reason: str = ReasonOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Delete a calendar; refused while a schedule refers to it."""
    validate_calendar_name(name)
    # why: the scheduler's decider refuses a calendar still in use, naming the schedules it
    # has references for; a schedule that named it in a log older than those references is
    # known only to the views, so they are asked first
    if used := _one(server, name)["used_by"]:
        raise InvalidInput(in_use(name, used))
    send(
        server,
        DeleteCalendar(**command_meta(name, actor, reason)),
        as_json,
        f"deleted calendar {name!r}",
    )


@app.command("list")
@handle_errors
def list_(server: str = ServerOpt, as_json: bool = JsonOpt) -> None:
    """Every calendar, with what it covers and the schedules that use it."""
    rows: list[dict[str, Any]] = run(with_nats(server, lambda nc: query(nc, "calendars", {})))
    if as_json:
        print_json(rows)
        return
    table(
        None,
        ["name", "tz", "covers", "used by", "version"],
        (
            [r["name"], r["definition"]["tz"], covers_text(r["definition"]), _used(r), r["version"]]
            for r in rows
        ),
    )


@app.command("show")
@handle_errors
def show(name: str = NameArg, server: str = ServerOpt, as_json: bool = JsonOpt) -> None:
    """One calendar: its zone, windows, dates and ranges, and the schedules that use it."""
    row = _one(server, name)
    if as_json:
        print_json(row)
        return
    d = row["definition"]
    lines = [
        f"calendar {row['name']} (version {row['version']}, {d['tz']})",
        *(f"  window  {w}" for w in d["windows"]),
        *(f"  date    {x}" for x in d["dates"]),
        *(f"  range   {r}" for r in d["ranges"]),
        f"  used by {_used(row)}",
        f"  changed {fmt_time(row['updated_at'])} by {row['updated_by'] or '?'}",
    ]
    if d["description"]:
        lines.insert(1, f"  {d['description']}")
    # why: free text (a description, an actor) is neither markup nor a terminal's controls
    console.print("\n".join(clean(line) for line in lines), highlight=False, markup=False)


def live_calendars(server: str) -> dict[str, CalendarDefinition]:
    """Every live calendar's definition by name, from the server's views."""
    rows: list[dict[str, Any]] = run(with_nats(server, lambda nc: query(nc, "calendars", {})))
    return {r["name"]: msgspec.convert(r["definition"], CalendarDefinition) for r in rows}


def _one(server: str, name: str) -> dict[str, Any]:
    row: dict[str, Any] = run(with_nats(server, lambda nc: query(nc, "calendar", {"name": name})))
    return row


def covers_text(d: dict[str, Any]) -> str:
    """What a calendar (its JSON definition) covers, in one line."""
    parts = [*d.get("windows", []), *d.get("ranges", [])]
    if d.get("dates"):
        parts.append(f"{len(d['dates'])} date(s)")
    return "; ".join(parts)


def _used(row: dict[str, Any]) -> str:
    return ", ".join(f"{s} ({how})" for s, how in sorted(row["used_by"].items())) or "-"
