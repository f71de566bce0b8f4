"""A planner decision as the event the ticker appends: its subject, the event, its msg id; pure.

The msg id is the fire id (or the run id with a suffix), so two leaders during a hand-over
append each fate of a fire once.
"""

from __future__ import annotations

from typing import Any

from jetcron import ids, subjects
from jetcron.clock import iso_z
from jetcron.domain.envelope import AnyEvent
from jetcron.domain.events import FireBuffered, FireMissed, RunCancelRequested, RunSkipped
from jetcron.domain.runs import run_triggered
from jetcron.scheduler import members
from jetcron.scheduler.entry import Entry
from jetcron.scheduler.firetimes import jitter_of
from jetcron.scheduler.planner import Buffer, Cancel, Decision, Miss, Skip, Trigger


def describe(entry: Entry, decision: Decision) -> str:
    """One decision in a log line: `Trigger for backup (fire 2026-…Z)`."""
    fire = getattr(decision, "fire_time", None)
    of = f" (fire {iso_z(fire)})" if fire is not None else ""
    return f"{type(decision).__name__} for {entry.name}{of}"


def event_for(entry: Entry, decision: Decision) -> tuple[str, AnyEvent, str]:
    """(subject, event, Nats-Msg-Id) for one decision; pure (a Lose: lost.item, whose reason
    needs the ticker's state)."""
    if isinstance(decision, Cancel):
        return _cancel(entry, decision)
    assert isinstance(decision, Trigger | Miss | Skip | Buffer)
    fire = ids.fire_id(entry.schedule_id, entry.version, decision.fire_time)
    common: dict[str, Any] = {
        "schedule_id": entry.schedule_id,
        "name": entry.name,
        "fire_id": fire,
        "fire_time": decision.fire_time,
    }
    d = entry.definition
    if isinstance(decision, Trigger):
        jitter = jitter_of(entry, decision.fire_time).total_seconds()
        event: AnyEvent = run_triggered(
            d, version=entry.version, run_id=ids.run_id_for(fire), jitter_s=jitter, **common
        )
        return subjects.trigger(d.target), event, fire
    if isinstance(decision, Miss):
        # why: the terminal fates of one fire (triggered, missed, skipped) share its msg id,
        # so two leaders that disagree during a hand-over still record exactly one of them.
        return subjects.fire(entry.name), FireMissed(**common, reason=decision.reason), fire
    if isinstance(decision, Skip):
        event = RunSkipped(
            **common, reason=decision.reason, blocking_run_id=decision.blocking_run_id
        )
        return subjects.fire(entry.name), event, fire
    blocking = decision.blocking_run_id or next(iter(members.blocking(entry.running())), None)
    return (
        subjects.fire(entry.name),
        FireBuffered(**common, blocking_run_id=blocking),
        f"{fire}:buffered",
    )


def _cancel(entry: Entry, decision: Cancel) -> tuple[str, AnyEvent, str]:
    event = RunCancelRequested(
        schedule_id=entry.schedule_id,
        name=entry.name,
        run_id=decision.run_id,
        reason="overlap: cancel_previous",
    )
    return (
        subjects.run_by_scheduler(entry.name, decision.run_id),
        event,
        f"{decision.run_id}:cancel",
    )
