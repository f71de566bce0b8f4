"""What `up` prints while it runs: a line per finished run, the fires that were not run,
one line per schedule and outage (`jetcron fires` keeps each one), and the breaker's pauses.

why one line per outage: after 79 s down, two `@every 5s` schedules printed ~35 lines of
"coalesced" and "missed", one per fire, burying the lines that matter (newcomer18a #10). The
ticker decides an outage's fires in one tick, so a schedule's fires not run arrive together;
they are gathered (`Unrun`) until none more came for QUIET_S, then said in one line. A fire
not run alone (an overlap skip between two runs) keeps the line `runs follow` prints.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from nats.aio.client import Client

from jetcron.cli import text
from jetcron.cli.follow import event_line
from jetcron.cli.startup import out
from jetcron.domain.envelope import Envelope
from jetcron.domain.events import (
    FireMissed,
    RunEvent,
    RunSkipped,
    SchedulePaused,
    ScheduleResumed,
)
from jetcron.domain.runs import is_final
from jetcron.log.follow import FollowHealth, supervise
from jetcron.log.stream import EventLog
from jetcron.scheduler.breaker import ACTOR as BREAKER_ACTOR

QUIET_S = 1.0
"""A schedule's fires not run are said once none more of them came for this long."""
_LOOK_S = 0.25


@dataclass
class _Group:
    """The fires of one schedule not run, gathered so far."""

    first: Envelope
    fires: list[datetime] = field(default_factory=list)
    kinds: dict[str, int] = field(default_factory=dict)
    last: Envelope | None = None
    heard: float = 0.0
    """When the last one came (the injected clock's time)."""


class Unrun:
    """Fires not run (`fire.missed`, `fire.skipped`), gathered per schedule until they stop
    coming; pure but for the injected clock."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._groups: dict[str, _Group] = {}

    def add(self, envelope: Envelope) -> None:
        """Gather one fire not run."""
        e = envelope.event
        assert isinstance(e, FireMissed | RunSkipped)
        group = self._groups.setdefault(e.schedule_id, _Group(first=envelope))
        group.fires.append(e.fire_time)
        kind = kind_of(e)
        group.kinds[kind] = group.kinds.get(kind, 0) + 1
        group.last, group.heard = envelope, self.clock()

    def before(self, schedule_id: str) -> list[str]:
        """The line of a schedule's gathered fires, said before another line of it (so the
        order of its lines is the log's)."""
        group = self._groups.pop(schedule_id, None)
        return [] if group is None else [line(group)]

    def due(self) -> list[str]:
        """The lines of the schedules whose fires stopped coming QUIET_S ago."""
        now = self.clock()
        quiet = [sid for sid, g in self._groups.items() if now - g.heard >= QUIET_S]
        return [line(self._groups.pop(sid)) for sid in quiet]

    def rest(self) -> list[str]:
        """The lines of everything gathered (`up` stops)."""
        lines = [line(g) for g in self._groups.values()]
        self._groups.clear()
        return lines


def kind_of(event: FireMissed | RunSkipped) -> str:
    """What became of a fire not run, in the words of a summary: `missed (scheduler down)`,
    `coalesced into 04:09:50`, `skipped (overlap: previous run still in flight)`."""
    reason = event.reason
    if isinstance(event, FireMissed):
        cause, _, _ = reason.partition(":")
        return f"missed ({cause})" if cause != reason else "missed"
    if reason.startswith("coalesced:"):
        into = text.coalesced(reason, event.fire_time)
        return into[0] if into else "coalesced"
    # why: the waiting fire a buffer_one refusal names differs fire by fire; the rest does not
    return f"skipped ({reason.partition(' (')[0]})"


def line(group: _Group) -> str:
    """One line for a schedule's fires not run: the event's own line if it is one."""
    if len(group.fires) == 1:
        return event_line(group.first)
    last = group.last or group.first
    e = last.event
    assert isinstance(e, FireMissed | RunSkipped)
    first, newest = min(group.fires), max(group.fires)
    kinds = ", ".join(f"{n} {kind}" for kind, n in group.kinds.items())
    return (
        f"{text.utc(last.at)} {e.name} {len(group.fires)} fires {text.utc(first)}–"
        f"{text.short_time(text.utc(newest), first)} not run: {kinds} (each: `jetcron fires {e.name}`)"
    )


def breaker_line(envelope: Envelope) -> str | None:
    """The breaker's pause or resume as a run line ('expect paused by the breaker:
    3 consecutive failures'); None for any other event (an operator's pause: they know)."""
    e, at = envelope.event, text.utc(envelope.at)
    if isinstance(e, SchedulePaused) and e.by_system:
        why = e.reason.removeprefix("circuit open: ")
        until = f"; resumes at {text.utc(e.resume_at)}" if e.resume_at else ""
        return f"{at} {e.name} paused by the breaker: {why}{until}"
    if isinstance(e, ScheduleResumed) and envelope.actor == BREAKER_ACTOR:
        why = envelope.reason.removeprefix("circuit half-open: ")
        return f"{at} {e.name} resumed by the breaker" + (f": {why}" if why else "")
    return None


async def echo_runs(nc: Client, stop: asyncio.Event, after: int | None) -> None:
    """Print one line per finished run, and the fires not run (see the module doc), after
    sequence `after` (None: the log's end now): what `up` shows while it runs."""
    event_log = await EventLog(nc).open(create=False)
    seen = [await event_log.last_seq() if after is None else after]
    health, unrun = FollowHealth("run echo"), Unrun()
    looking = asyncio.create_task(_say_quiet(unrun))
    try:
        await supervise(
            lambda: _print_runs(event_log, seen, health, unrun), health=health, stop=stop
        )
    finally:
        looking.cancel()
        _say(unrun.rest())
        await event_log.close()


async def _say_quiet(unrun: Unrun) -> None:
    while True:
        _say(unrun.due())
        await asyncio.sleep(_LOOK_S)


def _say(lines: list[str]) -> None:
    for said in lines:
        out.print(said, highlight=False, markup=False)


async def _print_runs(
    event_log: EventLog, seen: list[int], health: FollowHealth, unrun: Unrun
) -> None:
    """Print what happened after seen[0] (and advance it, so a restart goes on from there)."""
    from jetcron import subjects

    watched = [subjects.RUNS, subjects.FIRES, subjects.SCHEDULES]
    async for batch in event_log.read(
        from_seq=seen[0] + 1, subjects=watched, follow=True, health=health
    ):
        seen[0] = batch[-1].seq
        for stored in batch:
            e = stored.event
            if (said := breaker_line(stored.envelope)) is not None:
                _say([said])
            elif isinstance(e, FireMissed | RunSkipped):
                unrun.add(stored.envelope)
            elif isinstance(e, RunEvent) and is_final(e):
                # why: the same line `jetcron runs follow` prints
                _say([*unrun.before(e.schedule_id), event_line(stored.envelope)])
