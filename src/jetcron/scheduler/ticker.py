"""The ticker: sleeps until the next fire, appends RunTriggered exactly once per fire time.

Shell around planner.py: follows the log into a TickerState (state.py), keeps a min-heap of
the next time each schedule needs attention, and, while it holds the lease, appends what
`decide_due` says, as appends.py turns each decision into an event. The fire id is the
Nats-Msg-Id, so two leaders during a hand-over append each trigger once.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from jetcron import ids, subjects
from jetcron.clock import Clock, SystemClock, iso_z
from jetcron.domain.commands import CompleteSchedule
from jetcron.domain.envelope import Envelope, StoredEvent
from jetcron.log import snapshots
from jetcron.log.errors import STORAGE, storage_full
from jetcron.log.lease import Leadership, SoloLease
from jetcron.log.publisher import PubAck, Staged, ack_lost
from jetcron.log.stream import EventLog, Prepared
from jetcron.memory import collector_paused
from jetcron.scheduler import appends, lost, orphans, owed
from jetcron.scheduler.checkpoint import snapshot_of, state_from
from jetcron.scheduler.entry import Entry
from jetcron.scheduler.firetimes import next_due
from jetcron.scheduler.handler import CommandHandler
from jetcron.scheduler.planner import (
    Cancel,
    Complete,
    Decision,
    Hold,
    Lose,
    Trigger,
    decide_due,
)
from jetcron.scheduler.queue import DueQueue
from jetcron.scheduler.stalls import StallWatch
from jetcron.scheduler.state import LOST_GRACE, TickerState
from jetcron.scheduler.unconfirmed import Unconfirmed

log = logging.getLogger(__name__)
ACTOR = "system:ticker"
CHUNK = 500
"""Due schedules planned per batch of appends."""
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
Item = tuple[str, Envelope, str]
ORPHANS_PER_TICK = 100
"""Runs of deleted schedules a tick ends at most (scheduler/orphans.py)."""
LOSSES_PER_TICK = 1_000
"""Runs a tick declares lost at most (each a read and a conditional append: ~0.12 ms of our CPU
and ~0.05 ms of the server's, bench/lost_burst.py); the others' entries are looked at again
APPEND_RETRY later, so the next fires are not held up."""
SNAPSHOT_OBJECT = "ticker"
READER_WAIT_S = 2.0
"""How long a leader waits for a shared reader that lost its place to be current again before
it reads the log's tail itself (the fires due meanwhile are that much late)."""


@dataclass(slots=True)
class Planned:
    """One entry's decisions at a future instant, encoded; valid while its generation holds."""

    entry: Entry
    generation: int
    items: list[Item]
    prepared: list[Prepared]
    decisions: list[Decision]
    complete: str | None
    loses: list[Lose]
    """Runs to declare lost: not among `items`, each is appended on its own (lost.py)."""


class Ticker:
    """Emits due triggers; run one per scheduler replica, only the lease holder ticks."""

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
        self.log = event_log
        self.clock = clock or SystemClock()
        self.lease = lease or SoloLease()
        self.handler = handler or CommandHandler(event_log, self.clock)
        self.state = TickerState(lost_grace)
        self.emitted = 0
        self.queue = DueQueue()
        """Entries by the instant they next need attention.

        why an entry is pushed only when that instant changes: a push per applied event grew
        the queue with the history (a run's events rarely move its next due time)."""
        self.cadence = snapshots.Cadence(snapshot_every) if snapshot_every else None
        """When to store a checkpoint of the state (None: never; a restart reads from seq 1)."""
        self.poison = 0
        self.unconfirmed = Unconfirmed()
        self.stalls = StallWatch()
        """When the log last refused appends for want of storage (a missed fire says so)."""
        """Appends sent without an ack (NATS away), until the log shows what became of them."""
        self._wake = asyncio.Event()
        self._caught_up = asyncio.Event()
        self._completing: set[str] = set()
        self._ticking: set[str] = set()
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
        self._quiet = asyncio.Event()
        """Clear while a planned burst is sent: the reader then waits before folding more.

        why: the log hands our own triggers back while the server is still storing the rest
        of the burst; decoding and folding them then only took CPU from it (they are applied
        ahead once acked; the reader then only passes over them)."""
        self._quiet.set()
        self._orphans_tried: set[str] = set()
        """Orphans (runs of deleted schedules) this leader tried to cancel (orphans.py)."""
        self.taken_over: datetime | None = None
        """When this ticker last became the leader, or NATS last came back to it while it
        led (planner.SETTLE: a fire that finds a run fired before then in flight waits a moment
        for its result before it is skipped, and no run is declared lost before it ends)."""
        self._held: dict[str, datetime] = {}
        """Schedule id -> the fire whose hold was logged (one line per held fire, not per look)."""
        self._stale = True
        """The state must be read to the log's end before the next decision (a new leader, a
        new life of the tick loop)."""
        self._reconnects = -1
        """The connection's reconnect count when the state was last read to the log's end."""

    @property
    def position(self) -> int:
        """The last sequence the state reflects."""
        return self.state.position

    async def run(self, stop: asyncio.Event, current: asyncio.Event | None = None) -> None:
        """Follow the log and tick until stop is set.

        With `current`, a shared reader feeds this ticker through `take` and sets `current`
        once it has delivered everything the log held; ticking waits for it, as it waits for
        its own reader otherwise.
        """
        if current is not None:
            self._caught_up = current
            await self._tick_loop(stop)
            return
        async with asyncio.TaskGroup() as tg:
            reader = tg.create_task(self._follow())
            ticker = tg.create_task(self._tick_loop(stop))
            await stop.wait()
            self._wake.set()
            await ticker
            reader.cancel()

    async def catch_up(self) -> None:
        """Read the log up to its current end (burst mode for tests and start-up)."""
        end = await self.log.last_seq()
        if end > self.state.position:
            with collector_paused():
                async for batch in self.log.read(from_seq=self.state.position + 1, until_seq=end):
                    self._apply_batch(batch)
        self.state.advance(end)

    async def take(self, batch: list[StoredEvent]) -> None:
        """Apply a batch from a shared reader; store a checkpoint when one is due."""
        await self._quiet.wait()
        self._apply_batch(batch)
        if self.cadence is not None and self.cadence.folded(len(batch)):
            await self.save_snapshot()

    async def restore(self) -> None:
        """Start from the stored checkpoint, if there is one (else from sequence 1)."""
        data = await snapshots.load_checkpoint(self.log.nc, SNAPSHOT_OBJECT)
        state = state_from(data, self.state.lost_grace) if data else None
        if state is None or state.position <= self.state.position:
            return
        self.state, self.queue = state, DueQueue()
        for entry in [*state.entries.values(), *state.retired.values()]:
            self._reschedule(entry)
        log.info("ticker restored at seq %d (%d schedules)", state.position, len(state.entries))

    async def save_snapshot(self, *, leader_only: bool = True) -> None:
        """Store the state with its position (by default the leader only: every replica folds
        the same; any replica on its way out)."""
        if (leader_only and not self.lease.is_leader()) or not self.log.nc.is_connected:
            return
        started = time.monotonic()
        try:
            await snapshots.save(self.log.nc, SNAPSHOT_OBJECT, snapshot_of(self.state))
        except Exception as err:  # noqa: BLE001 - the next checkpoint tries again
            log.warning("ticker checkpoint failed: %s", err)
            return
        if self.cadence is not None:
            self.cadence.taken(started)

    async def tick(self) -> int:
        """Handle everything due now; returns how many events were appended."""
        now = self.clock.now()
        self.stalls.observe(STORAGE.since is not None, now)
        appended = await self._tick_due(now)
        if self.state.orphans.keys() - self._orphans_tried:
            # why: after the fires, a bounded share per tick: a delete must not delay them; the
            # reader handing our cancels back wakes the next tick for the rest
            appended += await orphans.settle(
                self.log, self.state, self._orphans_tried, now, ACTOR, limit=ORPHANS_PER_TICK
            )
        return appended

    async def _tick_due(self, now: datetime) -> int:
        """Fire what is due at `now` (the planned burst first); how many events were appended."""
        due: dict[str, Entry] = {}
        while (first := self.queue.first()) is not None and first <= now:
            for entry in self._pop():
                due[entry.schedule_id] = entry
        ready, staged = self._take_plan(now, due)
        if not due and not ready:
            return 0
        entries = list(due.values()) + [p.entry for p in ready]
        self._ticking = {e.schedule_id for e in entries}
        try:
            # why: a burst allocates a lot and frees nothing until its acks are in; a collector
            # pass over the heap in the middle of it only delays the burst (see catch_up)
            with collector_paused() if ready else contextlib.nullcontext():
                appended = await self._fire(list(due.values()), now, ready, staged)
        finally:
            self._ticking = set()
            for entry in entries:
                nxt = self._next_due(entry)
                if nxt is not None and nxt > now:
                    self._reschedule(entry)
                elif nxt is not None:
                    # why: its append failed (NATS away): look again soon instead of dropping it
                    self._push(now + APPEND_RETRY, entry)
        return appended

    async def plan_ahead(self) -> int:
        """Decide and encode the next burst (PLAN_MIN+ schedules due at one instant within
        PLAN_AHEAD) now, so when it is due only sending is left; returns how many were planned.

        why: NATS's own scheduler only has to store a message when it is due; we also have to
        decide (catch-up, overlap, ids, envelope) and encode, ~60 us a fire on this machine.
        An entry whose state changes before the burst (its generation moves) is decided again.
        """
        at = self.queue.first()
        if self._planned is not None or at is None or at - self.clock.now() > PLAN_AHEAD:
            return 0
        # why: out of the queue while planned; the reader queues those it changes meanwhile
        entries = {e.schedule_id: e for e in self._pop()}
        if len(entries) < PLAN_MIN:
            for entry in entries.values():
                self.queue.push(at, entry)
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
            planned.append(self._decide(entry, at))
        self._staged = self.log.stage([x for p in planned for x in p.prepared])
        for entry in todo[len(planned) :]:
            if entry.queued is None:  # why: the reader did not queue it elsewhere meanwhile
                self.queue.push(at, entry)
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

    async def _fire(
        self, entries: list[Entry], now: datetime, ready: list[Planned], staged: Staged | None
    ) -> int:
        appends: list[asyncio.Future[int]] = []
        if ready:
            appends.append(asyncio.ensure_future(self._append(ready, now, staged)))
            await asyncio.sleep(0)  # why: the planned burst goes out first
        every = list(ready)
        for i in range(0, len(entries), CHUNK):
            planned = [self._decide(entry, now) for entry in entries[i : i + CHUNK]]
            appends.append(asyncio.ensure_future(self._append(planned, now)))
            await asyncio.sleep(0)  # why: the first chunk goes out while the next is planned
            every += planned
        appended = sum(await asyncio.gather(*appends))
        done = await asyncio.gather(
            *(self._complete(p.entry, p.complete, now) for p in every if p.complete is not None)
        )
        # why: after the fires: each loss is a read and a conditional append of its own
        losses = [(p.entry, x) for p in every for x in p.loses][:LOSSES_PER_TICK]
        if losses:
            appended += await lost.declare_all(
                self.log, self.state, losses, now, ACTOR,
                self._reconnects if self._reconnects >= 0 else None,
            )  # fmt: skip
        return appended + sum(done)

    def _decide(self, entry: Entry, now: datetime) -> Planned:
        """What this entry appends at `now`, encoded."""
        items: list[Item] = []
        decisions: list[Decision] = []
        complete: str | None = None
        loses: list[Lose] = []
        # why: owed fates alone first; the entry's own decisions once they are folded (a tick
        # later), so overlap sees an owed trigger's run
        owing = self._owed(entry, now) if entry.schedule_id in self.state.owed else []
        due = owing or [
            (entry, d)
            for d in decide_due(
                entry,
                now,
                self.state.calendars,
                self.stalls.last,
                self.taken_over,
                self.state.lost_grace,
            )
        ]
        for then, decision in due:
            if isinstance(decision, Hold):
                # why: no event; the entry stays due, so the tick looks again APPEND_RETRY later,
                # and the reader folding the run's end wakes it at once
                self._note_hold(entry, decision)
                continue
            if isinstance(decision, Complete):
                complete = decision.reason
                continue
            if isinstance(decision, Lose):
                loses.append(decision)  # why: under a compare-and-set, not in the batch (lost.py)
                continue
            subject, event, msg_id = appends.event_for(then, decision)
            envelope = Envelope(
                id=ids.new_id(), at=now, actor=ACTOR, event=event, causation_id=msg_id
            )
            items.append((subject, envelope, msg_id))
            decisions.append(decision)
        prepared = self.log.prepare(items)
        return Planned(entry, entry.generation, items, prepared, decisions, complete, loses)

    def _owed(self, entry: Entry, now: datetime) -> list[tuple[Entry, Decision]]:
        """The fates this entry owes fires due before its last pause, update or delete."""
        if stale := owed.stale(self.state.owed[entry.schedule_id], now):
            log.warning(
                "ticker: %s: %d fate(s) of fires due before it was %s at %s were never "
                "appended and are too old to append now",
                entry.name, sum(len(o.fates) for o in stale), stale[0].change, iso_z(stale[0].at),
            )  # fmt: skip
            self.state.forget(entry, stale)
        records = self.state.owed.get(entry.schedule_id, [])
        decided = owed.decisions(entry, records, now)
        if not decided:
            self.state.forget(entry, records)  # why: nothing left to append (never stuck owing)
        return decided

    def _note_hold(self, entry: Entry, hold: Hold) -> None:
        """Say once per held fire why it waits (its trigger will look late without a reason)."""
        if self._held.get(entry.schedule_id) == hold.fire_time:
            return
        self._held[entry.schedule_id] = hold.fire_time
        log.info(
            "ticker: %s (fire %s) waits until %s for the result of run %s, fired before this "
            "leader took over, before overlap skips it",
            entry.name, iso_z(hold.fire_time), iso_z(hold.until), hold.blocking_run_id,
        )  # fmt: skip

    async def _append(
        self, planned: list[Planned], now: datetime, staged: Staged | None = None
    ) -> int:
        """Send the planned events (`staged`: all of them, framed ahead); apply what was stored."""
        if staged is None:
            prepared = [x for p in planned for x in p.prepared]
            return await self._stored(planned, now, await self.log.publish_prepared(prepared))
        self._quiet.clear()
        try:
            return await self._stored(planned, now, await self.log.publish_staged(staged))
        finally:
            self._quiet.set()

    async def _stored(
        self, planned: list[Planned], now: datetime, acks: list[PubAck | Exception]
    ) -> int:
        """Apply the planned events the log stored (acks in their order); how many it stored."""
        results = iter(acks)
        appended = 0
        for p in planned:
            for (subject, envelope, _), decision in zip(p.items, p.decisions, strict=True):
                if self._appended(p.entry, subject, envelope, decision, next(results), now):
                    appended += 1
                    if isinstance(decision, Cancel):
                        await self.log.nc.publish(subjects.cancel(decision.run_id), b"overlap")
        return appended

    def _appended(
        self,
        entry: Entry,
        subject: str,
        envelope: Envelope,
        decision: Decision,
        result: PubAck | Exception,
        now: datetime,
    ) -> bool:
        """Apply one stored event of ours ahead of the reader; False if it was not stored."""
        msg_id = envelope.causation_id or ""
        if isinstance(result, Exception):
            what = appends.describe(entry, decision)
            if ack_lost(result):
                self.unconfirmed.add(msg_id, what, result)
            else:
                if storage_full(result):
                    self.stalls.observe(True, now)
                log.error("ticker: %s not stored: %s", what, result)
            return False
        if self.unconfirmed:
            self.unconfirmed.acked(msg_id, result)
        if result.duplicate:
            # why: another event of this fire (the old leader's trigger, or its missed/
            # skipped) is stored under the same msg id; the reader applies that one.
            return False
        self.state.apply_ahead(StoredEvent(result.seq, subject, envelope))
        if isinstance(decision, Trigger):
            self.emitted += 1
            if log.isEnabledFor(logging.DEBUG):
                log.debug(
                    "trigger %s fire %s lateness %.1f ms",
                    entry.name,
                    decision.fire_time.isoformat(),
                    (now - decision.fire_time).total_seconds() * 1000,
                )
        return True

    async def _follow(self) -> None:
        end = await self.log.last_seq()
        if end <= self.state.position:
            self._caught_up.set()
        with contextlib.ExitStack() as loading:
            if not self._caught_up.is_set():
                loading.enter_context(collector_paused())  # why: a load, as in catch_up
            async for batch in self.log.read(from_seq=self.state.position + 1, follow=True):
                await self._quiet.wait()
                self._apply_batch(batch)
                if batch[-1].seq >= end and not self._caught_up.is_set():
                    loading.close()
                    gc.collect()  # why: what the paused load left in cycles is not frozen for good
                    gc.freeze()  # why: the loaded entries live as long as the ticker; keep them out of GC scans
                    self._caught_up.set()

    def _apply_batch(self, batch: list[StoredEvent]) -> None:
        touched: dict[str, Entry] = {}
        # why: a refold meets changes long past, whose fires' events may have aged out
        self.state.owed_since = self.clock.now() - owed.MAX_AGE
        apply, ticking = self.state.apply, self._ticking
        # why: looked at once a batch (a load would call its __bool__ once per schedule);
        # folding never adds to it
        unconfirmed = self.unconfirmed if self.unconfirmed else None
        for stored in batch:
            if unconfirmed is not None:
                unconfirmed.seen(stored)
            try:
                entry = apply(stored)
            except Exception:  # noqa: BLE001 - one bad event must not stop the ticker (or serve's reader)
                self.poison += 1
                log.exception("ticker could not fold event seq=%d", stored.seq)
                continue
            # why: entries in the middle of a tick are rescheduled once when it ends
            if entry is not None and entry.schedule_id not in ticking:
                touched[entry.schedule_id] = entry
        # why: once per entry and batch, not per event: a run's events each touch its entry
        for entry in touched.values():
            self._reschedule(entry)
        self.state.advance(batch[-1].seq)
        if self.state.orphans and self.state.orphans.keys() - self._orphans_tried:
            self._wake.set()  # why: a deleted schedule left runs nobody took: tick ends them

    def _next_due(self, entry: Entry) -> datetime | None:
        """When the entry next needs attention (firetimes.next_due); at once while it owes."""
        records = self.state.owed.get(entry.schedule_id) if self.state.owed else None
        return next_due(entry) if records is None else owed.due(records)

    def _reschedule(self, entry: Entry) -> None:
        due = self._next_due(entry)
        if due is None or not self.state.holds(entry):
            DueQueue.drop(entry)
        elif entry.queued != due and self.queue.push(due, entry):
            self._wake.set()  # why: earlier than what the tick loop sleeps towards (as _push)

    def _push(self, due: datetime, entry: Entry) -> None:
        if self.queue.push(due, entry):
            self._wake.set()  # why: earlier than what the tick loop sleeps towards

    def _pop(self) -> list[Entry]:
        """The entries the state still holds at the queue's earliest instant, taken off it."""
        entries, retired = self.state.entries, self.state.retired
        # why: an entry replaced in the state (deleted, created again) is no longer ours to fire;
        # a deleted one with runs in flight (retired) still has their deadlines
        return [
            e
            for e in self.queue.pop()[1]
            if entries.get(e.schedule_id) is e or (retired and retired.get(e.schedule_id) is e)
        ]

    async def _tick_loop(self, stop: asyncio.Event) -> None:
        await self._caught_up.wait()
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
                    self._orphans_tried.clear()
                continue
            back = leading and self.log.nc.stats["reconnects"] != self._reconnects
            if self._behind() and not await self._read_to_end(stop):
                continue
            if not leading or back:
                # why: NATS back to a leader that kept its lease is a take-over too: the
                # results executors held through the outage are still on their way (SETTLE)
                leading, self.taken_over = True, self.clock.now()
                self._held.clear()
            await self.tick()
            first = self.queue.first()
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
            or self.log.nc.stats["reconnects"] != self._reconnects
            or not self._caught_up.is_set()
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
        if not self._stale and reconnects == self._reconnects:
            if await _set_within(self._caught_up, stop, READER_WAIT_S):
                return not stop.is_set() and self.lease.is_leader()
            log.info(
                "ticker: the log reader is still behind after %gs; reading the log's tail itself",
                READER_WAIT_S,
            )
        await self.catch_up()
        self._stale, self._reconnects = False, reconnects
        return not stop.is_set() and self.lease.is_leader()

    async def _sleep(self, stop: asyncio.Event) -> None:
        self._wake.clear()
        waits: list[Coroutine[Any, Any, Any]] = [
            self._wake.wait(),
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
        top = self.queue.first()
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
            self.stalls.observe(STORAGE.since is not None, self.clock.now())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_first_of(self.lease.changed.wait(), stop.wait()), 1.0)
        self.lease.changed.clear()

    async def _complete(self, entry: Entry, reason: str, now: datetime) -> int:
        try:
            return await self._send_complete(entry, reason, now)
        except Exception as err:  # noqa: BLE001 - one failed completion must not stop the ticker
            log.error("ticker: completing %s failed: %s", entry.name, err)
            return 0

    async def _send_complete(self, entry: Entry, reason: str, now: datetime) -> int:
        if entry.schedule_id in self._completing:
            return 0
        self._completing.add(entry.schedule_id)
        try:
            return await self._completed(entry, reason, now)
        finally:
            # why: only while the command is out; an update may reopen the schedule later, and
            # if it has no fires after all it must be completed again (not left active for good)
            self._completing.discard(entry.schedule_id)

    async def _completed(self, entry: Entry, reason: str, now: datetime) -> int:
        """Send the CompleteSchedule command; apply what it stored; how many events."""
        command = CompleteSchedule(
            name=entry.name,
            schedule_id=entry.schedule_id,
            # why: per version, not per schedule: the handler never applies a command id twice,
            # so after an update reopened it, a schedule that runs out again could not complete
            command_id=f"complete:{entry.schedule_id}:{entry.version}",
            at=now,
            actor=ACTOR,
            reason=reason,
        )
        events = await self.handler.handle(command)
        for stored in events:
            self.state.apply_ahead(stored)
        return len(events)


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
