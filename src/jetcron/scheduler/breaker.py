"""The circuit breaker: a process manager that pauses a schedule after N consecutive failed runs.

It reacts to run events (not executor-local state) and acts through ordinary commands,
so its pauses and resumes are in the log with actor `system` and a reason.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import msgspec

from jetcron import subjects
from jetcron.clock import Clock, SystemClock
from jetcron.domain import claims
from jetcron.domain.claims import Claims
from jetcron.domain.commands import AnyCommand, PauseSchedule, ResumeSchedule
from jetcron.domain.definition import ScheduleDefinition
from jetcron.domain.envelope import StoredEvent
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
)
from jetcron.errors import JetcronError
from jetcron.log import snapshots
from jetcron.log.follow import FollowHealth, supervise
from jetcron.log.lease import Leadership, SoloLease
from jetcron.log.stream import EventLog
from jetcron.scheduler.handler import CommandHandler

log = logging.getLogger(__name__)
ACTOR = "system"
SNAPSHOT_OBJECT = "breaker"
COUNTED_MAX = 64
"""Failed runs of the current streak remembered per schedule (to count each run once)."""


@dataclass(slots=True)
class Tracked:
    name: str
    definition: ScheduleDefinition
    failures: int = 0
    paused_by_system: bool = False
    resume_at: datetime | None = None
    counted: dict[str, None] = field(default_factory=dict)
    """Run ids of the current streak's final failures, oldest first (an ordered set)."""


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
            t.counted.clear()
        elif isinstance(event, ScheduleDeleted):
            del self.schedules[event.schedule_id]
        elif isinstance(event, RunSucceeded):
            t.failures = 0
            t.counted.clear()  # why: a streak's runs are all it must count once; not every run ever
        elif _final_failure(event) and event.run_id not in t.counted:  # type: ignore[attr-defined]
            t.counted[event.run_id] = None  # type: ignore[attr-defined]
            if len(t.counted) > COUNTED_MAX:
                del t.counted[next(iter(t.counted))]
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
            command_id=f"breaker:{t.name}:{max(t.counted)}",
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


class BreakerSnapshot(msgspec.Struct, kw_only=True):
    """BreakerState as stored, with the position it reflects."""

    position: int
    schedules: dict[str, Tracked]
    claims: Claims = msgspec.field(default_factory=Claims)


_SNAPSHOT_HEADER = b"JCB\x00\x01"
_snapshot_decoder = msgspec.msgpack.Decoder(BreakerSnapshot)


def snapshot_of(state: BreakerState, position: int, gate: Claims | None = None) -> bytes:
    """The state, its run claims and its position as versioned msgpack bytes."""
    return _SNAPSHOT_HEADER + msgspec.msgpack.encode(
        BreakerSnapshot(position=position, schedules=state.schedules, claims=gate or Claims())
    )


