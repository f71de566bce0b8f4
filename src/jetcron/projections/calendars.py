"""The calendars view: every live calendar by name, with its definition and who changed it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec

from jetcron.domain.calendar import CalendarDefinition
from jetcron.domain.envelope import StoredEvent, who
from jetcron.domain.events import CalendarCreated, CalendarDeleted, CalendarUpdated


class CalendarRow(msgspec.Struct, kw_only=True, gc=False, omit_defaults=True):
    """One live calendar."""

    name: str
    definition: CalendarDefinition
    version: int
    created_at: datetime
    updated_at: datetime
    updated_by: str = ""


class CalendarsView(msgspec.Struct, kw_only=True, gc=False):
    """Live calendars by name."""

    rows: dict[str, CalendarRow] = {}


def definitions(view: CalendarsView) -> dict[str, CalendarDefinition]:
    """Live calendar definitions by name (what exclude/only_within refer to)."""
    return {name: row.definition for name, row in view.rows.items()}


def _on_defined(
    view: CalendarsView, event: CalendarCreated | CalendarUpdated, stored: StoredEvent
) -> None:
    row = view.rows.get(event.name)
    if row is not None and event.version <= row.version and isinstance(event, CalendarUpdated):
        return  # why: a redelivered update; a create (version 1) always starts a new incarnation
    env = stored.envelope
    created = env.at if row is None or isinstance(event, CalendarCreated) else row.created_at
    view.rows[event.name] = CalendarRow(
        name=event.name,
        definition=event.definition,
        version=event.version,
        created_at=created,
        updated_at=env.at,
        updated_by=who(env),
    )


def _on_deleted(view: CalendarsView, event: CalendarDeleted, stored: StoredEvent) -> None:
    view.rows.pop(event.name, None)


Handler = Callable[[CalendarsView, Any, StoredEvent], None]
HANDLERS: dict[type, Handler] = {
    CalendarCreated: _on_defined,
    CalendarUpdated: _on_defined,
    CalendarDeleted: _on_deleted,
}
"""Event type -> fold step; the container routes events through this table."""
