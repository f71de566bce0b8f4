"""Calendars in `jetcron apply` / `export` files: a `calendars` table of name -> fields.

    {"calendars": {"maint": {"tz": "Europe/Berlin", "windows": ["0 2 * * sun for 4h"],
                             "dates": ["2026-12-25"], "ranges": ["2026-12-24..2026-12-31"]}},
     "schedules": {"backup": {"spec": "0 3 * * *", "exclude": ["maint"], ...}}}

`apply` creates or updates the calendars first (so the schedules' references resolve) and never
deletes one (`jetcron calendar delete` does, when no schedule uses it); `export` writes the
calendars the exported schedules use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import msgspec

from jetcron.cli.files import decode_file, table_entry
from jetcron.cli.reconcile import Desired
from jetcron.cli.walk import files_in
from jetcron.domain.calendar import (
    CalendarDefinition,
    parse_range,
    parse_window,
    replacing,
    validate_calendar,
    validate_calendar_name,
)
from jetcron.domain.commands import CreateCalendar, UpdateCalendar
from jetcron.errors import InvalidInput

KEYS = tuple(CalendarDefinition.__struct_fields__)


class CalendarStep(msgspec.Struct, frozen=True, kw_only=True):
    """One calendar command of an apply: create or update to `definition`."""

    action: str
    name: str
    definition: CalendarDefinition
    detail: str = ""

    def command(self, meta: Mapping[str, Any]) -> CreateCalendar | UpdateCalendar:
        """The command that carries it out."""
        if self.action == "create":
            return CreateCalendar(**meta, definition=self.definition)
        return UpdateCalendar(**meta, patch=replacing(self.definition))


def load_calendars(path: Path) -> dict[str, CalendarDefinition]:
    """Every calendar in a file or a directory of files, checked and validated."""
    out: dict[str, CalendarDefinition] = {}
    found_in: dict[str, Path] = {}
    for file in files_in(path):
        table = decode_file(file).get("calendars", {})
        if not isinstance(table, dict):
            raise InvalidInput(f"{file}: 'calendars' must be a table/object of name -> fields")
        for name, body in table.items():
            if name in out:
                raise InvalidInput(
                    f"{file}: calendar {name!r} is defined twice (first in {found_in[name]})"
                )
            out[name] = _calendar(f"{file}: calendars.{name}", name, body)
            found_in[name] = file
    return out


def _calendar(where: str, name: str, body: Any) -> CalendarDefinition:
    cal = table_entry(where, body, KEYS, CalendarDefinition)
    try:
        validate_calendar_name(name)
        for key, items, check in (
            ("windows", cal.windows, parse_window),
            ("ranges", cal.ranges, parse_range),
        ):
            for i, item in enumerate(items):
                _at(f"{where}.{key}[{i}]", check, item)
        if not (cal.windows or cal.dates or cal.ranges):
            raise InvalidInput("a calendar needs at least one of windows, dates or ranges")
        return validate_calendar(cal)
    except InvalidInput as err:
        if str(err).startswith(f"{where}."):
            raise
        raise InvalidInput(f"{where}: {err}") from None


def _at(where: str, check: Callable[[str], object], item: str) -> None:
    """Run a window's or range's check; its error named by the file key (`windows[0]`)."""
    try:
        check(item)
    except InvalidInput as err:
        raise InvalidInput(f"{where}: {err}") from None


def calendar_steps(
    desired: Mapping[str, CalendarDefinition], live_rows: Iterable[Mapping[str, Any]]
) -> list[CalendarStep]:
    """The creates and updates that make the live calendars what the files say."""
    live = {r["name"]: msgspec.convert(r["definition"], CalendarDefinition) for r in live_rows}
    steps = []
    for name, want in sorted(desired.items()):
        have = live.get(name)
        if have is None:
            steps.append(CalendarStep(action="create", name=name, definition=want))
        elif have != want:
            changed = [f for f in KEYS if getattr(have, f) != getattr(want, f)]
            detail = ", ".join(changed)
            steps.append(CalendarStep(action="update", name=name, definition=want, detail=detail))
    return steps


def unknown_references(schedules: Mapping[str, Desired], known: set[str]) -> str | None:
    """'a.toml: schedules.x.exclude: unknown calendar y ...' for the first schedule naming no
    known calendar (its file and key, as every other apply error)."""
    for name, want in sorted(schedules.items()):
        d = want.definition
        for key, cals in (("exclude", d.exclude), ("only_within", d.only_within)):
            for cal in cals:
                if cal not in known:
                    where = f"{want.where}.{key}" if want.where else f"schedule {name!r}"
                    return (
                        f"{where}: unknown calendar {cal!r} "
                        "(define it under 'calendars' in the files or with `jetcron calendar add`)"
                    )
    return None


def exported(rows: Iterable[Mapping[str, Any]], used: set[str]) -> dict[str, CalendarDefinition]:
    """The calendars named in `used`, as a file writes them (defaults left out)."""
    return {
        r["name"]: msgspec.convert(r["definition"], CalendarDefinition)
        for r in sorted(rows, key=lambda r: str(r["name"]))
        if r["name"] in used
    }
