"""Every event in the log: frozen msgspec Structs in one tagged union, wrapped in an envelope.

Tags are explicit and stable (`schedule.created`); stored events live forever, so a
tag is never renamed or reused, and fields are only added, always with defaults.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Literal

import msgspec

from jetcron import subjects
from jetcron.domain.calendar import OPERATOR_SKIP, CalendarDefinition
from jetcron.domain.definition import (
    CatchUp,
    Conditions,
    Job,
    Overlap,
    RetryPolicy,
    ScheduleDefinition,
)
from jetcron.domain.digest import Digest
from jetcron.domain.notifications import Notification

log = logging.getLogger(__name__)


class Event(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", omit_defaults=True, gc=False
):
    """Base of all events."""


# -- schedule lifecycle: subject jetcron.sched.<name> ------------------------------------


class ScheduleEvent(Event, frozen=True, kw_only=True):
    """An event of the schedule aggregate; `version` is the version it produces."""

    schedule_id: str
    name: str
    version: int


class ScheduleCreated(ScheduleEvent, frozen=True, kw_only=True, tag="schedule.created"):
    definition: ScheduleDefinition


class ScheduleUpdated(ScheduleEvent, frozen=True, kw_only=True, tag="schedule.updated"):
    definition: ScheduleDefinition
    changed: list[str] = []
    reopens: bool = True
    """Whether this update reopens a completed schedule (the decider's `reopens`: the change may
    give it fires again); meaningless for a schedule that is not completed.

    why the default True: every update stored before this field reopened a completed schedule,
    and a replay must fold the history as it was decided."""


ScheduleStatus = Literal["absent", "active", "paused", "completed", "deleted"]
"""Where a schedule stands in its lifecycle."""


def status_after_update(status: ScheduleStatus, reopens: bool = True) -> ScheduleStatus:
    """An update keeps the schedule's status (a paused one stays paused, a completed one stays
    completed), except that it reopens a completed one when the decider found the change may
    give it fires again (`ScheduleUpdated.reopens`: a new spec, zone, start or end, or a higher
    run limit, with a fire left). The one rule for the aggregate (scheduler/decider.py), the
    schedules view, the ticker and the fire ledger's lifecycle (projections/fates.py)."""
    return "active" if status == "completed" and reopens else status


class SchedulePaused(ScheduleEvent, frozen=True, kw_only=True, tag="schedule.paused"):
    reason: str = ""
    by_system: bool = False
    """Paused by jetcron itself (the circuit breaker), not by an operator."""
    resume_at: datetime | None = None


class ScheduleResumed(ScheduleEvent, frozen=True, kw_only=True, tag="schedule.resumed"):
    pass


class ScheduleCompleted(ScheduleEvent, frozen=True, kw_only=True, tag="schedule.completed"):
    reason: str = ""


class ScheduleDeleted(ScheduleEvent, frozen=True, kw_only=True, tag="schedule.deleted"):
    pass


class FireSkipPlanned(ScheduleEvent, frozen=True, kw_only=True, tag="schedule.fire_skip_planned"):
    """`jetcron schedule skip`: the clock fire at `fire_time` will not run (one occurrence)."""

    fire_time: datetime
    by: str = ""
    """Who asked (the command's actor)."""
    reason: str = ""

    @property
    def fate(self) -> str:
        """What the fire's fate says: 'skipped by alice: reason'."""
        who = f"{OPERATOR_SKIP}{self.by or 'an operator'}"
        return f"{who}: {self.reason}" if self.reason else who


class FireSkipCancelled(
    ScheduleEvent, frozen=True, kw_only=True, tag="schedule.fire_skip_cancelled"
):
    """`jetcron schedule unskip`: the fire at `fire_time` runs after all."""

    fire_time: datetime


# -- calendars: subject jetcron.cal.<name> (never ages) ----------------------------------


class CalendarEvent(Event, frozen=True, kw_only=True):
    """An event of a calendar aggregate; `version` is the version it produces."""

    name: str
    version: int


class CalendarCreated(CalendarEvent, frozen=True, kw_only=True, tag="calendar.created"):
    definition: CalendarDefinition


class CalendarUpdated(CalendarEvent, frozen=True, kw_only=True, tag="calendar.updated"):
    definition: CalendarDefinition
    changed: list[str] = []


class CalendarDeleted(CalendarEvent, frozen=True, kw_only=True, tag="calendar.deleted"):
    pass


