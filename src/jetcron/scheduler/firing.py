"""How the ticker fires: each due entry's decisions (planner.py) as encoded events, sent in
chunks, applied ahead of the reader once stored; runs declared lost; schedules completed."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from datetime import datetime

from jetcron import ids, subjects
from jetcron.clock import iso_z
from jetcron.domain.commands import CompleteSchedule
from jetcron.domain.envelope import Envelope, StoredEvent
from jetcron.domain.lateness import lateness_s
from jetcron.log.acks import PubAck, ack_lost
from jetcron.log.errors import no_leader, storage_full
from jetcron.log.publisher import Staged
from jetcron.log.stream import Prepared
from jetcron.scheduler import appends, lost, owed
from jetcron.scheduler.entry import Entry
from jetcron.scheduler.handler import CommandHandler
from jetcron.scheduler.late_cause import Held, Seen
from jetcron.scheduler.planner import (
    Cancel,
    Complete,
    Decision,
    Hold,
    Lose,
    Trigger,
    decide_due,
)
from jetcron.scheduler.stalls import StallWatch, seen
from jetcron.scheduler.tickfold import TickerFold

log = logging.getLogger(
    "jetcron.scheduler.ticker"
)  # why: the ticker's one logger, as before the split
ACTOR = "system:ticker"
CHUNK = 500
"""Due schedules planned per batch of appends."""
Item = tuple[str, Envelope, str]
LOSSES_PER_TICK = 1_000
"""Runs a tick declares lost at most (each a read and a conditional append: ~0.12 ms of our CPU
and ~0.05 ms of the server's, bench/lost_burst.py); the others' entries are looked at again
APPEND_RETRY later, so the next fires are not held up."""


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


class Firing:
    """Decides, encodes and appends what is due; completes schedules that have run out (a part
    of the Ticker, on the state its fold keeps)."""

    def __init__(self, fold: TickerFold, handler: CommandHandler | None) -> None:
        self.fold = fold
        self.log, self.clock = fold.log, fold.clock
        self.handler = handler or CommandHandler(fold.log, fold.clock)
        self.emitted = 0
        """Triggers this ticker stored."""
        self.stalls = StallWatch()
        """When the log last refused appends for want of storage (a missed fire says so)."""
        self._completing: set[str] = set()
        self.reconnects = -1
        """The connection's reconnect count when the state was last read to the log's end."""
        self.taken_over: datetime | None = None
        """When this ticker last became the leader, or NATS last came back to it while it
        led (planner.SETTLE: a fire that finds a run fired before then in flight waits a moment
        for its result before it is skipped, and no run is declared lost before it ends)."""
        self._held: dict[str, Held] = {}
        """Schedule id -> the hold logged (one line per held fire, not per look; a fire decided
        late after it says it waited: late_cause)."""
        self._seen: tuple[datetime, Seen] | None = None
        """What this ticker saw (late_cause.Seen), gathered once per instant decided."""

    def took_over(self, now: datetime) -> None:
        """This ticker leads from `now` on (a new leadership, or NATS back to the leader)."""
        self.taken_over = now
        self._held.clear()

    async def fire(
        self, entries: list[Entry], now: datetime, ready: list[Planned], staged: Staged | None
    ) -> int:
        """Append the planned burst (`ready`, `staged`) and what `entries` decide at `now`,
        then completions and lost runs; how many events were stored."""
        appends: list[asyncio.Future[int]] = []
        if ready:
            appends.append(asyncio.ensure_future(self._append(ready, now, staged)))
            await asyncio.sleep(0)  # why: the planned burst goes out first
        every = list(ready)
        for i in range(0, len(entries), CHUNK):
            planned = [self.decide(entry, now) for entry in entries[i : i + CHUNK]]
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
                self.log, self.fold.state, losses, now, ACTOR,
                self.reconnects if self.reconnects >= 0 else None,
            )  # fmt: skip
        return appended + sum(done)

    def decide(self, entry: Entry, now: datetime) -> Planned:
        """What this entry appends at `now`, encoded."""
        items: list[Item] = []
        decisions: list[Decision] = []
        complete: str | None = None
        loses: list[Lose] = []
        # why: owed fates alone first; the entry's own decisions once they are folded (a tick
        # later), so overlap sees an owed trigger's run
        owing = self._owed(entry, now) if entry.schedule_id in self.fold.state.owed else []
        due = owing or [
            (entry, d)
            for d in decide_due(
                entry,
                now,
                self.fold.state.calendars,
                self._seen_at(entry, now),
                self.taken_over,
                self.fold.state.lost_grace,
                self.fold.state.unstarted,
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

    def _seen_at(self, entry: Entry, now: datetime) -> Seen:
        """What this ticker saw at `now` (its gaps, the lease's tenures), with the entry's hold.

        why once per instant: a burst decides thousands of entries at one `now`."""
        if self._seen is None or self._seen[0] != now:
            self._seen = (now, seen(self.stalls, self.fold.lease))
        held = self._held.get(entry.schedule_id)
        return self._seen[1] if held is None else replace(self._seen[1], held=held)

    def _owed(self, entry: Entry, now: datetime) -> list[tuple[Entry, Decision]]:
        """The fates this entry owes fires due before its last pause, update or delete."""
        if stale := owed.stale(self.fold.state.owed[entry.schedule_id], now):
            log.warning(
                "ticker: %s: %d fate(s) of fires due before it was %s at %s were never "
                "appended and are too old to append now",
                entry.name, sum(len(o.fates) for o in stale), stale[0].change, iso_z(stale[0].at),
            )  # fmt: skip
            self.fold.state.forget(entry, stale)
        records = self.fold.state.owed.get(entry.schedule_id, [])
        decided = owed.decisions(entry, records, now)
        if not decided:
            # why: nothing left to append (never stuck owing)
            self.fold.state.forget(entry, records)
        return decided

    def _note_hold(self, entry: Entry, hold: Hold) -> None:
        """Say once per held fire why it waits (its trigger will look late without a reason)."""
        held = self._held.get(entry.schedule_id)
        if held is not None and held.fire == hold.fire_time:
            return
        self._held[entry.schedule_id] = Held(hold.fire_time, hold.blocking_run_id, hold.until)
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
        self.fold.quiet.clear()
        try:
            return await self._stored(planned, now, await self.log.publish_staged(staged))
        finally:
            self.fold.quiet.set()

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
                self.fold.unconfirmed.add(msg_id, what, result)
            else:
                if storage_full(result):
                    self.stalls.observe(True, now)
                    self._seen = None  # why: the next decision at this instant sees the stall
                if no_leader(result):  # why: an election; the fire is decided again next tick
                    log.warning("ticker: %s not stored yet: %s; retrying", what, result)
                else:
                    log.error("ticker: %s not stored: %s", what, result)
            return False
        if self.fold.unconfirmed:
            self.fold.unconfirmed.acked(msg_id, result)
        if result.duplicate:
            # why: another event of this fire (the old leader's trigger, or its missed/
            # skipped) is stored under the same msg id; the reader applies that one.
            return False
        self.fold.state.apply_ahead(StoredEvent(result.seq, subject, envelope))
        if isinstance(decision, Trigger):
            self.emitted += 1
            if log.isEnabledFor(logging.DEBUG):
                log.debug(
                    "trigger %s fire %s lateness %.1f ms",
                    entry.name,
                    decision.fire_time.isoformat(),
                    lateness_s(now, decision.fire_time, getattr(envelope.event, "jitter_s", 0.0))
                    * 1000,
                )
        return True

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
            self.fold.state.apply_ahead(stored)
        return len(events)
