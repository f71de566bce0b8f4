"""Calendars: their aggregate's decide/evolve, and the ticker's planner honouring them."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest

from jetcron.domain.calendar import CalendarDefinition, CalendarPatch
from jetcron.domain.commands import (
    CreateCalendar,
    CreateSchedule,
    DeleteCalendar,
    UpdateCalendar,
)
from jetcron.domain.definition import Job, ScheduleDefinition
from jetcron.domain.envelope import Envelope, StoredEvent
from jetcron.domain.errors import CommandRejected
from jetcron.domain.events import CalendarCreated, CalendarDeleted, CalendarUpdated
from jetcron.scheduler import calendars
from jetcron.scheduler.decider import INITIAL, decide, fold
from jetcron.scheduler.planner import Skip, Trigger, decide_due
from jetcron.scheduler.state import TickerState

NOW = datetime(2026, 12, 20, 12, 0, tzinfo=UTC)
MAINT = CalendarDefinition(tz="Europe/Berlin", windows=["0 14 * * * for 1h"])
"""Every day 14:00-15:00 Berlin = 13:00-14:00Z in winter."""


def meta(name: str, command_id: str) -> dict[str, object]:
    return {"name": name, "command_id": command_id, "at": NOW, "actor": "alice"}


def add(definition: CalendarDefinition = MAINT, name: str = "maint") -> CreateCalendar:
    return CreateCalendar(**meta(name, "c1"), definition=definition)  # type: ignore[arg-type]


def test_add_update_delete() -> None:
    [created] = calendars.decide_calendar(calendars.INITIAL, add())
    assert created == CalendarCreated(name="maint", version=1, definition=MAINT)
    state = calendars.fold([created])
    patch = CalendarPatch(dates=[date(2026, 12, 25)], description="xmas too")
    [updated] = calendars.decide_calendar(state, UpdateCalendar(**meta("maint", "u1"), patch=patch))  # type: ignore[arg-type]
    assert isinstance(updated, CalendarUpdated)
    assert (updated.version, updated.changed) == (2, ["dates", "description"])
    assert updated.definition.windows == MAINT.windows
    state = calendars.fold([updated], state)
    same = UpdateCalendar(**meta("maint", "u2"), patch=patch)  # type: ignore[arg-type]
    assert calendars.decide_calendar(state, same) == []
    [deleted] = calendars.decide_calendar(state, DeleteCalendar(**meta("maint", "d1")))  # type: ignore[arg-type]
    assert deleted == CalendarDeleted(name="maint", version=3)
    state = calendars.fold([deleted], state)
    assert state.status == "deleted"
    [again] = calendars.decide_calendar(state, add())
    assert isinstance(again, CalendarCreated) and again.version == 1


@pytest.mark.parametrize(
    ("given", "command", "problem"),
    [
        pytest.param(True, add(), "calendar 'maint' already exists", id="twice"),
        pytest.param(
            False,
            UpdateCalendar(**meta("maint", "u"), patch=CalendarPatch(description="x")),  # type: ignore[arg-type]
            "calendar 'maint' not found",
            id="update-missing",
        ),
        pytest.param(
            False,
            DeleteCalendar(**meta("maint", "d")),  # type: ignore[arg-type]
            "calendar 'maint' not found",
            id="delete-missing",
        ),
        pytest.param(False, add(name="no/slash"), "invalid calendar name", id="bad-name"),
        pytest.param(
            True,
            UpdateCalendar(**meta("maint", "u"), patch=CalendarPatch(windows=["0 2 * * *"])),  # type: ignore[arg-type]
            "write 'CRON for DURATION'",
            id="bad-window",
        ),
    ],
)
def test_rejections(given: bool, command: object, problem: str) -> None:
    state = calendars.fold(calendars.decide_calendar(calendars.INITIAL, add()) if given else [])
    with pytest.raises(CommandRejected, match=re.escape(problem)):
        calendars.decide_calendar(state, command)  # type: ignore[arg-type]


def test_a_schedule_decider_refuses_a_calendar_command() -> None:
    with pytest.raises(CommandRejected, match="not decided by a schedule"):
        decide(INITIAL, add())


# ---------------------------------------------------------------- the ticker's planner


def stored(seq: int, event: object) -> StoredEvent:
    envelope = Envelope(id=f"e{seq}", at=NOW, actor="alice", event=event)  # type: ignore[arg-type]
    return StoredEvent(seq, "jetcron.x", envelope)


def ticker(**calendar_fields: list[str]) -> TickerState:
    state = TickerState()
    definition = ScheduleDefinition(
        spec="*/30 * * * *", job=Job(command=["true"]), **calendar_fields
    )
    create = CreateSchedule(**meta("backup", "s1"), definition=definition)  # type: ignore[arg-type]
    state.apply(stored(1, decide(INITIAL, create)[0]))
    state.apply(stored(2, calendars.decide_calendar(calendars.INITIAL, add())[0]))
    return state


def at(hour: int, minute: int) -> datetime:
    return datetime(2026, 12, 20, hour, minute, tzinfo=UTC)


def due_at(state: TickerState, hour: int, minute: int) -> list[object]:
    [entry] = state.entries.values()
    entry.last_fire = at(hour, minute) - (at(0, 30) - at(0, 0))
    return list(decide_due(entry, at(hour, minute), state.calendars))


def test_exclude_records_the_fire_as_excluded_and_runs_its_neighbours() -> None:
    state = ticker(exclude=["maint"])
    assert state.calendars == {"maint": MAINT}
    assert due_at(state, 12, 30) == [Trigger(at(12, 30))]
    assert due_at(state, 13, 0) == [
        Skip(at(13, 0), "excluded by maint (window 0 14 * * * for 1h)", None)
    ]
    assert due_at(state, 13, 30) == [
        Skip(at(13, 30), "excluded by maint (window 0 14 * * * for 1h)", None)
    ]
    assert due_at(state, 14, 0) == [Trigger(at(14, 0))]


def test_only_within_runs_inside_only() -> None:
    state = ticker(only_within=["maint"])
    assert due_at(state, 12, 30) == [Skip(at(12, 30), "outside maint (only within)", None)]
    assert due_at(state, 13, 0) == [Trigger(at(13, 0))]
    assert due_at(state, 14, 0) == [Skip(at(14, 0), "outside maint (only within)", None)]


def test_a_calendar_update_or_delete_reaches_the_ticker() -> None:
    state = ticker(exclude=["maint"])
    moved = CalendarDefinition(tz="UTC", windows=["0 12 * * * for 1h"])
    state.apply(stored(3, CalendarUpdated(name="maint", version=2, definition=moved)))
    assert due_at(state, 13, 0) == [Trigger(at(13, 0))]
    assert due_at(state, 12, 30) == [
        Skip(at(12, 30), "excluded by maint (window 0 12 * * * for 1h)", None)
    ]
    state.apply(stored(4, CalendarDeleted(name="maint", version=3)))
    assert state.calendars == {}
    assert due_at(state, 12, 30) == [Trigger(at(12, 30))]


def test_fold_ignores_calendar_events_for_schedules() -> None:
    assert fold([CalendarDeleted(name="maint", version=3)]) == INITIAL
