"""Commands to the schedule and notification aggregates: imperative, carrying their own id,
time and actor."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from jetcron.domain.calendar import CalendarDefinition, CalendarPatch
from jetcron.domain.definition import DefinitionPatch, ScheduleDefinition
from jetcron.domain.envelope import StoredEvent
from jetcron.domain.notifications import Notification


class Command(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="verb", forbid_unknown_fields=True
):
    """Base of all commands; `command_id` makes a retried command idempotent."""

    name: str
    command_id: str
    at: datetime
    actor: str
    reason: str = ""
    expected_version: int | None = None
    """Apply only if the schedule is at this version (HTTP If-Match); else VersionMismatch."""


class CreateSchedule(Command, frozen=True, kw_only=True, tag="create"):
    definition: ScheduleDefinition


class UpdateSchedule(Command, frozen=True, kw_only=True, tag="update"):
    patch: DefinitionPatch


class PauseSchedule(Command, frozen=True, kw_only=True, tag="pause"):
    by_system: bool = False
    resume_at: datetime | None = None


class ResumeSchedule(Command, frozen=True, kw_only=True, tag="resume"):
    only_if_system_paused: bool = False
    """For the breaker's cool-down: do not undo an operator's pause."""


class DeleteSchedule(Command, frozen=True, kw_only=True, tag="delete"):
    pass


class TriggerSchedule(Command, frozen=True, kw_only=True, tag="trigger"):
    """Run now, once, also while paused; does not resume the schedule."""


class BackfillFire(Command, frozen=True, kw_only=True, tag="backfill"):
    """Run the past fire at `fire_time` now, as a backfill of that slot (`schedule backfill`).

    `rerun` counts the backfills of the slot before this one: the run id derives from
    (schedule, slot, rerun), so the same backfill sent twice is one run and a rerun a new one.
    """

    fire_time: datetime
    rerun: int = 0


class CompleteSchedule(Command, frozen=True, kw_only=True, tag="complete"):
    """Sent by the ticker when a schedule has no fires left (an @at fired, end passed)."""

    schedule_id: str


class SkipFire(Command, frozen=True, kw_only=True, tag="skip"):
    """Do not run the clock fire at `fire_time` (a future fire time of the schedule)."""

    fire_time: datetime


class UnskipFire(Command, frozen=True, kw_only=True, tag="unskip"):
    """Run the fire at `fire_time` after all."""

    fire_time: datetime


class CancelRun(Command, frozen=True, kw_only=True, tag="cancel"):
    """Stop one run of the schedule (`jetcron runs cancel`); its executor kills the job."""

    run_id: str


class CreateCalendar(Command, frozen=True, kw_only=True, tag="calendar_add"):
    """`jetcron calendar add`: a new named calendar (`name` is the calendar's)."""

    definition: CalendarDefinition


class UpdateCalendar(Command, frozen=True, kw_only=True, tag="calendar_update"):
    patch: CalendarPatch


class DeleteCalendar(Command, frozen=True, kw_only=True, tag="calendar_delete"):
    pass


CalendarCommand = CreateCalendar | UpdateCalendar | DeleteCalendar
"""Commands to a calendar aggregate (subject jetcron.cal.<name>), not to a schedule."""

AnyCommand = (
    CreateSchedule
    | UpdateSchedule
    | PauseSchedule
    | ResumeSchedule
    | DeleteSchedule
    | TriggerSchedule
    | BackfillFire
    | CompleteSchedule
    | CancelRun
    | SkipFire
    | UnskipFire
    | CreateCalendar
    | UpdateCalendar
    | DeleteCalendar
)


# why: the verbs are one subject token (`jetcron.cmd.<user>.<verb>`), so '-' and not '.'.
class AddNotification(Command, frozen=True, kw_only=True, tag="notify-add"):
    """Add the notification `name` (`jetcron notify add`); `notification.name` is `name`."""

    notification: Notification


class UpdateNotification(Command, frozen=True, kw_only=True, tag="notify-update"):
    """Replace the live notification `name` whole (`jetcron apply`); `notification.name` is
    `name`; its delivery record stays."""

    notification: Notification


class RemoveNotification(Command, frozen=True, kw_only=True, tag="notify-remove"):
    """Remove the notification `name`; its deliveries stay in the log."""


class SendTestNotification(Command, frozen=True, kw_only=True, tag="notify-test"):
    """Have the scheduler leader send one test message through the notification `name`."""


NotificationCommand = (
    AddNotification | UpdateNotification | RemoveNotification | SendTestNotification
)
"""Commands to a notification (aggregate subject `jetcron.notify.<name>`)."""


class AcknowledgeHealth(Command, frozen=True, kw_only=True, tag="health-ack"):
    """Acknowledge the unreadable and rejected events and the offline executors `health` lists
    now (`name` is `health`)."""


Request = AnyCommand | NotificationCommand | AcknowledgeHealth
"""Every command the scheduler service takes."""

command_decoder = msgspec.json.Decoder(Request)

COMMAND_SINK_VERB = "notify-add-command"
"""The verb of a notification whose sink is a local command: a verb of its own, so roles may
deny it (a command sink runs on the scheduler's host as the scheduler's OS user)."""


def verb(command: Request) -> str:
    """The verb a command is sent under (`jetcron.cmd.<user>.<verb>`): its tag, except for a
    notification (added or updated) with a command sink."""
    if (
        isinstance(command, AddNotification | UpdateNotification)
        and command.notification.sink.command
    ):
        return COMMAND_SINK_VERB
    return str(command.__struct_config__.tag)


ReplyCode = Literal[
    "ok", "rejected", "not_found", "invalid", "conflict", "error", "stale", "withdrawn"
]


class CommandReply(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What a command request gets back."""

    ok: bool
    code: ReplyCode = "ok"
    error: str = ""
    events: list[StoredEvent] = []


reply_decoder = msgspec.json.Decoder(CommandReply)
