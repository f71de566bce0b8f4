"""Fire ledger: every nominal fire of every schedule and what became of it."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Literal

import msgspec

from jetcron.domain.events import (
    FireEvent,
    FireMissed,
    RunCancelled,
    RunEvent,
    RunFailed,
    RunLost,
    RunSkipped,
    RunSucceeded,
    RunTimedOut,
    RunTriggered,
    StoredEvent,
)
from jetcron.projections.runs import OUTCOMES

Outcome = Literal["triggered", "missed", "skipped"]


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
    """Triggered fires only: `triggered` until the run ends, then its final status."""


class LedgerView(msgspec.Struct, kw_only=True, gc=False):
    """Ledger entries by fire_id, indexed by schedule name."""

    entries: dict[str, LedgerEntry] = {}
    by_schedule: dict[str, list[str]] = {}


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


def _fire_time(entry: LedgerEntry) -> datetime:
    return entry.fire_time


def _record(
    view: LedgerView, event: FireEvent, stored: StoredEvent, outcome: Outcome
) -> LedgerEntry | None:
    old = view.entries.get(event.fire_id)
    # why: a fire has one fate; only a run may override an earlier missed/skipped record.
    if old is not None and (old.outcome == "triggered" or outcome != "triggered"):
        return None
    entry = LedgerEntry(
        fire_id=event.fire_id,
        schedule=event.name,
        schedule_id=event.schedule_id,
        fire_time=event.fire_time,
        outcome=outcome,
        recorded_at=stored.envelope.at,
    )
    view.entries[event.fire_id] = entry
    if old is None:
        keys = view.by_schedule.get(event.name)
        if keys is None:
            view.by_schedule[event.name] = [event.fire_id]
        else:
            keys.append(event.fire_id)
    return entry


def _on_triggered(view: LedgerView, event: RunTriggered, stored: StoredEvent) -> None:
    # why: manual runs are not fires of the spec; the runs view has them.
    if event.manual:
        return
    entry = _record(view, event, stored, "triggered")
    if entry is not None:
        entry.run_id = event.run_id
        entry.status = "triggered"


def _on_missed(view: LedgerView, event: FireMissed, stored: StoredEvent) -> None:
    entry = _record(view, event, stored, "missed")
    if entry is not None:
        entry.reason = event.reason


def _on_skipped(view: LedgerView, event: RunSkipped, stored: StoredEvent) -> None:
    entry = _record(view, event, stored, "skipped")
    if entry is not None:
        entry.reason = event.reason


def _on_result(view: LedgerView, event: RunEvent, stored: StoredEvent) -> None:
    if isinstance(event, RunFailed | RunTimedOut) and event.next_retry_at is not None:
        return  # why: the ledger records outcomes; attempts are the runs view's job
    entry = view.entries.get(event.fire_id)
    # why: the first final outcome wins, as in the runs view.
    if entry is not None and entry.status == "triggered" and entry.run_id == event.run_id:
        entry.status = OUTCOMES[type(event)]


Handler = Callable[[LedgerView, Any, StoredEvent], None]
HANDLERS: dict[type, Handler] = {
    RunTriggered: _on_triggered,
    FireMissed: _on_missed,
    RunSkipped: _on_skipped,
    RunSucceeded: _on_result,
    RunFailed: _on_result,
    RunTimedOut: _on_result,
    RunCancelled: _on_result,
    RunLost: _on_result,
}
"""Event type -> fold step; the container routes events through this table."""
