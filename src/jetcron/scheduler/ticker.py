"""The ticker: sleeps until the next fire, appends RunTriggered exactly once per fire time.

Shell around planner.py: follows the log into a TickerState (state.py) and keeps a min-heap of
the next time each schedule needs attention (tickfold.py), and, while it holds the lease,
appends what `decide_due` says (firing.py), as appends.py turns each decision into an event.
The fire id is the Nats-Msg-Id, so two leaders during a hand-over append each trigger once.
Here: the tick loop (leadership, reading to the log's end, sleeping) and bursts planned ahead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from datetime import datetime, timedelta
from typing import Any

from jetcron.clock import Clock, SystemClock
from jetcron.domain.envelope import StoredEvent
from jetcron.log.lease import Leadership, SoloLease
from jetcron.log.publisher import Staged
from jetcron.log.stream import EventLog
from jetcron.memory import collector_paused
from jetcron.scheduler import orphans
from jetcron.scheduler.entry import Entry
from jetcron.scheduler.firing import ACTOR, CHUNK, Firing, Planned
from jetcron.scheduler.handler import CommandHandler
from jetcron.scheduler.state import LOST_GRACE, TickerState
from jetcron.scheduler.tickfold import TickerFold

log = logging.getLogger(__name__)
APPEND_RETRY = timedelta(seconds=1)
"""A schedule whose due events could not be appended is looked at again this much later."""
PLAN_AHEAD = timedelta(seconds=5)
"""A burst due this soon is decided and encoded before it is due, so only sending is left then."""
PLAN_MIN = 64
"""Fewer schedules than this due at one instant are cheaper to plan when due."""
PLAN_MAX = 16_384
"""At most this many of them are planned (and staged for one write); the rest when due.

why: a plan holds every fire's envelope, encoded bytes and frames until it is due: ~3.7 KB a
fire, so a midnight of a million schedules would have held gigabytes; one publisher window
(what one write may carry) is what the first instant of a burst can use anyway."""
PLAN_STALE = timedelta(seconds=1)
"""A plan that could not be sent within this of its time is made again (the world moved on)."""
ORPHANS_PER_TICK = 100
"""Runs of deleted schedules a tick ends at most (scheduler/orphans.py)."""
READER_WAIT_S = 2.0
"""How long a leader waits for a shared reader that lost its place to be current again before
it reads the log's tail itself (the fires due meanwhile are that much late)."""