class CalendarReferenced(Event, frozen=True, kw_only=True, tag="calendar.referenced"):
    """A schedule began to name this calendar (exclude or only-within); no change of the calendar.

    Stored on the calendar's subject in the same atomic batch as the schedule's change, under
    that subject's expected sequence: a delete of the calendar racing it conflicts and is
    decided again (and then refused), or the schedule's change conflicts and finds it deleted.
    """

    name: str
    schedule: str


# -- fires and runs ----------------------------------------------------------------------


class FireEvent(Event, frozen=True, kw_only=True):
    """Something that happened to one nominal fire of a schedule."""

    schedule_id: str
    name: str
    fire_id: str
    fire_time: datetime
    """Nominal fire time (UTC), before jitter."""


class RunTriggered(FireEvent, frozen=True, kw_only=True, tag="run.triggered"):
    """A due fire handed to executors; subject jetcron.trigger.<target>."""

    run_id: str
    version: int
    target: str
    job: Job
    timeout_s: float | None = None
    retry: RetryPolicy = RetryPolicy()
    conditions: Conditions | None = None
    manual: bool = False
    """Forced by an operator (`jetcron schedule trigger`), not by the clock."""
    backfill_of: str = ""
    """A backfill (`jetcron schedule backfill`): the slot it runs (ids.slot_id), else ""."""
    catchup: CatchUp | None = None
    """A clock fire: the schedule's catch-up policy, which an executor that takes it late
    applies for itself (executors/catchup.py); None on forced runs, and on older triggers
    (before 0.2.0 only fan-out triggers carried it)."""
    overlap: Overlap | None = None
    """A clock fire: the schedule's overlap policy (`allow`: an executor behind runs each)."""

    @property
    def forced(self) -> bool:
        """Sent by an operator (manual or backfill), not by the clock's ticker."""
        return self.manual or bool(self.backfill_of)


def run_triggered(
    d: ScheduleDefinition,
    *,
    schedule_id: str,
    name: str,
    version: int,
    fire_id: str,
    fire_time: datetime,
    run_id: str,
    manual: bool = False,
    backfill_of: str = "",
) -> RunTriggered:
    """The trigger of a run of definition `d`: what a run carries from its schedule, one rule
    for the ticker's fires and an operator's manual runs and backfills."""
    # why: an executor that takes a clock fire late applies the catch-up policy itself
    # (executors/catchup.py); a forced run ignores it
    late_rules = not (manual or backfill_of)
    return RunTriggered(
        schedule_id=schedule_id,
        name=name,
        fire_id=fire_id,
        fire_time=fire_time,
        run_id=run_id,
        version=version,
        target=d.target,
        job=d.job,
        timeout_s=d.timeout_s,
        retry=d.retry,
        conditions=d.conditions,
        manual=manual,
        backfill_of=backfill_of,
        catchup=d.catchup if late_rules else None,
        overlap=d.overlap if late_rules else None,
    )


class FireMissed(FireEvent, frozen=True, kw_only=True, tag="fire.missed"):
    """A fire that was due while no ticker ran and that the catch-up policy did not run."""

    reason: str


class RunSkipped(FireEvent, frozen=True, kw_only=True, tag="fire.skipped"):
    """A fire not run, e.g. because the previous run was still going (overlap)."""

    reason: str
    blocking_run_id: str | None = None


class FireBuffered(FireEvent, frozen=True, kw_only=True, tag="fire.buffered"):
    """Overlap buffer_one: this fire waits for the run in flight to end."""

    blocking_run_id: str | None = None


class RunCancelRequested(Event, frozen=True, kw_only=True, tag="run.cancel_requested"):
    """Overlap cancel_previous (or an operator) asked the executor to stop this run."""

    schedule_id: str
    name: str
    run_id: str
    reason: str = ""


class RunEvent(FireEvent, frozen=True, kw_only=True):
    """An event of one run; subject jetcron.run.<name>.<run_id>.<target>.<executor> (subjects.py)."""

    run_id: str
    executor: str = ""
    attempt: int = 1


