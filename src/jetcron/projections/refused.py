"""Refused definitions: schedules whose latest definition in the log no reader can handle
(events.unhandled), by name, until a valid one replaces it; what `health`, `show`, `fires`
and `why` say instead of a schedule that silently never fires."""

from __future__ import annotations

import msgspec

from jetcron.domain.envelope import StoredEvent
from jetcron.domain.events import ScheduleCreated, ScheduleDeleted, ScheduleEvent, ScheduleUpdated


class Refused(msgspec.Struct, frozen=True, array_like=True):
    """The log sequence of a refused definition, and why."""

    seq: int
    problem: str


class RefusedView(msgspec.Struct, kw_only=True, gc=False):
    """Schedule name -> its refused definition (the latest one)."""

    by_name: dict[str, Refused] = {}


def refuse(view: RefusedView, name: str, seq: int, problem: str) -> None:
    """Record that the definition at `seq` for schedule `name` was refused."""
    view.by_name[name] = Refused(seq, problem)


def of(view: RefusedView, name: str) -> Refused | None:
    """The refused definition of `name`, if its latest one was refused."""
    return view.by_name.get(name)


def explain(name: str, refused: Refused, *, exists: bool) -> str:
    """One line: why this schedule does not fire (or fires by an earlier definition)."""
    stands = (
        "it fires by its previous definition: update it with valid values"
        if exists
        else "the schedule does not exist and never fires: add it again with valid values"
    )
    return f"schedule {name!r}: {refused.problem} at log seq {refused.seq}, so it was refused; {stands}"


def _replaced(view: RefusedView, event: ScheduleEvent, stored: StoredEvent) -> None:
    # why: a valid definition (or the deletion) after the refused one is what stands now
    if view.by_name:
        view.by_name.pop(event.name, None)


HANDLERS = {
    ScheduleCreated: _replaced,
    ScheduleUpdated: _replaced,
    ScheduleDeleted: _replaced,
}
