"""The ticker's view of the log: its TickerState, folded from the log (its own reader or a
shared one) and checkpointed, and the queue of the instants each schedule next needs attention."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from datetime import datetime, timedelta

from jetcron.clock import Clock
from jetcron.domain.envelope import StoredEvent
from jetcron.log import snapshots
from jetcron.log.lease import Leadership
from jetcron.log.stream import EventLog
from jetcron.memory import collector_paused
from jetcron.scheduler import firetimes, owed
from jetcron.scheduler.checkpoint import snapshot_of, state_from
from jetcron.scheduler.entry import Entry
from jetcron.scheduler.queue import DueQueue
from jetcron.scheduler.state import TickerState
from jetcron.scheduler.unconfirmed import Unconfirmed

log = logging.getLogger(
    "jetcron.scheduler.ticker"
)  # why: the ticker's one logger, as before the split
SNAPSHOT_OBJECT = "ticker"


class TickerFold:
    """The state a ticker decides on, kept current from the log, and its due queue (a part of
    the Ticker, which builds it)."""

    def __init__(
        self,
        event_log: EventLog,
        *,
        clock: Clock,
        lease: Leadership,
        snapshot_every: int | None,
        lost_grace: timedelta,
    ) -> None:
        self.log = event_log
        self.clock = clock
        self.lease = lease
        self.state = TickerState(lost_grace)
        self.queue = DueQueue()
        """Entries by the instant they next need attention.

        why an entry is pushed only when that instant changes: a push per applied event grew
        the queue with the history (a run's events rarely move its next due time)."""
        self.cadence = snapshots.Cadence(snapshot_every) if snapshot_every else None
        """When to store a checkpoint of the state (None: never; a restart reads from seq 1)."""
        self.poison = 0
        self.unconfirmed = Unconfirmed()
        """Appends sent without an ack (NATS away), until the log shows what became of them."""
        self.wake = asyncio.Event()
        """Set when the tick loop should look again before the instant it sleeps towards."""
        self.caught_up = asyncio.Event()
        """Set once the reader has folded what the log held when it began (or a shared reader's)."""
        self.ticking: set[str] = set()
        """Schedule ids in the middle of a tick (rescheduled once when it ends, not per event)."""
        self.quiet = asyncio.Event()
        """Clear while a planned burst is sent: the reader then waits before folding more.

        why: the log hands our own triggers back while the server is still storing the rest
        of the burst; decoding and folding them then only took CPU from it (they are applied
        ahead once acked; the reader then only passes over them)."""
        self.quiet.set()
        self.orphans_tried: set[str] = set()
        """Orphans (runs of deleted schedules) this leader tried to cancel (orphans.py)."""

    @property
    def position(self) -> int:
        """The last sequence the state reflects."""
        return self.state.position

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
        await self.quiet.wait()
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
            self.reschedule(entry)
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

    async def follow(self) -> None:
        """Read the log from the state's position on, for good; `caught_up` once at its end."""
        end = await self.log.last_seq()
        if end <= self.state.position:
            self.caught_up.set()
        with contextlib.ExitStack() as loading:
            if not self.caught_up.is_set():
                loading.enter_context(collector_paused())  # why: a load, as in catch_up
            async for batch in self.log.read(from_seq=self.state.position + 1, follow=True):
                await self.quiet.wait()
                self._apply_batch(batch)
                if batch[-1].seq >= end and not self.caught_up.is_set():
                    loading.close()
                    gc.collect()  # why: what the paused load left in cycles is not frozen for good
                    gc.freeze()  # why: the loaded entries live as long as the ticker; keep them out of GC scans
                    self.caught_up.set()

    def _apply_batch(self, batch: list[StoredEvent]) -> None:
        touched: dict[str, Entry] = {}
        # why: a refold meets changes long past, whose fires' events may have aged out
        self.state.owed_since = self.clock.now() - owed.MAX_AGE
        apply, ticking = self.state.apply, self.ticking
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
            self.reschedule(entry)
        self.state.advance(batch[-1].seq)
        if self.state.orphans and self.state.orphans.keys() - self.orphans_tried:
            self.wake.set()  # why: a deleted schedule left runs nobody took: tick ends them

    def next_due(self, entry: Entry) -> datetime | None:
        """When the entry next needs attention (firetimes.next_due); at once while it owes."""
        records = self.state.owed.get(entry.schedule_id) if self.state.owed else None
        return firetimes.next_due(entry) if records is None else owed.due(records)

    def reschedule(self, entry: Entry) -> None:
        """Queue the entry at its next due instant (or drop it: nothing due, or not held)."""
        due = self.next_due(entry)
        if due is None or not self.state.holds(entry):
            DueQueue.drop(entry)
        elif entry.queued != due and self.queue.push(due, entry):
            self.wake.set()  # why: earlier than what the tick loop sleeps towards (as push)

    def push(self, due: datetime, entry: Entry) -> None:
        """Queue the entry at `due`; wake the tick loop if that is earlier than it sleeps to."""
        if self.queue.push(due, entry):
            self.wake.set()  # why: earlier than what the tick loop sleeps towards

    def pop(self) -> list[Entry]:
        """The entries the state still holds at the queue's earliest instant, taken off it."""
        entries, retired = self.state.entries, self.state.retired
        # why: an entry replaced in the state (deleted, created again) is no longer ours to fire;
        # a deleted one with runs in flight (retired) still has their deadlines
        return [
            e
            for e in self.queue.pop()[1]
            if entries.get(e.schedule_id) is e or (retired and retired.get(e.schedule_id) is e)
        ]