class Ticker:
    """Emits due triggers; run one per scheduler replica, only the lease holder ticks.

    Its parts: `fold` (tickfold.py: the state, the due queue, the reader, checkpoints) and
    `firing` (firing.py: decisions encoded, appended and applied ahead)."""

    def __init__(
        self,
        event_log: EventLog,
        *,
        clock: Clock | None = None,
        lease: Leadership | None = None,
        handler: CommandHandler | None = None,
        snapshot_every: int | None = None,
        lost_grace: timedelta = LOST_GRACE,
    ) -> None:
        self.log, self.clock = event_log, clock or SystemClock()
        self.lease = lease or SoloLease()
        self.fold = TickerFold(
            event_log,
            clock=self.clock,
            lease=self.lease,
            snapshot_every=snapshot_every,
            lost_grace=lost_grace,
        )
        self.firing = Firing(self.fold, handler)
        self._planned: tuple[datetime, list[Planned]] | None = None
        """A burst decided ahead of its time (see plan_ahead)."""
        self._staged: Staged | None = None
        """The planned burst framed for one write (None: framed when sent)."""
        self._planned_calendars = 0
        """`state.calendar_changes` when the burst was planned."""
        self._planned_changes = 0
        """`state.changes` when planning began."""
        self._declined: datetime | None = None
        """The last instant plan_ahead found too few schedules due at."""
        self._stale = True
        """The state must be read to the log's end before the next decision (a new leader, a
        new life of the tick loop)."""

    @property
    def state(self) -> TickerState:
        """The state the ticker decides on (its fold's)."""
        return self.fold.state

    @property
    def position(self) -> int:
        """The last sequence the state reflects."""
        return self.fold.position

    async def catch_up(self) -> None:
        """Read the log up to its current end (burst mode for tests and start-up)."""
        await self.fold.catch_up()

    async def take(self, batch: list[StoredEvent]) -> None:
        """Apply a batch from a shared reader (log/fanout.py)."""
        await self.fold.take(batch)

    async def restore(self) -> None:
        """Start from the stored checkpoint, if there is one."""
        await self.fold.restore()

    async def save_snapshot(self, *, leader_only: bool = True) -> None:
        """Store the state with its position (tickfold.TickerFold.save_snapshot)."""
        await self.fold.save_snapshot(leader_only=leader_only)

    async def run(self, stop: asyncio.Event, current: asyncio.Event | None = None) -> None:
        """Follow the log and tick until stop is set.

        With `current`, a shared reader feeds this ticker through `take` and sets `current`
        once it has delivered everything the log held; ticking waits for it, as it waits for
        its own reader otherwise.
        """
        if current is not None:
            self.fold.caught_up = current
            await self._tick_loop(stop)
            return
        async with asyncio.TaskGroup() as tg:
            reader = tg.create_task(self.fold.follow())
            ticker = tg.create_task(self._tick_loop(stop))
            await stop.wait()
            self.fold.wake.set()
            await ticker
            reader.cancel()

    async def tick(self) -> int:
        """Handle everything due now; returns how many events were appended."""
        now = self.clock.now()
        self.firing.stalls.observe_alarm(now)
        appended = await self._tick_due(now)
        if self.state.orphans.keys() - self.fold.orphans_tried:
            # why: after the fires, a bounded share per tick: a delete must not delay them; the
            # reader handing our cancels back wakes the next tick for the rest
            appended += await orphans.settle(
                self.log, self.state, self.fold.orphans_tried, now, ACTOR, limit=ORPHANS_PER_TICK
            )
        return appended

    async def _tick_due(self, now: datetime) -> int:
        """Fire what is due at `now` (the planned burst first); how many events were appended."""
        due: dict[str, Entry] = {}
        while (first := self.fold.queue.first()) is not None and first <= now:
            for entry in self.fold.pop():
                due[entry.schedule_id] = entry
        ready, staged = self._take_plan(now, due)
        if not due and not ready:
            return 0
        entries = list(due.values()) + [p.entry for p in ready]
        self.fold.ticking = {e.schedule_id for e in entries}
        try:
            # why: a burst allocates a lot and frees nothing until its acks are in; a collector
            # pass over the heap in the middle of it only delays the burst (see catch_up)
            with collector_paused() if ready else contextlib.nullcontext():
                appended = await self.firing.fire(list(due.values()), now, ready, staged)
        finally:
            self.fold.ticking = set()
            for entry in entries:
                nxt = self.fold.next_due(entry)
                if nxt is not None and nxt > now:
                    self.fold.reschedule(entry)
                elif nxt is not None:
                    # why: its append failed (NATS away): look again soon instead of dropping it
                    self.fold.push(now + APPEND_RETRY, entry)
        return appended

    async def plan_ahead(self) -> int:
        """Decide and encode the next burst (PLAN_MIN+ schedules due at one instant within
        PLAN_AHEAD) now, so when it is due only sending is left; returns how many were planned.

        why: NATS's own scheduler only has to store a message when it is due; we also have to
        decide (catch-up, overlap, ids, envelope) and encode, ~60 us a fire on this machine.
        An entry whose state changes before the burst (its generation moves) is decided again.
        """
        at = self.fold.queue.first()
        if self._planned is not None or at is None or at - self.clock.now() > PLAN_AHEAD:
            return 0
        # why: out of the queue while planned; the reader queues those it changes meanwhile
        entries = {e.schedule_id: e for e in self.fold.pop()}
        if len(entries) < PLAN_MIN:
            for entry in entries.values():
                self.fold.queue.push(at, entry)
            self._declined = at  # why: not worth a plan; sleep until it is due
            return 0
        planned: list[Planned] = []
        self._planned, self._staged = (at, planned), None
        self._planned_calendars = self.state.calendar_changes
        self._planned_changes = self.state.changes
        todo = list(entries.values())
        for i, entry in enumerate(todo[:PLAN_MAX]):
            if i % CHUNK == 0:
                await asyncio.sleep(0)  # why: the follower and the query service keep going
                if self.clock.now() >= at:
                    break  # why: out of time; tick decides the rest when due, as without a plan
            planned.append(self.firing.decide(entry, at))
        self._staged = self.log.stage([x for p in planned for x in p.prepared])
        for entry in todo[len(planned) :]:
            if entry.queued is None:  # why: the reader did not queue it elsewhere meanwhile
                self.fold.queue.push(at, entry)
        return len(planned)

    def _take_plan(
        self, now: datetime, due: dict[str, Entry]
    ) -> tuple[list[Planned], Staged | None]:
        """The planned burst if it is due: entries still as planned (and its frames if that is
        all of them); the others join `due`."""
        if self._planned is None or now < self._planned[0]:
            return [], None
        (at, planned), staged = self._planned, self._staged
        self._planned, self._staged = None, None
        # why: a calendar changed since the plan may take or give back some of its fires
        fresh = now - at <= PLAN_STALE and self._planned_calendars == self.state.calendar_changes
        if fresh and self._planned_changes == self.state.changes:
            return planned, staged  # why: no entry changed since: all as planned, no 10k checks
        ready: list[Planned] = []
        for p in planned:
            sid = p.entry.schedule_id
            if not self.state.holds(p.entry) or sid in due:
                continue  # why: gone, or a newer heap item of it is due: decided there
            if fresh and p.entry.generation == p.generation:
                ready.append(p)
            elif p.entry.generation == p.generation:
                due[sid] = p.entry
            # else: a changed entry was rescheduled by the reader; the heap has it
        return ready, staged if len(ready) == len(planned) else None

    async def _tick_loop(self, stop: asyncio.Event) -> None:
        await self.fold.caught_up.wait()
        leading = False
        # why: a life that follows a failed one (a catch-up that timed out as NATS came back)
        # decides nothing before it has read the log to its end, as a new leader does
        self._stale = True
        while not stop.is_set():
            if not self.lease.is_leader():
                leading = False
                await self._await_lease(stop)
                if self.lease.is_leader():  # why: a new leader first reads what the last appended
                    self._stale = True
                    self.fold.orphans_tried.clear()
                continue
            back = leading and self.log.nc.stats["reconnects"] != self.firing.reconnects
            if self._behind() and not await self._read_to_end(stop):
                continue
            if not leading or back:
                # why: NATS back to a leader that kept its lease is a take-over too: the
                # results executors held through the outage are still on their way (SETTLE)
                leading = True
                self.firing.took_over(self.clock.now())
            await self.tick()
            first = self.fold.queue.first()
            if first is not None and first <= self.clock.now():
                continue
            if await self.plan_ahead():
                continue  # why: planning took time; look at the clock again
            await self._sleep(stop)

    def _behind(self) -> bool:
        """True if the state may lack events stored before now: it was never read to the end
        in this life or leadership, the connection came back since, or the shared reader lost
        its place (an outage, a consumer gone quiet) and is not at the end again yet."""
        return (
            self._stale
            or self.log.nc.stats["reconnects"] != self.firing.reconnects
            or not self.fold.caught_up.is_set()
        )

    async def _read_to_end(self, stop: asyncio.Event) -> bool:
        """Bring the state to the log's end before the next decision; True if the leader may
        decide now (still leading, not stopping).

        why: a decision on a state behind the log takes a run that has ended for one in flight
        (newcomer17b: a fire skipped "overlap" 4 s after its blocker's result was stored, as the
        reader was still re-creating its consumer after an outage the leader kept its lease
        through). The shared reader is given a moment; past it the ticker reads the tail itself,
        as a new leader does: events stored before the read began are all folded then, and what
        lands after it is the ordinary moment any decision is behind the log.
        """
        reconnects = self.log.nc.stats["reconnects"]
        if not self._stale and reconnects == self.firing.reconnects:
            if await _set_within(self.fold.caught_up, stop, READER_WAIT_S):
                return not stop.is_set() and self.lease.is_leader()
            log.info(
                "ticker: the log reader is still behind after %gs; reading the log's tail itself",
                READER_WAIT_S,
            )
        await self.fold.catch_up()
        self._stale, self.firing.reconnects = False, reconnects
        return not stop.is_set() and self.lease.is_leader()

    async def _sleep(self, stop: asyncio.Event) -> None:
        self.fold.wake.clear()
        waits: list[Coroutine[Any, Any, Any]] = [
            self.fold.wake.wait(),
            stop.wait(),
            self.lease.changed.wait(),
        ]
        wake = self._wake_at()
        if wake is not None:
            waits.append(self.clock.sleep_until(wake))
        await _first_of(*waits)
        self.lease.changed.clear()

    def _wake_at(self) -> datetime | None:
        """The next fire, a planned burst, or the moment to plan the next fire's burst."""
        times = [self._planned[0]] if self._planned is not None else []
        top = self.fold.queue.first()
        if top is not None:
            times.append(top)
            if self._planned is None and top != self._declined:
                times.append(top - PLAN_AHEAD)
        return min(times, default=None)

    async def _await_lease(self, stop: asyncio.Event) -> None:
        """Wait for the lease to change; meanwhile note whether the log refuses appends.

        why: a full log takes the lease too (its renewal is an append), so the stall that makes
        the next leader's fires late begins while nobody ticks."""
        while not self.lease.changed.is_set() and not stop.is_set():
            self.firing.stalls.observe_alarm(self.clock.now())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):  # why: not wait_for (follow.set_within)
                    await _first_of(self.lease.changed.wait(), stop.wait())
        self.lease.changed.clear()


async def _set_within(event: asyncio.Event, stop: asyncio.Event, seconds: float) -> bool:
    """Wait until `event` is set (True), stop is set or `seconds` pass (False)."""
    if not event.is_set():
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await _first_of(event.wait(), stop.wait())
    return event.is_set()


async def _first_of(*waits: Coroutine[Any, Any, Any]) -> None:
    """Return when the first of these finishes; cancel the rest."""
    futures = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(futures, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for f in futures:
            f.cancel()
