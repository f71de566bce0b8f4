"""The circuit breaker: a process manager that pauses a schedule after N consecutive failed runs.

It reacts to run events (not executor-local state) and acts through ordinary commands,
so its pauses and resumes are in the log with actor `system` and a reason.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from jetcron import subjects
from jetcron.clock import Clock, SystemClock
from jetcron.domain import claims
from jetcron.domain.claims import Claims
from jetcron.domain.commands import AnyCommand, PauseSchedule, ResumeSchedule
from jetcron.domain.definition import ScheduleDefinition
from jetcron.domain.errors import CommandRejected
from jetcron.domain.events import (
    Event,
    RunFailed,
    RunLost,
    RunSucceeded,
    RunTimedOut,
    ScheduleCreated,
    ScheduleDeleted,
    SchedulePaused,
    ScheduleResumed,
    ScheduleUpdated,
    StoredEvent,
)
from jetcron.errors import JetcronError
from jetcron.log.follow import FollowHealth, supervise
from jetcron.log.lease import Leadership, SoloLease
from jetcron.log.stream import EventLog
from jetcron.scheduler.handler import CommandHandler

log = logging.getLogger(__name__)
ACTOR = "system"


@dataclass(slots=True)
class Tracked:
    name: str
    definition: ScheduleDefinition
    failures: int = 0
    paused_by_system: bool = False
    resume_at: datetime | None = None
    counted: set[str] = field(default_factory=set)


class BreakerState:
    """Consecutive final failures per schedule; pure fold plus the commands it calls for."""

    def __init__(self) -> None:
        self.schedules: dict[str, Tracked] = {}

    def apply(self, event: Event, at: datetime) -> AnyCommand | None:
        """Fold one event; returns a command to send (pause) or None."""
        if isinstance(event, ScheduleCreated):
            self.schedules[event.schedule_id] = Tracked(event.name, event.definition)
        sid = getattr(event, "schedule_id", "")
        t = self.schedules.get(sid)
        if t is None:
            return None
        return self._apply(t, event, at)

    def _apply(self, t: Tracked, event: Event, at: datetime) -> AnyCommand | None:
        if isinstance(event, ScheduleUpdated):
            t.definition = event.definition
        elif isinstance(event, SchedulePaused):
            t.paused_by_system, t.resume_at = event.by_system, event.resume_at
        elif isinstance(event, ScheduleResumed):
            t.paused_by_system, t.resume_at, t.failures = False, None, 0
        elif isinstance(event, ScheduleDeleted):
            del self.schedules[event.schedule_id]
        elif isinstance(event, RunSucceeded):
            t.failures = 0
        elif _final_failure(event) and event.run_id not in t.counted:  # type: ignore[attr-defined]
            t.counted.add(event.run_id)  # type: ignore[attr-defined]
            t.failures += 1
            return self._maybe_open(t, at)
        return None

    def _maybe_open(self, t: Tracked, at: datetime) -> AnyCommand | None:
        threshold = t.definition.breaker_threshold
        if threshold <= 0 or t.failures < threshold or t.paused_by_system:
            return None
        cooldown = t.definition.breaker_cooldown_s
        resume_at = at + timedelta(seconds=cooldown) if cooldown else None
        return PauseSchedule(
            name=t.name,
            command_id=f"breaker:{t.name}:{sorted(t.counted)[-1]}",
            at=at,
            actor=ACTOR,
            by_system=True,
            resume_at=resume_at,
            reason=f"circuit open: {t.failures} consecutive failures",
        )

    def due_resumes(self, now: datetime) -> list[AnyCommand]:
        """Resume commands for breaker pauses whose cool-down has passed."""
        out: list[AnyCommand] = []
        for t in self.schedules.values():
            if t.paused_by_system and t.resume_at is not None and t.resume_at <= now:
                out.append(
                    ResumeSchedule(
                        name=t.name,
                        command_id=f"breaker-resume:{t.name}:{t.resume_at.isoformat()}",
                        at=now,
                        actor=ACTOR,
                        reason="circuit half-open: cool-down over",
                        only_if_system_paused=True,
                    )
                )
                t.resume_at = None
        return out


def _final_failure(event: Event) -> bool:
    if isinstance(event, RunFailed | RunTimedOut):
        return event.next_retry_at is None
    return isinstance(event, RunLost)


class CircuitBreaker:
    """Follows the log; the lease holder sends the pause/resume commands."""

    def __init__(
        self,
        event_log: EventLog,
        handler: CommandHandler,
        *,
        lease: Leadership | None = None,
        clock: Clock | None = None,
        health: FollowHealth | None = None,
    ) -> None:
        self.log, self.handler = event_log, handler
        self.lease = lease or SoloLease()
        self.clock = clock or SystemClock()
        self.health = health or FollowHealth("breaker")
        self.state = BreakerState()
        self.claims = Claims()
        """why: a failure forged by a host that does not hold the run must not pause anything."""
        self.position = 0
        self._unsent: list[AnyCommand] = []
        """Commands that could not be sent (NATS away); sent again on the next round."""

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the log until stop (a failed follower is restarted, never lost)."""
        follow = asyncio.ensure_future(supervise(self._follow, health=self.health, stop=stop))
        try:
            while not stop.is_set():
                await self._send(self.state.due_resumes(self.clock.now()))
                try:
                    await asyncio.wait_for(stop.wait(), 1.0)
                except TimeoutError:
                    pass
        finally:
            follow.cancel()

    async def _follow(self) -> None:
        subjects_ = [subjects.SCHEDULES, subjects.RUNS]
        async for batch in self.log.read(
            from_seq=self.position + 1, subjects=subjects_, follow=True, health=self.health
        ):
            await self.apply_batch(batch)

    async def apply_batch(self, batch: list[StoredEvent]) -> None:
        """Fold a batch and send the commands it calls for."""
        commands = []
        for stored in batch:
            if claims.check(self.claims, stored) is not None:
                self.position = stored.seq
                continue
            cmd = self.state.apply(stored.envelope.event, stored.envelope.at)
            if cmd is not None:
                commands.append(cmd)
            self.position = stored.seq
        await self._send(commands)

    async def _send(self, commands: list[AnyCommand]) -> None:
        commands, self._unsent = [*self._unsent, *commands], []
        if not commands or not self.lease.is_leader():
            return
        for i, cmd in enumerate(commands):
            try:
                _, appended = await self.handler.handle_once(cmd)
                if appended:  # why: a restart replays old decisions; say each one once
                    log.warning("breaker: %s %s (%s)", type(cmd).__name__, cmd.name, cmd.reason)
            except CommandRejected as err:
                log.info("breaker: %s not applied: %s", cmd.name, err)
            except (JetcronError, OSError, TimeoutError) as err:
                # why: the commands carry stable ids, so sending them again later is safe
                log.warning("breaker: %s %s not sent yet (%s)", type(cmd).__name__, cmd.name, err)
                self._unsent = commands[i:]
                return
