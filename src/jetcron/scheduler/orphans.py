"""Runs a deleted schedule leaves behind that never started: the leader ends them as cancelled.

A trigger nobody took (its target has no executor online, or none at all) would otherwise wait
forever: its executor, if one ever comes, cancels it when it reads the schedule's lifecycle,
but until then the run is `triggered` in every view (and `health` says an executor is missing).
When a schedule is deleted, the ticker's state keeps each of its runs in flight as an orphan
(`orphaned`); the leader reads the run's events and, if none says it was taken, appends
`run.cancelled` (reason `schedule deleted`) under the same compare-and-set an executor's claim
uses (`Nats-Expected-Last-Subject-Sequence` over the run's writers' subjects). Of a claim and
this cancel racing for one run, exactly one is stored: the claimed run is the executor's to end
(it cancels its runs of a deleted schedule), the cancelled one is never started (the executor
finds it final when its claim fails and it reads the run again).

An orphan leaves the state with the first event of its run folded after the delete (ours or an
executor's), on every replica alike; the leader tries each orphan once per term (`tried`).
A taken run is not the scheduler's to cancel, but its executor may be dead: its deadline stays
with the deleted schedule's retired entry (state.TickerState.retired), and past it the ticker
declares it lost like any run.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Protocol

import msgspec

from jetcron import ids, subjects
from jetcron.domain.claims import accepted
from jetcron.domain.envelope import Envelope, StoredEvent
from jetcron.domain.events import RunCancelled, RunEvent
from jetcron.log.errors import ConcurrencyConflict
from jetcron.log.stream import EventLog

log = logging.getLogger(__name__)
REASON = "schedule deleted"


class Orphan(msgspec.Struct, array_like=True, gc=False):
    """A run in flight when its schedule was deleted: what its cancel event names."""

    schedule_id: str
    name: str
    fire_id: str
    fire_time: datetime


class Holder(Protocol):
    """What settling orphans needs of the ticker's state (state.TickerState)."""

    orphans: dict[str, Orphan]

    def apply_ahead(self, stored: StoredEvent) -> object:
        """Apply an event we appended ourselves before the reader reaches it."""
        ...


def taken(history: list[StoredEvent]) -> bool:
    """True if a run's events say someone took it (started, deferred, refused or ended it).

    why: a cancel request alone is no start; the run is still ours to cancel.
    """
    return any(isinstance(e.event, RunEvent) for e in accepted(history))


def cancel_of(run_id: str, orphan: Orphan) -> RunCancelled:
    """The event that ends an orphan that never started."""
    return RunCancelled(
        schedule_id=orphan.schedule_id,
        name=orphan.name,
        fire_id=orphan.fire_id,
        fire_time=orphan.fire_time,
        run_id=run_id,
        reason=REASON,
    )


async def settle(
    event_log: EventLog, state: Holder, tried: set[str], now: datetime, actor: str, limit: int
) -> int:
    """Cancel up to `limit` orphans not tried yet that nobody took; returns how many were."""
    cancelled = 0
    todo = [(r, o) for r, o in state.orphans.items() if r not in tried][:limit]
    for run_id, orphan in todo:
        tried.add(run_id)
        try:
            cancelled += await _settle_one(event_log, state, run_id, orphan, now, actor)
        except ConcurrencyConflict:
            # why: an executor claimed it at the same moment: it runs, and its executor ends it
            log.info("ticker: run %s of deleted %s was started meanwhile", run_id, orphan.name)
        except Exception as err:  # noqa: BLE001 - one failed cancel must not stop the ticker
            tried.discard(run_id)  # why: NATS away; a later tick tries again
            log.warning("ticker: cancelling run %s of deleted %s: %s", run_id, orphan.name, err)
            break
    return cancelled


async def _settle_one(
    event_log: EventLog, state: Holder, run_id: str, orphan: Orphan, now: datetime, actor: str
) -> int:
    history, last_seq = await event_log.load_run(orphan.name, run_id)
    if taken(history):
        return 0
    envelope = Envelope(
        id=ids.new_id(), at=now, actor=actor, reason=REASON, event=cancel_of(run_id, orphan)
    )
    subject = subjects.run_by_scheduler(orphan.name, run_id)
    [seq] = await event_log.append(
        subject,
        [envelope],
        expected_last_subject_seq=last_seq,
        expected_subject=subjects.run_events(orphan.name, run_id)[0],
        msg_id=f"{run_id}:deleted",
    )
    state.apply_ahead(StoredEvent(seq, subject, envelope))
    log.info("ticker: run %s of deleted %s cancelled (never started)", run_id, orphan.name)
    return 1
