"""Event factories for projection tests: a History assigns seq, time and ids as you add events."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from jetcron import ids
from jetcron.domain.definition import Job, ScheduleDefinition
from jetcron.domain.envelope import AnyEvent, Envelope, StoredEvent
from jetcron.domain.events import (
    FireMissed,
    RunCancelled,
    RunCancelRequested,
    RunDeferred,
    RunFailed,
    RunLost,
    RunSkipped,
    RunStarted,
    RunSucceeded,
    RunTimedOut,
    RunTriggered,
    ScheduleCompleted,
    ScheduleCreated,
    ScheduleDeleted,
    SchedulePaused,
    ScheduleResumed,
    ScheduleUpdated,
)
from jetcron.projections import state

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def definition(spec: str = "*/5 * * * *", **fields: Any) -> ScheduleDefinition:
    """A definition running `echo hi` unless told otherwise."""
    fields.setdefault("job", Job(command=["echo", "hi"]))
    return ScheduleDefinition(spec=spec, **fields)


class _Schedule(msgspec.Struct):
    schedule_id: str
    version: int
    definition: ScheduleDefinition


class History:
    """A valid event log built step by step; every event advances the clock by `step`."""

    def __init__(self, start: datetime = T0, step: timedelta = timedelta(seconds=1)) -> None:
        self.events: list[StoredEvent] = []
        self.now = start
        self.step = step
        self.schedules: dict[str, _Schedule] = {}
        self.triggers: dict[str, RunTriggered] = {}
        self._incarnations = 0

    # -- plumbing ---------------------------------------------------------------------

    def add(self, event: AnyEvent, *, actor: str = "alice", reason: str = "") -> StoredEvent:
        """Append one event (as the next seq, at the current time) and return it."""
        self.now += self.step
        seq = len(self.events) + 1
        env = Envelope(id=f"e{seq}", at=self.now, actor=actor, event=event, reason=reason)
        stored = StoredEvent(seq=seq, subject="jetcron.test", envelope=env)
        self.events.append(stored)
        return stored

    def next_at(self) -> datetime:
        """The time the next event will carry."""
        return self.now + self.step

    def tick(self, delta: timedelta) -> None:
        """Let time pass."""
        self.now += delta

    def sid(self, name: str) -> str:
        """The schedule_id of the live schedule with this name."""
        return self.schedules[name].schedule_id

    # -- schedule lifecycle -----------------------------------------------------------

    def create(
        self,
        name: str,
        spec: str = "*/5 * * * *",
        *,
        actor: str = "alice",
        reason: str = "",
        **fields: Any,
    ) -> str:
        """ScheduleCreated; returns the new schedule_id."""
        self._incarnations += 1
        sid = ids.derived_id("schedule", name, str(self._incarnations))
        d = definition(spec, **fields)
        self.schedules[name] = _Schedule(sid, 1, d)
        self.add(
            ScheduleCreated(schedule_id=sid, name=name, version=1, definition=d),
            actor=actor,
            reason=reason,
        )
        return sid

    def update(
        self,
        name: str,
        *,
        actor: str = "alice",
        reason: str = "",
        reopens: bool = True,
        **fields: Any,
    ) -> None:
        """ScheduleUpdated with `fields` replaced (`reopens`: as the decider decided it)."""
        s = self._bump(name)
        new = msgspec.structs.replace(s.definition, **fields)
        changed = [f for f in new.__struct_fields__ if getattr(new, f) != getattr(s.definition, f)]
        s.definition = new
        self.add(
            ScheduleUpdated(
                schedule_id=s.schedule_id,
                name=name,
                version=s.version,
                definition=new,
                changed=changed,
                reopens=reopens,
            ),
            actor=actor,
            reason=reason,
        )

    def pause(
        self, name: str, reason: str = "", *, by_system: bool = False, actor: str = "alice"
    ) -> None:
        """SchedulePaused."""
        s = self._bump(name)
        self.add(
            SchedulePaused(
                schedule_id=s.schedule_id,
                name=name,
                version=s.version,
                reason=reason,
                by_system=by_system,
            ),
            actor=actor,
        )

    def resume(self, name: str, *, actor: str = "alice", reason: str = "") -> None:
        """ScheduleResumed."""
        s = self._bump(name)
        self.add(
            ScheduleResumed(schedule_id=s.schedule_id, name=name, version=s.version),
            actor=actor,
            reason=reason,
        )

    def complete(self, name: str, reason: str = "run limit reached") -> None:
        """ScheduleCompleted (by the ticker)."""
        s = self._bump(name)
        self.add(
            ScheduleCompleted(
                schedule_id=s.schedule_id, name=name, version=s.version, reason=reason
            ),
            actor="jetcron",
        )

    def delete(self, name: str, *, actor: str = "alice", reason: str = "") -> None:
        """ScheduleDeleted; the name becomes free."""
        s = self._bump(name)
        self.add(
            ScheduleDeleted(schedule_id=s.schedule_id, name=name, version=s.version),
            actor=actor,
            reason=reason,
        )
        del self.schedules[name]

    def _bump(self, name: str) -> _Schedule:
        s = self.schedules[name]
        s.version += 1
        return s

    # -- fires --------------------------------------------------------------------------

    def _fire(self, name: str, fire_time: datetime | None, manual: bool) -> dict[str, Any]:
        s = self.schedules[name]
        when = fire_time or self.now
        fire = (
            f"{s.schedule_id}:manual:{len(self.events)}"
            if manual
            else ids.fire_id(s.schedule_id, s.version, when)
        )
        return {"schedule_id": s.schedule_id, "name": name, "fire_id": fire, "fire_time": when}

    def trigger(
        self,
        name: str,
        fire_time: datetime | None = None,
        *,
        manual: bool = False,
        target: str = "default",
        actor: str | None = None,
        reason: str = "",
        jitter_s: float = 0.0,
    ) -> str:
        """RunTriggered for a fire (default: now), with the jitter the ticker chose (set only
        when given, as the ticker does); returns the run_id."""
        base = self._fire(name, fire_time, manual)
        s = self.schedules[name]
        event = RunTriggered(
            **base,
            run_id=ids.run_id_for(base["fire_id"]),
            version=s.version,
            target=target,
            job=s.definition.job,
            manual=manual,
            **({"jitter_s": jitter_s} if jitter_s else {}),
        )
        self.triggers[event.run_id] = event
        self.add(event, actor=actor or ("alice" if manual else "jetcron"), reason=reason)
        return event.run_id

    def member(self, run_id: str, executor: str) -> str:
        """The run id a fan-out member makes of a trigger (executors/attempt.py run_ref)."""
        member = f"{run_id}-{executor}"
        self.triggers[member] = self.triggers[run_id]
        return member

    def missed(self, name: str, fire_time: datetime, reason: str = "scheduler down") -> None:
        """FireMissed."""
        self.add(FireMissed(**self._fire(name, fire_time, False), reason=reason), actor="jetcron")

    def skipped(self, name: str, fire_time: datetime, reason: str = "overlap") -> str:
        """RunSkipped; returns the fire_id."""
        base = self._fire(name, fire_time, False)
        self.add(RunSkipped(**base, reason=reason), actor="jetcron")
        return str(base["fire_id"])

    # -- runs ---------------------------------------------------------------------------

    def _run(self, run_id: str) -> dict[str, Any]:
        t = self.triggers[run_id]
        return {
            "schedule_id": t.schedule_id,
            "name": t.name,
            "fire_id": t.fire_id,
            "fire_time": t.fire_time,
            "run_id": run_id,
        }

    def started(self, run_id: str, attempt: int = 1, executor: str = "host-a") -> None:
        """RunStarted."""
        self.add(
            RunStarted(**self._run(run_id), attempt=attempt, executor=executor), actor=executor
        )

    def succeeded(
        self,
        run_id: str,
        attempt: int = 1,
        duration_s: float = 1.0,
        executor: str = "host-a",
        ended_at: datetime | None = None,
    ) -> None:
        """RunSucceeded (`ended_at`: a result stored after its job ended)."""
        self.add(
            RunSucceeded(
                **self._run(run_id),
                attempt=attempt,
                executor=executor,
                duration_s=duration_s,
                ended_at=ended_at,
            ),
            actor=executor,
        )

    def failed(
        self,
        run_id: str,
        attempt: int = 1,
        *,
        retry_in: timedelta | None = None,
        error: str = "boom",
        exit_code: int | None = 1,
        duration_s: float | None = 1.0,
        executor: str = "host-a",
    ) -> None:
        """RunFailed; with `retry_in` another attempt follows."""
        retry_at = self.next_at() + retry_in if retry_in is not None else None
        self.add(
            RunFailed(
                **self._run(run_id),
                attempt=attempt,
                executor=executor,
                exit_code=exit_code,
                error=error,
                duration_s=duration_s,
                next_retry_at=retry_at,
            ),
            actor=executor,
        )

    def timed_out(
        self,
        run_id: str,
        attempt: int = 1,
        *,
        retry_in: timedelta | None = None,
        timeout_s: float = 60.0,
        executor: str = "host-a",
    ) -> None:
        """RunTimedOut; with `retry_in` another attempt follows."""
        retry_at = self.next_at() + retry_in if retry_in is not None else None
        self.add(
            RunTimedOut(
                **self._run(run_id),
                attempt=attempt,
                executor=executor,
                timeout_s=timeout_s,
                duration_s=timeout_s,
                next_retry_at=retry_at,
            ),
            actor=executor,
        )

    def cancelled(self, run_id: str, reason: str = "operator") -> None:
        """RunCancelled (attempt unknown to the operator)."""
        self.add(RunCancelled(**self._run(run_id), reason=reason))

    def deferred(
        self,
        run_id: str,
        reason: str = "cpu 95%",
        deferrals: int = 1,
        attempt: int = 1,
        executor: str = "host-a",
    ) -> None:
        """RunDeferred."""
        self.add(
            RunDeferred(
                **self._run(run_id),
                reason=reason,
                deferrals=deferrals,
                attempt=attempt,
                executor=executor,
                next_attempt_at=self.next_at() + timedelta(seconds=30),
            ),
            actor=executor,
        )

    def cancel_requested(self, run_id: str, *, actor: str = "alice", reason: str = "") -> None:
        """RunCancelRequested, by an operator (or `system:ticker` for overlap cancel_previous)."""
        t = self.triggers[run_id]
        event = RunCancelRequested(
            schedule_id=t.schedule_id, name=t.name, run_id=run_id, reason=reason or "stop"
        )
        self.add(event, actor=actor, reason=reason)

    def lost(self, run_id: str, reason: str = "no result within timeout + grace") -> None:
        """RunLost."""
        self.add(RunLost(**self._run(run_id), reason=reason), actor="jetcron")


def fold(events: Iterable[StoredEvent]) -> state.Views:
    """Fresh views with `events` applied."""
    views = state.Views()
    state.apply_batch(views, events)
    return views
