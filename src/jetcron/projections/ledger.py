"""Fire ledger: every nominal fire of every schedule and what became of it.

The fold of fire and run events into it: ledger_fold.py.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from collections.abc import Iterable
from datetime import datetime
from typing import Literal

import msgspec

from jetcron.projections.fanout import Member

Outcome = Literal["triggered", "missed", "skipped", "buffered"]


class LedgerEntry(msgspec.Struct, kw_only=True, gc=False, omit_defaults=True):
    """One nominal fire: triggered (then its run's status), missed or skipped, and why."""

    fire_id: str
    schedule: str
    schedule_id: str
    fire_time: datetime
    outcome: Outcome
    recorded_at: datetime
    """When the ticker decided the outcome."""
    run_id: str = ""
    reason: str = ""
    status: str = ""
    """Triggered fires only: `triggered`, `running`, `retrying` or `deferred`, then its final status."""
    seq: int = 0
    """Sequence of the event that recorded the outcome (trigger, miss, skip, buffer)."""
    actor: str = ""
    blocking_run_id: str = ""
    """Skipped or buffered: the run still in flight."""
    buffered_at: datetime | None = None
    """Triggered after waiting behind a run (overlap buffer_one): when it was buffered."""
    attempt: int = 0
    executor: str = ""
    detail: str = ""
    """The run's latest word: its error, or why it was deferred, cancelled or lost."""
    result_seq: int = 0
    """Sequence of the run's latest event (its final one once it ended)."""
    result_at: datetime | None = None
    result_actor: str = ""
    first_seq: int = 0
    """Sequence of the entry's first event (a buffered fire keeps it when it is triggered)."""
    backfill_of: str = ""
    """A backfill run's entry (its own fire id): the slot it ran; fates.fates folds it in."""
    fanout: bool = False
    """Triggered to `all:<tag>`: the fire's fate is its members' runs (`<run id>-<executor>`)."""
    members: dict[str, Member] | None = None
    """Fan-out: executor -> its run of this fire (None until a member speaks; why: an empty
    dict in every entry was 64 B a fire kept and a share_dict call each on restore)."""
    windowed: bool = False
    """Fan-out: in its schedule's settled window (members that start late may reopen it)."""
    jitter_s: float = 0.0
    """Triggered: the jitter the ticker chose for the fire (`RunTriggered.jitter_s`)."""


class LedgerView(msgspec.Struct, kw_only=True, gc=False):
    """Ledger entries by fire_id, indexed by schedule name.

    Bounded like the runs view: per schedule the last `keep` settled fires (missed, skipped,
    or triggered and final) stay; fires in flight or buffered always stay.
    """

    entries: dict[str, LedgerEntry] = {}
    by_schedule: dict[str, list[str]] = {}
    keep: int = 0
    """Settled entries kept per schedule (0: all)."""
    settled: dict[str, list[str]] = {}
    """Schedule name -> fire ids of its settled entries, oldest first."""
    queued: dict[str, str] = {}
    """`<schedule id> <fire time>` -> the fire id of each buffered fire not yet triggered or
    skipped.

    why: a fire id holds the schedule's version; a pause or an update while a fire waits makes
    its trigger or skip carry another id than its fire.buffered. Found here, it is the same
    fire, with one fate (`fires` listed it twice and `why` told the stale one)."""


def query(
    view: LedgerView,
    schedule: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> list[LedgerEntry]:
    """Fires newest first, optionally of one schedule name and at or after `since`."""
    entries: Iterable[LedgerEntry]
    if schedule is None:
        entries = view.entries.values()
    else:
        entries = (view.entries[k] for k in view.by_schedule.get(schedule, ()))
    if since is not None:
        entries = (e for e in entries if e.fire_time >= since)
    return heapq.nlargest(limit, entries, key=_fire_time)


def last_recorded_before(view: LedgerView, times: Iterable[datetime]) -> dict[datetime, datetime]:
    """For each time, the last moment the ticker recorded any fire before it.

    why: a missed fire is recorded when a scheduler is back; the record before it, of any
    schedule, is the last sign of a ticking scheduler, so the outage began after it.
    """
    wanted = set(times)
    if not wanted:
        return {}
    recorded = sorted(e.recorded_at for e in view.entries.values())
    found = {}
    for t in wanted:
        i = bisect_left(recorded, t)
        if i:
            found[t] = recorded[i - 1]
    return found


def kept_from(view: LedgerView, schedule: str) -> datetime | None:
    """The oldest fire still held for a schedule whose window is full (older ones were
    evicted), else None (every fire the log gave is still here)."""
    if not view.keep or len(view.settled.get(schedule, ())) < view.keep:
        return None
    keys = view.by_schedule.get(schedule, ())
    return min((view.entries[k].fire_time for k in keys), default=None)


def _fire_time(entry: LedgerEntry) -> datetime:
    return entry.fire_time
