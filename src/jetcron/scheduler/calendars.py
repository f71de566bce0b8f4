"""The calendar aggregate: decide/evolve/fold for `jetcron calendar add/update/delete`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import reduce
from typing import Literal

import msgspec

from jetcron.domain.calendar import (
    CalendarDefinition,
    in_use,
    patched,
    validate_calendar,
    validate_calendar_name,
)
from jetcron.domain.commands import CalendarCommand, CreateCalendar, DeleteCalendar, UpdateCalendar
from jetcron.domain.envelope import AnyEvent
from jetcron.domain.errors import CalendarNotFound, CommandRejected
from jetcron.domain.events import CalendarCreated, CalendarDeleted, CalendarUpdated, Event

CalendarStatus = Literal["absent", "live", "deleted"]


class CalendarState(msgspec.Struct, frozen=True, kw_only=True):
    """One calendar as its own events leave it."""

    status: CalendarStatus = "absent"
    name: str = ""
    version: int = 0
    definition: CalendarDefinition | None = None


INITIAL = CalendarState()


def decide_calendar(
    state: CalendarState, command: CalendarCommand, users: Mapping[str, str] | None = None
) -> list[Event]:
    """The events a calendar command produces; [] if already satisfied; CommandRejected if not.

    `users`: the live schedules that name the calendar (name -> 'exclude' or 'only_within');
    a delete is refused while there are any, so no schedule is left naming nothing.
    """
    match command:
        case CreateCalendar():
            validate_calendar_name(command.name)
            if state.status == "live":
                raise CommandRejected(
                    f"calendar {command.name!r} already exists "
                    "(use `jetcron calendar update` to change it)"
                )
            definition = validate_calendar(command.definition)
            return [CalendarCreated(name=command.name, version=1, definition=definition)]
        case UpdateCalendar():
            old = _existing(state, command.name)
            new = validate_calendar(patched(old, command.patch))
            changed = [f for f in old.__struct_fields__ if getattr(old, f) != getattr(new, f)]
            if not changed:
                return []
            return [
                CalendarUpdated(
                    name=state.name, version=state.version + 1, definition=new, changed=changed
                )
            ]
        case DeleteCalendar():
            _existing(state, command.name)
            if users:
                raise CommandRejected(in_use(command.name, users))
            return [CalendarDeleted(name=state.name, version=state.version + 1)]


def evolve(state: CalendarState, event: Event) -> CalendarState:
    """The state after one event; events of other aggregates leave it unchanged."""
    match event:
        case CalendarCreated() | CalendarUpdated():
            return CalendarState(
                status="live", name=event.name, version=event.version, definition=event.definition
            )
        case CalendarDeleted():
            return msgspec.structs.replace(state, status="deleted", version=event.version)
        case _:
            return state


def fold(events: Iterable[AnyEvent | Event], state: CalendarState = INITIAL) -> CalendarState:
    """Apply events in order."""
    return reduce(evolve, events, state)


def _existing(state: CalendarState, name: str) -> CalendarDefinition:
    if state.status != "live" or state.definition is None:
        raise CalendarNotFound(name)
    return state.definition