class RunOutput(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """Captured output, capped on the executor."""

    stdout: str = ""
    stderr: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    stdout_size: int = 0
    """Bytes the job wrote to stdout in all (0: not recorded, or nothing written)."""
    stderr_size: int = 0


class RunStarted(RunEvent, frozen=True, kw_only=True, tag="run.started"):
    pid: int | None = None
    host_time: datetime | None = None


class RunSucceeded(RunEvent, frozen=True, kw_only=True, tag="run.succeeded"):
    exit_code: int | None = 0
    duration_s: float = 0.0
    output: RunOutput = RunOutput()
    result: Any = None
    """What an action returned, if anything."""
    ended_at: datetime | None = None
    """When the job ended, on the executor's clock, if the result was stored later (from the
    journal after a restart, held through a NATS outage); None: at the envelope's time."""


class RunFailed(RunEvent, frozen=True, kw_only=True, tag="run.failed"):
    exit_code: int | None = None
    failure_class: str = "transient"
    error: str = ""
    duration_s: float = 0.0
    output: RunOutput = RunOutput()
    next_retry_at: datetime | None = None
    """Set when another attempt follows; None means this failure is final."""
    ended_at: datetime | None = None
    """When the job ended, on the executor's clock, if the result was stored later (from the
    journal after a restart, held through a NATS outage); None: at the envelope's time."""


class RunTimedOut(RunEvent, frozen=True, kw_only=True, tag="run.timed_out"):
    timeout_s: float = 0.0
    duration_s: float = 0.0
    output: RunOutput = RunOutput()
    next_retry_at: datetime | None = None
    ended_at: datetime | None = None
    """When the job ended, on the executor's clock, if the result was stored later (from the
    journal after a restart, held through a NATS outage); None: at the envelope's time."""


class RunCancelled(RunEvent, frozen=True, kw_only=True, tag="run.cancelled"):
    reason: str = ""
    duration_s: float = 0.0
    ended_at: datetime | None = None
    """When the job ended, on the executor's clock, if the result was stored later (from the
    journal after a restart, held through a NATS outage); None: at the envelope's time."""


class RunDeferred(RunEvent, frozen=True, kw_only=True, tag="run.deferred"):
    reason: str
    pressure: float = 0.0
    deferrals: int = 1
    next_attempt_at: datetime | None = None


class RunLost(RunEvent, frozen=True, kw_only=True, tag="run.lost"):
    """No result arrived within timeout + grace: the executor is presumed dead."""

    reason: str = ""


# -- expectations: subject jetcron.expect.<name> -------------------------------------------


class ExpectationMissed(Event, frozen=True, kw_only=True, tag="expectation.missed"):
    """A schedule's expectation was not met by its deadline (appended once per deadline)."""

    schedule_id: str
    name: str
    kind: str
    """success_within or done_by."""
    deadline: datetime
    after: datetime
    """A run that succeeds after this instant meets the expectation again."""
    cause: str
    """From the fire ledger: never_triggered, failed, still_running, skipped, paused, missed,
    cancelled."""
    detail: str = ""
    fire_time: datetime | None = None
    """The fire the cause was found at, if any."""
    run_id: str = ""


class ExpectationMet(Event, frozen=True, kw_only=True, tag="expectation.met"):
    """The run that succeeded after a missed expectation."""

    schedule_id: str
    name: str
    kind: str
    deadline: datetime
    """The deadline of the miss this resolves."""
    run_id: str = ""


# -- executors: subject jetcron.host.<executor> -------------------------------------------


class ExecutorOffline(Event, frozen=True, kw_only=True, tag="executor.offline"):
    """An executor's heartbeat expired (it stopped, died, or lost NATS)."""

    name: str


class ExecutorOnline(Event, frozen=True, kw_only=True, tag="executor.online"):
    """An executor's heartbeat appeared (first start, or back after being offline)."""

    name: str
    tags: list[str] | None = None
    """Its tags (the fan-out groups it belongs to) as its heartbeat said; None: not recorded."""


# -- notifications: sinks on jetcron.notify.<n>, deliveries on jetcron.delivery.<n>.<seq> ----


class NotificationAdded(Event, frozen=True, kw_only=True, tag="notify.added"):
    name: str
    notification: Notification


class NotificationRemoved(Event, frozen=True, kw_only=True, tag="notify.removed"):
    name: str


class NotifyTest(Event, frozen=True, kw_only=True, tag="notify.test"):
    """`jetcron notify test NAME`: the leader sends one test message to this sink."""

    name: str


class NotifyDelivered(Event, frozen=True, kw_only=True, tag="notify.delivered"):
    """The ledger of deliveries: notification `name` sent the event at `event_seq`."""

    name: str
    event_seq: int
    kind: str
    schedule: str = ""
    delivery_id: str = ""
    attempts: int = 1
    grouped: int = 1
    """Events the message carried (a storm grouped into one message)."""


class NotifyFailed(Event, frozen=True, kw_only=True, tag="notify.failed"):
    """A delivery attempt of notification `name` failed; `final` when no retry follows."""

    name: str
    event_seq: int
    kind: str
    schedule: str = ""
    error: str = ""
    attempts: int = 1
    final: bool = False


# -- statistics kept beyond the retention: subject jetcron.stats.<name> ---------------------


class StatsRolledUp(Event, frozen=True, kw_only=True, tag="stats.rolled_up"):
    """One schedule's runs of one UTC day (by fire time), summarised; never ages out."""

    schedule_id: str
    name: str
    day: str
    """The UTC day of the runs' fire times, `YYYY-MM-DD`."""
    digest: Digest


# -- operators' acknowledgements: subject jetcron.ops.<what> (never ages) ---------------------


class HealthAcknowledged(Event, frozen=True, kw_only=True, tag="health.acknowledged"):
    """`jetcron health --ack`: the unreadable and rejected events folded before this one are
    known to an operator; `health` stops listing them (they stay in the log and the totals)."""

    name: str = "health"
    """What was acknowledged (every event has a name; it is the subject's last token)."""


AnyEvent = (
    ScheduleCreated
    | ScheduleUpdated
    | SchedulePaused
    | ScheduleResumed
    | ScheduleCompleted
    | ScheduleDeleted
    | FireSkipPlanned
    | FireSkipCancelled
    | CalendarCreated
    | CalendarUpdated
    | CalendarDeleted
    | CalendarReferenced
    | RunTriggered
    | FireMissed
    | RunSkipped
    | FireBuffered
    | RunCancelRequested
    | RunStarted
    | RunSucceeded
    | RunFailed
    | RunTimedOut
    | RunCancelled
    | RunDeferred
    | RunLost
    | ExpectationMissed
    | ExpectationMet
    | ExecutorOffline
    | ExecutorOnline
    | NotificationAdded
    | NotificationRemoved
    | NotifyTest
    | NotifyDelivered
    | NotifyFailed
    | StatsRolledUp
    | HealthAcknowledged
)

FINISHED_RUN_EVENTS = (RunSucceeded, RunCancelled, RunLost)
"""Run events after which no other attempt follows (failures depend on next_retry_at)."""


def is_final(event: Event) -> bool:
    """True if this event ends its run (no further attempt will happen)."""
    if isinstance(event, FINISHED_RUN_EVENTS):
        return True
    if isinstance(event, RunFailed | RunTimedOut):
        return event.next_retry_at is None
    return False


def cancel_reason(asked: str) -> str:
    """The reason a cancelled run records for an operator's cancel that gave `asked`."""
    return f"cancel requested: {asked}" if asked else "cancel requested"


def between_attempts(events: Iterable[Event]) -> RunFailed | RunTimedOut | RunDeferred | None:
    """The last word of a run that nobody runs now because it waits: for its retry after a
    failure or time-out, or after a deferral. None if an attempt runs, the run ended, or it
    has no word yet (its trigger may be in an executor's hands)."""
    waiting: RunFailed | RunTimedOut | RunDeferred | None = None
    for event in events:
        if is_final(event):
            return None
        if isinstance(event, RunStarted):
            waiting = None
        elif isinstance(event, RunFailed | RunTimedOut | RunDeferred):
            waiting = event
    return waiting


RunStatus = Literal[
    "triggered",
    "deferred",
    "running",
    "retrying",
    "succeeded",
    "failed",
    "timed_out",
    "cancelled",
    "lost",
    "skipped",
    "fanned_out",
]
"""Where a run stands after its events so far (a skipped fire counts as a skipped run; a
fan-out trigger is `fanned_out`: not a run itself, its members `<run id>-<executor>` are)."""
IN_FLIGHT: frozenset[RunStatus] = frozenset({"triggered", "running", "retrying", "deferred"})
"""Run statuses before the run's end: it has not run yet, runs, or will try again."""
FANNED_OUT: RunStatus = "fanned_out"
"""The row of a fan-out trigger (target `all:<tag>`): neither in flight nor final, no run."""


def is_fanout(target: str) -> bool:
    """True for a fan-out target (`all:<tag>`): every member runs the trigger as its own run."""
    return target.startswith(subjects.FAN_PREFIX)


def member_run_id(trigger_run_id: str, executor: str) -> str:
    """A fan-out member's run id: the trigger's, then `-` and the executor (as a subject token)."""
    return f"{trigger_run_id}-{executor}"


def fanout_parent(run_id: str) -> str:
    """The trigger's run id of a fan-out member's run id (`<run id>-<executor>`), else "".

    why: trigger run ids are hex (ids.py), so the first dash ends it; executor names may hold dashes
    """
    parent, dash, _ = run_id.partition("-")
    return parent if dash else ""


def fanout_member(run_id: str) -> str:
    """The executor part of a fan-out member's run id, else ""."""
    return run_id.partition("-")[2]


class Envelope(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """Who did what, when and why: the stored form of every event."""

    id: str
    at: datetime
    actor: str
    event: AnyEvent
    schema: int = 1
    reason: str = ""
    causation_id: str | None = None
    """The command (or event) that caused this one."""
    correlation_id: str | None = None
    on_behalf_of: str | None = None
    """The --actor an authenticated sender named (a note); `actor` is who sent it."""


class StoredEvent(msgspec.Struct, frozen=True, gc=False):
    """An envelope with its place in the log."""

    seq: int
    subject: str
    envelope: Envelope
    stored_ns: int = 0
    """Server timestamp (ns since epoch) of the append, when known."""

    @property
    def event(self) -> AnyEvent:
        """The event itself."""
        return self.envelope.event


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Envelope)
_KNOWN_TAGS = frozenset(t.__struct_config__.tag for t in AnyEvent.__args__)

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
UPCASTERS: dict[tuple[str, int], Upcaster] = {}
"""(event type, stored schema) -> reshaper to schema + 1. Empty until a payload changes meaning."""
CURRENT_SCHEMA: dict[str, int] = {}
"""Event types whose schema is above 1."""


class UnknownEvent(msgspec.Struct, frozen=True):
    """An envelope this reader cannot decode: a newer or foreign event type, or garbage."""

    type: str
    problem: str


def encode(envelope: Envelope) -> bytes:
    """The envelope as JSON bytes."""
    return _encoder.encode(envelope)


def decode(data: bytes) -> Envelope | UnknownEvent:
    """An envelope, upcast to the current schema, or UnknownEvent (never raises)."""
    try:
        envelope = _decoder.decode(data)
    except msgspec.DecodeError as err:
        return _decode_slow(data, err)
    # why: the common case (schema 1, no upcaster anywhere) without a tag lookup per event
    if (envelope.schema != 1 or CURRENT_SCHEMA) and envelope.schema != CURRENT_SCHEMA.get(
        str(envelope.event.__struct_config__.tag), 1
    ):
        return _decode_slow(data, None)
    return envelope


def _decode_slow(data: bytes, err: Exception | None) -> Envelope | UnknownEvent:
    # why: the fast path failed or met an old schema; look inside to say what it is.
    try:
        raw = msgspec.json.decode(data)
        event_type = str(raw["event"]["type"])
    except (msgspec.DecodeError, KeyError, TypeError):
        return UnknownEvent(type="?", problem=f"not a jetcron envelope: {err or 'bad JSON'}")
    if event_type not in _KNOWN_TAGS:
        return UnknownEvent(type=event_type, problem="unknown event type (newer jetcron?)")
    schema = raw.get("schema", 1)
    if not isinstance(schema, int) or isinstance(schema, bool):
        return UnknownEvent(type=event_type, problem=f"bad schema {schema!r}")
    if schema > CURRENT_SCHEMA.get(event_type, 1):
        return UnknownEvent(type=event_type, problem=f"schema {schema} is newer than this reader")
    try:
        return msgspec.convert(_upcast(raw, event_type), Envelope)
    except msgspec.ValidationError as verr:
        return UnknownEvent(type=event_type, problem=f"malformed event: {verr}")


def _upcast(raw: dict[str, Any], event_type: str) -> dict[str, Any]:
    schema = int(raw.get("schema", 1))
    while (step := UPCASTERS.get((event_type, schema))) is not None:
        raw["event"] = step(raw["event"])
        schema += 1
    raw["schema"] = schema
    return raw


def event_type(event: Event) -> str:
    """The stable tag of an event, e.g. 'schedule.created'."""
    return str(event.__struct_config__.tag)
