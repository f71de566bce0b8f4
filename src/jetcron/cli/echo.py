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
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from nats.aio.client import Client

from jetcron.cli import text
from jetcron.cli.follow import event_line
from jetcron.cli.startup import out
from jetcron.domain.definition import DECIDED_AFTER, late_kind
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


MAX_KINDS = 4
"""At most this many kinds of fate on one line (the rest counted): the line stays short."""
MAX_CAUSES = 2
"""At most this many causes of lateness named on one line (the rest counted)."""
_DECIDED = re.compile(rf"; decided (\d+){re.escape(DECIDED_AFTER)}(.*)$")


@dataclass(frozen=True)
class Fate:
    """What became of one fire not run, in a summary's words: its kind ('missed (scheduler
    down)', 'coalesced into 04:09:50'), and for a skip decided long after its fire, how late
    (s) and why (the cause as stored, e.g. 'NATS unreachable from T1 to T2')."""

    kind: str
    late_s: int | None = None
    cause: str = ""


@dataclass
class _Group:
    """The fires of one schedule not run, gathered so far."""

    first: Envelope
    fires: list[datetime] = field(default_factory=list)
    kinds: dict[str, int] = field(default_factory=dict)
    late: list[int] = field(default_factory=list)
    causes: dict[str, int] = field(default_factory=dict)
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
        fate = fate_of(e)
        group.kinds[fate.kind] = group.kinds.get(fate.kind, 0) + 1
        if fate.late_s is not None:
            group.late.append(fate.late_s)
            group.causes[fate.cause] = group.causes.get(fate.cause, 0) + 1
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


def fate_of(event: FireMissed | RunSkipped) -> Fate:
    """What became of a fire not run, in the words of a summary (see Fate).

    why not cut at the first colon: a cause names its outage's times ('NATS unreachable from
    2026-12-03T13:15:40Z to …'), and the summary said 'missed (NATS unreachable from
    2026-12-03T13)' (newcomer21c #3). why the lateness apart: each skip's 'decided 42 s after its
    fire' differs, so a kind that kept it made one clause per fire, 4,938 characters (#4)."""
    reason = event.reason
    if isinstance(event, FireMissed):
        cause = late_kind(reason)
        return Fate(f"missed ({cause})" if cause else "missed")
    late = _DECIDED.search(reason)
    base = reason[: late.start()] if late else reason
    if base.startswith("coalesced:"):
        into = text.coalesced(base, event.fire_time)
        kind = into[0] if into else "coalesced"
    else:
        # why: the waiting fire a buffer_one refusal names differs fire by fire; the rest does not
        kind = f"skipped ({base.partition(' (')[0]})"
    if late is None:
        return Fate(kind)
    return Fate(kind, int(late.group(1)), late.group(2))


def line(group: _Group) -> str:
    """One line for a schedule's fires not run: the event's own line if it is one."""
    if len(group.fires) == 1:
        return event_line(group.first)
    last = group.last or group.first
    e = last.event
    assert isinstance(e, FireMissed | RunSkipped)
    first, newest = min(group.fires), max(group.fires)
    return (
        f"{text.utc(last.at)} {e.name} {len(group.fires)} fires {text.utc(first)}–"
        f"{text.short_time(text.utc(newest), first)} not run: "
        f"{_counted(group.kinds)}{_lateness(group)}"
        f" (each: `jetcron fires {e.name}`)"
    )


def _lateness(group: _Group) -> str:
    """'; 11 decided 6–56 s after their fires: scheduler down' ('' when none was late)."""
    if not group.late:
        return ""
    low, high = min(group.late), max(group.late)
    span = f"{low}" if low == high else f"{low}–{high}"
    n = len(group.late)
    whose = "its fire" if n == 1 else "their fires"
    causes = ", ".join(list(group.causes)[:MAX_CAUSES])
    if len(group.causes) > MAX_CAUSES:
        causes += f" and {len(group.causes) - MAX_CAUSES} more (each: `fires`)"
    return f"; {n} decided {span} s after {whose}: {causes}"


def _counted(counts: dict[str, int]) -> str:
    """'4 missed (scheduler down), 11 coalesced into 04:09:50': at most MAX_KINDS kinds, the
    fires of the rest counted ('and 3 for other reasons')."""
    said = ", ".join(f"{n} {kind}" for kind, n in list(counts.items())[:MAX_KINDS])
    rest = sum(list(counts.values())[MAX_KINDS:])
    return said + (f", and {rest} for other reasons" if rest else "")


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
