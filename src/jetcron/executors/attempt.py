"""The pure core of one run before an attempt: who it is, its history, its gates, admission.

No I/O here: the agent loads the run subject, asks these functions what to do, and
appends what they return. Time arrives as an argument. How an attempt ended: results.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import msgspec

from jetcron import subjects
from jetcron.clock import iso_z
from jetcron.domain.claims import accepted
from jetcron.domain.definition import PAUSED_UNSTARTED, Conditions, pause_stops
from jetcron.domain.envelope import StoredEvent
from jetcron.domain.events import (
    RunCancelled,
    RunCancelRequested,
    RunDeferred,
    RunFailed,
    RunLost,
    RunStarted,
    RunSucceeded,
    RunTimedOut,
    RunTriggered,
    ScheduleCreated,
    ScheduleDeleted,
    SchedulePaused,
    ScheduleResumed,
)
from jetcron.domain.runs import cancel_reason, member_run_id
from jetcron.executors.admission import Verdict, defer_delay

RETRY_EARLY_TOLERANCE_S = 1.0
"""A redelivery this close to `next_retry_at` runs now (clocks of two hosts differ a little)."""


class RunRef(msgspec.Struct, frozen=True, kw_only=True):
    """Which run an executor is working on: the fields every event of it carries."""

    schedule_id: str
    name: str
    fire_id: str
    fire_time: datetime
    run_id: str
    """This executor's run id (the trigger's, suffixed with the executor for fan-out)."""
    trigger_run_id: str
    executor: str
    target: str = ""
    """The target the trigger came on (part of the subject we may write the run's events on)."""

    @property
    def subject(self) -> str:
        """Where this executor appends the run's events (its name and target in the subject)."""
        return subjects.run_by(self.name, self.run_id, self.target, self.executor)

    @property
    def checked_subject(self) -> str:
        """The subjects a claim's CAS covers: every writer's events of this run."""
        return subjects.run_events(self.name, self.run_id)[0]

    def fields(self, attempt: int) -> dict[str, Any]:
        """Keyword arguments shared by every run event of this run."""
        return {
            "schedule_id": self.schedule_id,
            "name": self.name,
            "fire_id": self.fire_id,
            "fire_time": self.fire_time,
            "run_id": self.run_id,
            "executor": self.executor,
            "attempt": attempt,
        }


def run_ref(trigger: RunTriggered, executor: str, *, fanout: bool) -> RunRef:
    """The run an executor makes of a trigger; fan-out members each get their own run id."""
    run_id = member_run_id(trigger.run_id, subjects.token(executor)) if fanout else trigger.run_id
    return RunRef(
        schedule_id=trigger.schedule_id,
        name=trigger.name,
        fire_id=trigger.fire_id,
        fire_time=trigger.fire_time,
        run_id=run_id,
        trigger_run_id=trigger.run_id,
        executor=executor,
        target=trigger.target,
    )


def run_vars(ref: RunRef, attempt: int) -> dict[str, str]:
    """The JETCRON_* variables a command sees."""
    return {
        "JETCRON_RUN_ID": ref.run_id,
        "JETCRON_SCHEDULE": ref.name,
        "JETCRON_FIRE_TIME": iso_z(ref.fire_time),
        "JETCRON_ATTEMPT": str(attempt),
        "JETCRON_EXECUTOR": ref.executor,
    }


# -- history -----------------------------------------------------------------------------------


class RunHistory(msgspec.Struct, kw_only=True):
    """What the log says about a run, as far as starting another attempt is concerned."""

    started: int = 0
    """RunStarted events: the next attempt is numbered started + 1."""
    failures: int = 0
    """Attempts that failed and asked for a retry: they use up the retry budget."""
    finished: bool = False
    cancel_reason: str | None = None
    deferrals: int = 0
    """RunDeferred since the last RunStarted."""
    first_deferral_at: datetime | None = None
    not_before: datetime | None = None
    """`next_retry_at` of the last failure, if no attempt started since."""
    last_seq: int = 0
    """The run subject's last sequence as read: starting an attempt appends with this CAS."""
    started_by: str = ""
    """The executor of the last RunStarted."""
    started_at: datetime | None = None
    """When the last attempt started (its executor's clock)."""
    recorded: int = 0
    """The latest attempt whose failure or time-out is stored (0: none): a retrying one
    leaves the run not `finished`, and must not be stored twice."""

    @property
    def attempt(self) -> int:
        """The number of the next attempt."""
        return self.started + 1

    @property
    def tries(self) -> int:
        """Which try of the retry budget the next attempt is (handed-back or lost ones are free)."""
        return self.failures + 1


def summarize(events: Sequence[StoredEvent], trigger: RunTriggered | None = None) -> RunHistory:
    """Fold a run's events into a RunHistory (what its claims reject left out: domain/claims)."""
    h = RunHistory()
    for stored in accepted(events, trigger):
        event = stored.envelope.event
        if isinstance(event, RunStarted):
            h.started += 1
            h.deferrals, h.first_deferral_at, h.not_before = 0, None, None
            h.started_by, h.started_at = event.executor, stored.envelope.at
        elif isinstance(event, RunDeferred):
            h.deferrals += 1
            h.first_deferral_at = h.first_deferral_at or stored.envelope.at
        elif isinstance(event, RunFailed | RunTimedOut):
            h.recorded = max(h.recorded, event.attempt)
            if event.next_retry_at is None:
                h.finished = True
            else:
                h.failures += 1
                h.not_before = event.next_retry_at
        elif isinstance(event, RunSucceeded | RunCancelled | RunLost):
            h.finished = True
        elif isinstance(event, RunCancelRequested):
            h.cancel_reason = cancel_reason(event.reason)
    return h


# -- gates before an attempt -------------------------------------------------------------------


class Finished(msgspec.Struct, frozen=True):
    """The run already ended: ack, never run twice."""


class CancelNow(msgspec.Struct, frozen=True):
    """A cancel was requested before this attempt started."""

    reason: str


class NotYet(msgspec.Struct, frozen=True):
    """Redelivered before its retry time (a lost nak): hand it back for `delay_s`."""

    delay_s: float


class Go(msgspec.Struct, frozen=True):
    """Start the next attempt (after admission, if the trigger has conditions)."""


def gate(history: RunHistory, now: datetime) -> Finished | CancelNow | NotYet | Go:
    """Whether a delivered trigger may start its next attempt."""
    if history.finished:
        return Finished()
    if history.cancel_reason is not None:
        return CancelNow(history.cancel_reason)
    if history.not_before is not None:
        wait = (history.not_before - now).total_seconds()
        # why: the retry nak was lost (executor died after storing the failure); keep the backoff.
        if wait > RETRY_EARLY_TOLERANCE_S:
            return NotYet(wait)
    return Go()


class LetGo(msgspec.Struct, frozen=True):
    """The attempt's job was given up by its supervisor while its executor gave no sign of life
    (stopped, frozen, stalled): no result of it is recorded, like one lost in a crash."""

    reason: str
    started: bool = True
    """False: its job never started (its supervisor died before the spawn)."""


def taken_over(history: RunHistory, attempt: int) -> str:
    """The executor that started a later attempt than `attempt` of this run ("" if none did)."""
    return history.started_by if history.started > attempt else ""


def maybe_running(history: RunHistory, redelivered: bool) -> bool:
    """Could an earlier copy of this run still be running somewhere?

    An attempt started without a result, or a redelivery with nothing in the log at all
    (its RunStarted may not have made it while NATS was away). A retry after a recorded
    failure, or after a deferral, has nobody running it.
    """
    if history.started > history.failures:
        return True
    return redelivered and history.started == 0 and history.deferrals == 0


class Peer(msgspec.Struct, frozen=True):
    """What a heartbeat says about one other executor."""

    name: str
    seen_at: datetime
    """When its last beat was stored (server clock)."""
    taken_at: datetime
    """When that beat's list of running runs was taken (its own clock, like its RunStarted)."""
    running: frozenset[str]
    fresh: bool
    """Its last beat is recent enough (HOLDER_FRESH_INTERVALS of its interval)."""


def hold_off(
    run_id: str,
    history: RunHistory,
    peers: Sequence[Peer],
    now: datetime,
    *,
    me: str,
    safe_s: float,
) -> float:
    """Seconds to wait before an earlier attempt of this run can no longer be running; 0: go.

    - a peer whose fresh heartbeat lists the run holds it: wait;
    - the executor of the last attempt took a beat after that start without listing the run:
      it let go (it finished, handed back or abandoned the job): go;
    - otherwise that executor may just not have beaten yet, or have died a moment ago, with its
      job still under its supervisor (stopped within ORPHAN+GRACE shares of ack_wait of its
      death): wait until `safe_s` after the later of the start and its last beat.
    """
    if any(p.fresh and run_id in p.running for p in peers):
        return safe_s
    if not history.started_by or history.started_at is None or history.started_by == me:
        return 0.0  # why: our own earlier attempt: our journal says whether we still hold it
    owner = next((p for p in peers if p.name == history.started_by), None)
    if owner is not None and owner.fresh and owner.taken_at > history.started_at:
        return 0.0
    since = max(history.started_at, owner.seen_at if owner is not None else history.started_at)
    return max(0.0, safe_s - (now - since).total_seconds())


def schedule_stop(trigger: RunTriggered, lifecycle: Sequence[StoredEvent]) -> str | None:
    """Why a trigger must not start given its schedule's events (all, or the last one); else None.

    A deleted schedule (or one deleted and created again: another schedule id) runs nothing
    more; a paused one starts no clock trigger not yet started (a manual one still runs:
    definition.pause_stops, the rule the ticker applies to fires undecided at the pause).
    """
    status: str | None = None
    others = False
    for stored in lifecycle:
        event = stored.envelope.event
        if getattr(event, "schedule_id", None) != trigger.schedule_id:
            others = True
            continue
        match event:
            case ScheduleCreated() | ScheduleResumed():
                status = "active"
            case SchedulePaused():
                status = "paused"
            case ScheduleDeleted():
                status = "deleted"
    if status == "deleted" or (status is None and others):
        return "schedule deleted"
    if status == "paused" and pause_stops(trigger.forced):
        return PAUSED_UNSTARTED
    return None


class Admit(msgspec.Struct, frozen=True):
    """Run now; `forced` when the deferral expired with on_expire=force."""

    forced: bool = False
    reason: str = ""


class Defer(msgspec.Struct, frozen=True, kw_only=True):
    """Over a threshold: record a deferral and look again after `delay_s`."""

    reason: str
    pressure: float
    deferrals: int
    delay_s: float
    next_attempt_at: datetime


class Expire(msgspec.Struct, frozen=True):
    """Deferred longer than max_defer_s with on_expire=skip: cancel the run."""

    reason: str


def admit(
    history: RunHistory, conditions: Conditions, verdict: Verdict, now: datetime, *, base_s: float
) -> Admit | Defer | Expire:
    """What to do with an attempt given the host's admission verdict."""
    if verdict.ok:
        return Admit()
    waited = (
        0.0
        if history.first_deferral_at is None
        else (now - history.first_deferral_at).total_seconds()
    )
    if history.first_deferral_at is not None and waited >= conditions.max_defer_s:
        limit = conditions.max_defer_s
        reason = f"deferred too long: {waited:.1f}s > max_defer_s {limit:g}s ({verdict.reason})"
        return (
            Expire(reason) if conditions.on_expire == "skip" else Admit(forced=True, reason=reason)
        )
    delay = defer_delay(base_s, verdict.pressure, history.deferrals)
    # why: look again when the deferral would expire rather than overshoot it by a backoff step.
    delay = max(0.05, min(delay, conditions.max_defer_s - waited))
    return Defer(
        reason=verdict.reason,
        pressure=verdict.pressure,
        deferrals=history.deferrals + 1,
        delay_s=delay,
        next_attempt_at=now + timedelta(seconds=delay),
    )


def deferred_event(ref: RunRef, attempt: int, defer: Defer) -> RunDeferred:
    """The RunDeferred event of a Defer decision."""
    return RunDeferred(
        **ref.fields(attempt),
        reason=defer.reason,
        pressure=defer.pressure,
        deferrals=defer.deferrals,
        next_attempt_at=defer.next_attempt_at,
    )
