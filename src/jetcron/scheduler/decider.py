"""The schedule aggregate as a pure decider: decide(state, command) -> events, evolve(state, event)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import msgspec

from jetcron import ids
from jetcron.domain.commands import (
    AnyCommand,
    BackfillFire,
    CancelRun,
    CompleteSchedule,
    CreateCalendar,
    CreateSchedule,
    DeleteCalendar,
    DeleteSchedule,
    PauseSchedule,
    ResumeSchedule,
    SkipFire,
    TriggerSchedule,
    UnskipFire,
    UpdateCalendar,
    UpdateSchedule,
)
from jetcron.domain.definition import ScheduleDefinition, apply_patch, changed_fields
from jetcron.domain.envelope import AnyEvent
from jetcron.domain.errors import CommandRejected, ScheduleNotFound, VersionMismatch
from jetcron.domain.events import (
    Event,
    FireSkipCancelled,
    FireSkipPlanned,
    RunCancelRequested,
    RunTriggered,
    ScheduleCompleted,
    ScheduleCreated,
    ScheduleDeleted,
    SchedulePaused,
    ScheduleResumed,
    ScheduleStatus,
    ScheduleUpdated,
    status_after_update,
)
from jetcron.domain.fires import next_fire_within, previous_fire_within
from jetcron.domain.runs import run_triggered
from jetcron.domain.spec import normal_spec
from jetcron.domain.validation import validate_definition, validate_name

Status = ScheduleStatus


class ScheduleState(msgspec.Struct, frozen=True, kw_only=True):
    """What decide needs to know about one schedule name."""

    status: Status = "absent"
    schedule_id: str = ""
    name: str = ""
    version: int = 0
    definition: ScheduleDefinition | None = None
    paused_reason: str = ""
    paused_by_system: bool = False
    skips: frozenset[datetime] = frozenset()
    """Fire times an operator skipped (`jetcron schedule skip`)."""

    @property
    def live(self) -> bool:
        """A schedule exists under this name (not absent, not deleted)."""
        return self.status not in ("absent", "deleted")


INITIAL = ScheduleState()


def decide(state: ScheduleState, command: AnyCommand) -> list[Event]:
    """The events a command produces; [] if already satisfied; CommandRejected if invalid."""
    _check_version(state, command)
    match command:
        case CreateSchedule():
            return _create(state, command)
        case UpdateSchedule():
            return _update(_existing(state, command.name), command)
        case PauseSchedule():
            return _pause(_existing(state, command.name), command)
        case ResumeSchedule():
            return _resume(_existing(state, command.name), command)
        case DeleteSchedule():
            s = _existing(state, command.name)
            return [ScheduleDeleted(schedule_id=s.schedule_id, name=s.name, version=s.version + 1)]
        case TriggerSchedule():
            return [_manual_trigger(_existing(state, command.name), command)]
        case BackfillFire():
            return [_backfill(_existing(state, command.name), command)]
        case CompleteSchedule():
            return _complete(state, command)
        case SkipFire():
            return _skip(_existing(state, command.name), command)
        case UnskipFire():
            return _unskip(_existing(state, command.name), command)
        case CancelRun():
            # why: a run may outlive its schedule's delete (a job its executor still holds)
            s = state if state.status == "deleted" else _existing(state, command.name)
            reason = command.reason or f"cancelled by {command.actor}"
            request = RunCancelRequested(
                schedule_id=s.schedule_id, name=s.name, run_id=command.run_id, reason=reason
            )
            return [request]
        case CreateCalendar() | UpdateCalendar() | DeleteCalendar():
            # why: calendars are their own aggregate (scheduler/calendars.py); the handler routes
            raise CommandRejected("a calendar command is not decided by a schedule")


def evolve(state: ScheduleState, event: Event) -> ScheduleState:
    """The state after one event; events of other aggregates leave it unchanged."""
    replace = msgspec.structs.replace
    match event:
        case ScheduleCreated():
            return ScheduleState(
                status="active",
                schedule_id=event.schedule_id,
                name=event.name,
                version=event.version,
                definition=event.definition,
            )
        case ScheduleUpdated():
            status = status_after_update(state.status, event.reopens)
            return replace(state, definition=event.definition, version=event.version, status=status)
        case SchedulePaused():
            return replace(
                state,
                status="paused",
                version=event.version,
                paused_reason=event.reason,
                paused_by_system=event.by_system,
            )
        case ScheduleResumed():
            return replace(
                state,
                status="active",
                version=event.version,
                paused_reason="",
                paused_by_system=False,
            )
        case ScheduleCompleted():
            return replace(state, status="completed", version=event.version)
        case ScheduleDeleted():
            return replace(state, status="deleted", version=event.version)
        case FireSkipPlanned():
            return replace(state, version=event.version, skips=state.skips | {event.fire_time})
        case FireSkipCancelled():
            return replace(state, version=event.version, skips=state.skips - {event.fire_time})
        case _:
            return state


def fold(events: Iterable[AnyEvent | Event], state: ScheduleState = INITIAL) -> ScheduleState:
    """Apply events in order."""
    for event in events:
        state = evolve(state, event)
    return state


def _check_version(state: ScheduleState, command: AnyCommand) -> None:
    """VersionMismatch when the command expects another version of a live schedule."""
    expected = command.expected_version
    # why: an absent or deleted schedule is reported as not found by the command itself
    if expected is not None and state.live and state.version != expected:
        raise VersionMismatch.of(state.name, state.version, expected)


def _existing(state: ScheduleState, name: str) -> ScheduleState:
    if not state.live:
        raise ScheduleNotFound(name)
    return state


def _create(state: ScheduleState, command: CreateSchedule) -> list[Event]:
    validate_name(command.name)
    if state.live:
        raise CommandRejected(
            f"schedule {command.name!r} already exists (use `jetcron schedule update` to change it)"
        )
    definition = _fires_after(validate_definition(command.definition), command.at)
    return [
        ScheduleCreated(
            schedule_id=ids.derived_id("schedule", command.name, command.command_id),
            name=command.name,
            version=1,
            definition=definition,
        )
    ]


def _fires_after(definition: ScheduleDefinition, at: datetime) -> ScheduleDefinition:
    """The definition, or CommandRejected if it can never fire again after `at` (the command's time)."""
    if next_fire_within(definition, at) is None:
        # why: only the message needs to know whether the end is what rules the fires out
        endless = msgspec.structs.replace(definition, end=None)
        left = "left before its end" if next_fire_within(endless, at) is not None else "after now"
        raise CommandRejected(
            f"spec {definition.spec!r} ({definition.tz}) has no fire time {left}: it would never run"
        )
    return definition


def _update(state: ScheduleState, command: UpdateSchedule) -> list[Event]:
    assert state.definition is not None
    old = state.definition
    # why: nested parts are patched field by field, so `--retries` keeps the backoff
    new = validate_definition(apply_patch(old, command.patch))
    if normal_spec(old.spec) == new.spec:
        # why: an older log's spec may hold extra spaces; equal once normalised is no
        # change, and the text it was stored with stays (no spec line in the audit)
        new = msgspec.structs.replace(new, spec=old.spec)
    if _new_times(old, new):
        _fires_after(new, command.at)
    changed = changed_fields(old, new)
    if not changed:
        return []
    # why: a completed schedule stays completed unless the change may give it fires again;
    # reopened with none (a spent @at, a run limit reached) it said "active" and fired nothing
    again = state.status != "completed" or reopens(old, new, command.at)
    return [
        ScheduleUpdated(
            schedule_id=state.schedule_id,
            name=state.name,
            version=state.version + 1,
            definition=new,
            changed=changed,
            reopens=again,
        )
    ]


def _new_times(old: ScheduleDefinition, new: ScheduleDefinition) -> bool:
    """True if the fields that decide the fire times changed."""
    return (new.spec, new.tz, new.start, new.end) != (old.spec, old.tz, old.start, old.end)


def reopens(old: ScheduleDefinition, new: ScheduleDefinition, at: datetime) -> bool:
    """True if updating a completed schedule from `old` to `new` at `at` may give it fires
    again: new fire times (spec, zone, start, end) or a higher run limit (or none), and a fire
    left after `at`. The ticker completes it again if its run count still rules them out."""
    limit, was = new.max_runs, old.max_runs
    more_runs = was is not None and (limit is None or limit > was)
    if not (_new_times(old, new) or more_runs):
        return False
    return next_fire_within(new, at) is not None


def _pause(state: ScheduleState, command: PauseSchedule) -> list[Event]:
    # why: an operator pausing a breaker-paused schedule makes it theirs, so the cool-down
    # (resume only_if_system_paused) must no longer undo it.
    if state.status == "paused" and (command.by_system or not state.paused_by_system):
        return []
    if state.status == "completed":
        raise CommandRejected(f"schedule {state.name!r} is completed; nothing left to pause")
    return [
        SchedulePaused(
            schedule_id=state.schedule_id,
            name=state.name,
            version=state.version + 1,
            reason=command.reason,
            by_system=command.by_system,
            resume_at=command.resume_at,
        )
    ]


def _resume(state: ScheduleState, command: ResumeSchedule) -> list[Event]:
    if state.status == "active":
        return []
    if state.status == "completed":
        raise CommandRejected(
            f"schedule {state.name!r} is completed; give it a new spec with `jetcron schedule update`"
        )
    if command.only_if_system_paused and not state.paused_by_system:
        return []
    return [
        ScheduleResumed(schedule_id=state.schedule_id, name=state.name, version=state.version + 1)
    ]


def _complete(state: ScheduleState, command: CompleteSchedule) -> list[Event]:
    # why: the ticker may complete a schedule an operator just recreated; match the incarnation.
    if state.status not in ("active", "paused") or state.schedule_id != command.schedule_id:
        return []
    return [
        ScheduleCompleted(
            schedule_id=state.schedule_id,
            name=state.name,
            version=state.version + 1,
            reason=command.reason,
        )
    ]


def _skip(state: ScheduleState, command: SkipFire) -> list[Event]:
    fire = _future_fire(state, command.fire_time, command.at)
    if fire in state.skips:
        return []
    # why: a new version like pause: the views fold schedule events by version, once each
    skipped = FireSkipPlanned(
        schedule_id=state.schedule_id,
        name=state.name,
        version=state.version + 1,
        fire_time=fire,
        by=command.actor,
        reason=command.reason,
    )
    return [skipped]


def _unskip(state: ScheduleState, command: UnskipFire) -> list[Event]:
    fire = command.fire_time
    if fire not in state.skips:
        return []
    if fire <= command.at:
        raise CommandRejected(f"the fire at {_z(fire)} has passed; a skip can no longer be undone")
    return [
        FireSkipCancelled(
            schedule_id=state.schedule_id,
            name=state.name,
            version=state.version + 1,
            fire_time=fire,
        )
    ]


def _future_fire(state: ScheduleState, when: datetime, now: datetime) -> datetime:
    """`when` if it is a fire time of the schedule after `now`; else CommandRejected."""
    assert state.definition is not None
    d = state.definition
    if state.status == "completed":
        raise CommandRejected(f"schedule {state.name!r} is completed; it has no fires to skip")
    if when <= now:
        raise CommandRejected(f"{_z(when)} has passed; only a coming fire can be skipped")
    if next_fire_within(d, when - timedelta(microseconds=1)) == when:
        return when
    sides = (previous_fire_within(d, when), next_fire_within(d, when))
    nearest = [_z(f) for f in sides if f is not None]
    around = f"; the nearest are {' and '.join(nearest)}" if nearest else ""
    raise CommandRejected(f"{_z(when)} is not a fire time of {d.spec!r} in {d.tz}{around}")


def _z(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _manual_trigger(state: ScheduleState, command: TriggerSchedule) -> RunTriggered:
    fire = f"{state.schedule_id}:manual:{command.command_id}"
    return _forced_run(state, fire, command.at, manual=True)


def _backfill(state: ScheduleState, command: BackfillFire) -> RunTriggered:
    """A run of the past slot at `fire_time`; which slots to run is the CLI's plan (fires view)."""
    if command.fire_time > command.at:
        raise CommandRejected(
            f"{_z(command.fire_time)} has not come yet; only a past fire is backfilled"
        )
    if command.rerun < 0:
        raise CommandRejected(f"rerun must be 0 or more, not {command.rerun}")
    slot = ids.slot_id(state.schedule_id, command.fire_time)
    fire = ids.backfill_fire_id(slot, command.rerun)
    return _forced_run(state, fire, command.fire_time, backfill_of=slot)


def _forced_run(
    state: ScheduleState,
    fire: str,
    fire_time: datetime,
    *,
    manual: bool = False,
    backfill_of: str = "",
) -> RunTriggered:
    assert state.definition is not None
    return run_triggered(
        state.definition,
        schedule_id=state.schedule_id,
        name=state.name,
        version=state.version,
        fire_id=fire,
        fire_time=fire_time,
        run_id=ids.run_id_for(fire),
        manual=manual,
        backfill_of=backfill_of,
    )
