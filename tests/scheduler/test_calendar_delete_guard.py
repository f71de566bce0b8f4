"""A calendar still named by a schedule cannot be deleted: the decider refuses it, and the
handler's atomic batch (CalendarReferenced) keeps a racing delete from orphaning a schedule."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from jetcron import subjects
from jetcron.domain.calendar import CalendarDefinition
from jetcron.domain.commands import (
    CreateCalendar,
    CreateSchedule,
    DeleteCalendar,
    DeleteSchedule,
    UpdateSchedule,
)
from jetcron.domain.definition import DefinitionPatch, Job, ScheduleDefinition
from jetcron.domain.envelope import StoredEvent
from jetcron.domain.errors import CalendarNotFound, CommandRejected
from jetcron.domain.events import CalendarCreated, CalendarDeleted, CalendarReferenced
from jetcron.log.stream import EventLog
from jetcron.scheduler import calendars
from jetcron.scheduler.handler import CommandHandler, Request

NOW = datetime(2026, 12, 20, 12, 0, tzinfo=UTC)
MAINT = CalendarDefinition(windows=["0 2 * * sun for 4h"])


def meta(name: str, cid: str) -> dict[str, object]:
    return {"name": name, "command_id": cid, "at": NOW, "actor": "alice"}


def add_cal(name: str = "maint", cid: str = "c1") -> CreateCalendar:
    return CreateCalendar(**meta(name, cid), definition=MAINT)  # type: ignore[arg-type]


def delete_cal(cid: str = "d1") -> DeleteCalendar:
    return DeleteCalendar(**meta("maint", cid))  # type: ignore[arg-type]


def add_schedule(name: str, cid: str, **uses: list[str]) -> CreateSchedule:
    d = ScheduleDefinition(spec="0 3 * * *", job=Job(command=["true"]), **uses)  # type: ignore[arg-type]
    return CreateSchedule(**meta(name, cid), definition=d)  # type: ignore[arg-type]


# -- the pure decider ---------------------------------------------------------------------


def test_the_decider_refuses_a_delete_while_schedules_name_the_calendar() -> None:
    state = calendars.fold([CalendarCreated(name="maint", version=1, definition=MAINT)])
    users = {"backup": "exclude", "report": "only_within"}
    with pytest.raises(
        CommandRejected, match=r"used by backup \(exclude\), report \(only_within\)"
    ):
        calendars.decide_calendar(state, delete_cal(), users)
    assert calendars.decide_calendar(state, delete_cal(), {}) == [
        CalendarDeleted(name="maint", version=2)
    ]


def test_a_refusal_names_ten_users_and_counts_the_rest() -> None:
    state = calendars.fold([CalendarCreated(name="maint", version=1, definition=MAINT)])
    users = {f"s{i:02}": "exclude" for i in range(25)}
    with pytest.raises(CommandRejected) as err:
        calendars.decide_calendar(state, delete_cal(), users)
    assert "s09 (exclude) and 15 more (jetcron calendar show maint)" in str(err.value)
    assert "s10" not in str(err.value)


def test_a_missing_calendar_is_not_found() -> None:
    with pytest.raises(CalendarNotFound, match="calendar 'maint' not found") as err:
        calendars.decide_calendar(calendars.INITIAL, delete_cal(), {})
    assert isinstance(err.value, LookupError) and err.value.name == "maint"


# -- the handler, against a real nats-server ----------------------------------------------


async def test_a_raw_delete_is_refused_until_no_schedule_names_the_calendar(event_log) -> None:
    h = CommandHandler(event_log)
    await h.handle(add_cal())
    await h.handle(add_schedule("backup", "s1", exclude=["maint"]))
    await h.handle(add_schedule("report", "s2", only_within=["maint"]))
    with pytest.raises(
        CommandRejected, match=r"used by backup \(exclude\), report \(only_within\)"
    ):
        await h.handle(delete_cal("d1"))
    patch = DefinitionPatch(exclude=[])
    await h.handle(UpdateSchedule(**meta("backup", "u1"), patch=patch))  # type: ignore[arg-type]
    await h.handle(DeleteSchedule(**meta("report", "x1")))  # type: ignore[arg-type]
    [deleted] = await h.handle(delete_cal("d2"))
    assert isinstance(deleted.event, CalendarDeleted)


async def test_naming_a_calendar_records_a_reference_on_its_subject_once(event_log) -> None:
    h = CommandHandler(event_log)
    await h.handle(add_cal())
    await h.handle(add_schedule("backup", "s1", exclude=["maint"]))
    again = DefinitionPatch(description="still excluding maint")
    await h.handle(UpdateSchedule(**meta("backup", "u1"), patch=again))  # type: ignore[arg-type]
    history, _ = await event_log.load(subjects.calendar("maint"))
    refs = [e.event for e in history if isinstance(e.event, CalendarReferenced)]
    assert refs == [CalendarReferenced(name="maint", schedule="backup")]
    assert calendars.fold(e.event for e in history).version == 1  # why: no calendar change


class _DeleteRacesAhead(CommandHandler):
    """A handler whose delete reads the users, then lets a schedule naming the calendar in."""

    def __init__(self, event_log: EventLog, other: CommandHandler) -> None:
        super().__init__(event_log)
        self.other, self.raced = other, False

    async def _users(self, command: Request, history: list[StoredEvent]) -> dict[str, str] | None:
        users = await super()._users(command, history)
        if not self.raced:
            self.raced = True
            await self.other.handle(add_schedule("late", "s9", exclude=["maint"]))
        return users


async def test_a_schedule_naming_the_calendar_during_a_delete_makes_the_delete_refused(
    event_log,
) -> None:
    other = CommandHandler(event_log)
    await other.handle(add_cal())
    racer = _DeleteRacesAhead(event_log, other)
    with pytest.raises(CommandRejected, match=r"used by late \(exclude\)"):
        await racer.handle(delete_cal())
    assert racer.raced
    history, _ = await event_log.load(subjects.calendar("maint"))
    assert not any(isinstance(e.event, CalendarDeleted) for e in history)


class _ScheduleRacesBehind(CommandHandler):
    """A handler whose schedule create checks the calendar, then lets a delete of it in."""

    def __init__(self, event_log: EventLog, other: CommandHandler) -> None:
        super().__init__(event_log)
        self.other, self.raced = other, False

    async def _references(self, history, event):  # type: ignore[no-untyped-def]
        refs = await super()._references(history, event)
        if not self.raced:
            self.raced = True
            await self.other.handle(delete_cal())
        return refs


async def test_a_delete_during_a_schedule_create_makes_the_create_refused(event_log) -> None:
    other = CommandHandler(event_log)
    await other.handle(add_cal())
    racer = _ScheduleRacesBehind(event_log, other)
    with pytest.raises(CommandRejected, match="unknown calendar 'maint'"):
        await racer.handle(add_schedule("late", "s9", exclude=["maint"]))
    assert racer.raced
    history, _ = await event_log.load(subjects.schedule("late"))
    assert history == []  # why: the atomic batch stored neither the schedule nor the reference