def state_from(data: bytes) -> tuple[BreakerState, int, Claims] | None:
    """(state, position, claims) from snapshot_of bytes; None if of another version or unreadable."""
    record = snapshots.unpack(data, _SNAPSHOT_HEADER, _snapshot_decoder)
    if record is None:
        return None
    state = BreakerState()
    state.schedules = record.schedules
    return state, record.position, record.claims


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
        snapshot_every: int | None = None,
    ) -> None:
        self.log, self.handler = event_log, handler
        self.cadence = snapshots.Cadence(snapshot_every) if snapshot_every else None
        self._woken = asyncio.Event()
        self.fed = False
        """True when a shared reader feeds this breaker through `take` (then it reads nothing)."""
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
        """Follow the log (unless fed) and send what it calls for until stop (a failed follower
        is restarted, never lost)."""
        follow = None
        if not self.fed:
            follow = asyncio.ensure_future(supervise(self._follow, health=self.health, stop=stop))
        try:
            while not stop.is_set():
                await self._send(self.state.due_resumes(self.clock.now()))
                self._woken.clear()
                stopping = asyncio.ensure_future(stop.wait())
                woken = asyncio.ensure_future(self._woken.wait())
                try:
                    await asyncio.wait(
                        {stopping, woken}, timeout=1.0, return_when="FIRST_COMPLETED"
                    )
                finally:
                    stopping.cancel()
                    woken.cancel()
        finally:
            if follow is not None:
                follow.cancel()

    async def take(self, batch: list[StoredEvent]) -> None:
        """Fold a batch from a shared reader; what it calls for is sent by `run`."""
        commands = self.fold(batch)
        if commands:
            self._unsent += commands
            self._woken.set()
        if self.cadence is not None and self.cadence.folded(len(batch)):
            await self.save_snapshot()

    def fold(self, batch: list[StoredEvent]) -> list[AnyCommand]:
        """Fold the events past our position; the commands they call for."""
        commands = []
        for stored in batch:
            if stored.seq <= self.position:
                continue
            if claims.check(self.claims, stored) is not None:
                self.position = stored.seq  # why: not the run's holder: changes nothing
                continue
            try:
                cmd = self.state.apply(stored.envelope.event, stored.envelope.at)
            except Exception:  # noqa: BLE001 - one bad event must not stop the breaker (or serve's reader)
                log.exception("breaker could not fold event seq=%d", stored.seq)
                cmd = None
            if cmd is not None:
                commands.append(cmd)
            self.position = stored.seq
        return commands

    async def restore(self) -> None:
        """Start from the stored checkpoint, if there is one (else from sequence 1)."""
        data = await snapshots.load_checkpoint(self.log.nc, SNAPSHOT_OBJECT)
        restored = state_from(data) if data else None
        if restored is not None and restored[1] > self.position:
            self.state, self.position, self.claims = restored

    async def save_snapshot(self, *, leader_only: bool = True) -> None:
        """Store the state with its position (by default the leader only)."""
        if (
            self._unsent
            or (leader_only and not self.lease.is_leader())
            or not self.log.nc.is_connected
        ):
            return
        # why (_unsent above): a checkpoint past commands not yet sent would lose them on a crash
        started = time.monotonic()
        try:
            await snapshots.save(
                self.log.nc, SNAPSHOT_OBJECT, snapshot_of(self.state, self.position, self.claims)
            )
        except Exception as err:  # noqa: BLE001 - the next checkpoint tries again
            log.warning("breaker checkpoint failed: %s", err)
            return
        if self.cadence is not None:
            self.cadence.taken(started)

    async def _follow(self) -> None:
        subjects_ = [subjects.SCHEDULES, subjects.RUNS]
        async for batch in self.log.read(
            from_seq=self.position + 1, subjects=subjects_, follow=True, health=self.health
        ):
            await self.apply_batch(batch)

    async def apply_batch(self, batch: list[StoredEvent]) -> None:
        """Fold a batch and send the commands it calls for."""
        await self._send(self.fold(batch))

    async def _send(self, commands: list[AnyCommand]) -> None:
        commands, self._unsent = [*self._unsent, *commands], []
        if not commands or not self.lease.is_leader():
            return
        for i, cmd in enumerate(commands):
            try:
                _, appended = await self.handler.handle_once(cmd)
                if appended:  # why: a restart replays old decisions; say each one once
                    # why: INFO: `up` prints the stored pause as a run line (cli/echo.py)
                    log.info("%s %s by the breaker (%s)", cmd.name, _done(cmd), cmd.reason)
            except CommandRejected as err:
                log.info("breaker: %s not applied: %s", cmd.name, err)
            except (JetcronError, OSError, TimeoutError) as err:
                # why: the commands carry stable ids, so sending them again later is safe
                log.warning("%s not %s by the breaker yet (%s)", cmd.name, _done(cmd), err)
                self._unsent = commands[i:]
                return


def _done(cmd: AnyCommand) -> str:
    """What the breaker's command does to its schedule, as a log line says it."""
    return "paused" if isinstance(cmd, PauseSchedule) else "resumed"
