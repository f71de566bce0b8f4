"""Every event type in the log: frozen msgspec Structs, each tagged for the one union.

Tags are explicit and stable (`schedule.created`); stored events live forever, so a
tag is never renamed or reused, and fields are only added, always with defaults.
The union, the envelope and its codec (upcasting): envelope.py; rules over run events: runs.py;
the notification sinks' and deliveries' events: notify_events.py.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Literal

import msgspec

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
    schedules view, the ticker and the fire ledger's lifecycle (projections/lifecycle.py)."""
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
    jitter_s: float = 0.0
    """A clock fire: the delay its schedule's `--jitter` chose for it (the ticker triggers it
    at fire_time + jitter_s; domain/lateness.py counts lateness from there); 0 without jitter,
    on forced runs, and on triggers from before jetcron recorded it."""

    @property
    def forced(self) -> bool:
        """Sent by an operator (manual or backfill), not by the clock's ticker."""
        return self.manual or bool(self.backfill_of)


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
    duration_s: float | None = None
    """How long the job ran; None: not known or it never ran (e.g. its supervisor died).

    why None, not 0.0: a 0 s duration was shown and counted in the statistics for a job that
    ran 18 s. Compatible both ways: None is omitted when stored, as the old default 0.0 was, so
    an older reader reads 0.0 as before; a stored 0.0 was always such an unmeasured one."""
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
    duration_s: float | None = None
    """How long the job ran; None: not known (RunSucceeded.duration_s)."""
    output: RunOutput = RunOutput()
    next_retry_at: datetime | None = None
    """Set when another attempt follows; None means this failure is final."""
    ended_at: datetime | None = None
    """When the job ended, on the executor's clock, if the result was stored later (from the
    journal after a restart, held through a NATS outage); None: at the envelope's time."""


class RunTimedOut(RunEvent, frozen=True, kw_only=True, tag="run.timed_out"):
    timeout_s: float = 0.0
    duration_s: float | None = None
    """How long the job ran; None: not known (RunSucceeded.duration_s)."""
    output: RunOutput = RunOutput()
    next_retry_at: datetime | None = None
    ended_at: datetime | None = None
    """When the job ended, on the executor's clock, if the result was stored later (from the
    journal after a restart, held through a NATS outage); None: at the envelope's time."""


class RunCancelled(RunEvent, frozen=True, kw_only=True, tag="run.cancelled"):
    reason: str = ""
    duration_s: float | None = None
    """How long the job ran; None: not known (RunSucceeded.duration_s)."""
    ended_at: datetime | None = None
    """When the job ended, on the executor's clock, if the result was stored later (from the
    journal after a restart, held through a NATS outage); None: at the envelope's time."""


class RunDeferred(RunEvent, frozen=True, kw_only=True, tag="run.deferred"):
    reason: str
    pressure: float = 0.0
    deferrals: int = 1
    next_attempt_at: datetime | None = None


class RunHandedBack(RunEvent, frozen=True, kw_only=True, tag="run.handed_back"):
    """The attempt's job never started: its RunStarted claimed the run, then its supervisor
    died before the spawn (or its executor could not confirm the claim); the trigger was
    handed back and the next attempt runs it. Not a start: nothing of it ran."""

    reason: str = ""


class RunLost(RunEvent, frozen=True, kw_only=True, tag="run.lost"):
    """No result arrived within timeout + grace; `reason` says who had the run (lost.reason)."""

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
    """An executor's heartbeat is gone: it stopped, died, or lost NATS."""

    name: str
    stopped: bool = False
    """It removed its heartbeat itself (a graceful stop: Ctrl-C, SIGTERM, drain); False: the
    heartbeat expired (it died, hung or lost NATS), or the log could not tell."""


class ExecutorOnline(Event, frozen=True, kw_only=True, tag="executor.online"):
    """An executor's heartbeat appeared (first start, or back after being offline)."""

    name: str
    tags: list[str] | None = None
    """Its tags (the fan-out groups it belongs to) as its heartbeat said; None: not recorded."""
    ack_wait_s: float | None = None
    """Its `--ack-wait` as its heartbeat said (its supervisors stop a job 0.3 × this after it
    goes silent: projections/held.py); None: not recorded (an older executor or event)."""


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
    """`jetcron health --ack`: the unreadable and rejected events folded before this one, and
    the executors offline then, are known to an operator; `health` stops listing them (the
    events stay in the log and the totals; an executor is listed again once it comes back and
    goes away again)."""

    name: str = "health"
    """What was acknowledged (every event has a name; it is the subject's last token)."""
