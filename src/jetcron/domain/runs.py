"""Rules over run events: a trigger from its definition, when a run ends, its status, fan-out ids."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

import msgspec

from jetcron import subjects
from jetcron.domain.definition import ScheduleDefinition
from jetcron.domain.events import (
    Event,
    RunCancelled,
    RunDeferred,
    RunFailed,
    RunLost,
    RunStarted,
    RunSucceeded,
    RunTimedOut,
    RunTriggered,
)


def run_triggered(
    d: ScheduleDefinition,
    *,
    schedule_id: str,
    name: str,
    version: int,
    fire_id: str,
    fire_time: datetime,
    run_id: str,
    manual: bool = False,
    backfill_of: str = "",
    jitter_s: float = 0.0,
) -> RunTriggered:
    """The trigger of a run of definition `d`: what a run carries from its schedule, one rule
    for the ticker's fires and an operator's manual runs and backfills; `jitter_s`: the delay
    the ticker chose for a clock fire (its `--jitter`)."""
    # why: an executor that takes a clock fire late applies the catch-up policy itself
    # (executors/catchup.py); a forced run ignores it
    late_rules = not (manual or backfill_of)
    trigger = RunTriggered(
        schedule_id=schedule_id,
        name=name,
        fire_id=fire_id,
        fire_time=fire_time,
        run_id=run_id,
        version=version,
        target=d.target,
        job=d.job,
        timeout_s=d.timeout_s,
        retry=d.retry,
        conditions=d.conditions,
        manual=manual,
        backfill_of=backfill_of,
        catchup=d.catchup if late_rules else None,
        overlap=d.overlap if late_rules else None,
    )
    # why: set only when there is one, so a trigger without jitter is stored as before (the
    # default object is left out of the stored JSON; an equal 0.0 of our own would not be)
    return (
        msgspec.structs.replace(trigger, jitter_s=jitter_s) if jitter_s and late_rules else trigger
    )


FINISHED_RUN_EVENTS = (RunSucceeded, RunCancelled, RunLost)
"""Run events after which no other attempt follows (failures depend on next_retry_at)."""


def is_final(event: Event) -> bool:
    """True if this event ends its run (no further attempt will happen)."""
    if isinstance(event, FINISHED_RUN_EVENTS):
        return True
    if isinstance(event, RunFailed | RunTimedOut):
        return event.next_retry_at is None
    return False


def cancel_reason(asked: str) -> str:
    """The reason a cancelled run records for an operator's cancel that gave `asked`."""
    return f"cancel requested: {asked}" if asked else "cancel requested"


def between_attempts(events: Iterable[Event]) -> RunFailed | RunTimedOut | RunDeferred | None:
    """The last word of a run that nobody runs now because it waits: for its retry after a
    failure or time-out, or after a deferral. None if an attempt runs, the run ended, or it
    has no word yet (its trigger may be in an executor's hands)."""
    waiting: RunFailed | RunTimedOut | RunDeferred | None = None
    for event in events:
        if is_final(event):
            return None
        if isinstance(event, RunStarted):
            waiting = None
        elif isinstance(event, RunFailed | RunTimedOut | RunDeferred):
            waiting = event
    return waiting


RunStatus = Literal[
    "triggered",
    "deferred",
    "running",
    "retrying",
    "succeeded",
    "failed",
    "timed_out",
    "cancelled",
    "lost",
    "skipped",
    "fanned_out",
]
"""Where a run stands after its events so far (a skipped fire counts as a skipped run; a
fan-out trigger is `fanned_out`: not a run itself, its members `<run id>-<executor>` are)."""
IN_FLIGHT: frozenset[RunStatus] = frozenset({"triggered", "running", "retrying", "deferred"})
"""Run statuses before the run's end: it has not run yet, runs, or will try again."""
FANNED_OUT: RunStatus = "fanned_out"
"""The row of a fan-out trigger (target `all:<tag>`): neither in flight nor final, no run."""


def is_fanout(target: str) -> bool:
    """True for a fan-out target (`all:<tag>`): every member runs the trigger as its own run."""
    return target.startswith(subjects.FAN_PREFIX)


def member_run_id(trigger_run_id: str, executor: str) -> str:
    """A fan-out member's run id: the trigger's, then `-` and the executor (as a subject token)."""
    return f"{trigger_run_id}-{executor}"


def fanout_parent(run_id: str) -> str:
    """The trigger's run id of a fan-out member's run id (`<run id>-<executor>`), else "".

    why: trigger run ids are hex (ids.py), so the first dash ends it; executor names may hold dashes
    """
    parent, dash, _ = run_id.partition("-")
    return parent if dash else ""


def fanout_member(run_id: str) -> str:
    """The executor part of a fan-out member's run id, else ""."""
    return run_id.partition("-")[2]


def truncation(output: dict[str, Any], stream: str) -> str | None:
    """The marker for output the executor capped: what was kept, and the original size if
    known (`runs show`/`logs` print it, on stderr for logs; the API answers `<stream>_note`)."""
    if not output.get(f"{stream}_truncated"):
        return None
    # why bytes, not KiB: 65,536 of 65,544 read "64 KiB of 64 KiB" (newcomer16c #7)
    kept = len(output.get(stream, "").encode())
    total = output.get(f"{stream}_size")
    if total:
        return f"[{stream} truncated: {kept:,} of {total:,} bytes kept]"
    return f"[{stream} truncated: {kept:,} bytes kept; the original was larger (size not recorded)]"
