"""Who may write a run's events: the subject names the writer, the run's claims say who holds it.

An executor publishes run events on `jetcron.run.<name>.<run>.<target>.<host>`, and the server
lets it publish only under its own name and its own targets. What permissions cannot see is
which run a host holds: `check` is that second wall, and it also catches what reached the log
by another hand (an admin's creds, a server without auth). Every fold of run events (the views,
the ticker, the breaker, an executor reading a run's history) passes them through one `Claims`
and ignores what it rejects. Events on the subject of older logs (no writer named) and the
scheduler's own are believed, as before. A run has one trigger: a second trigger of a run id
already triggered (a copy re-appended by an admin or on a server without auth, a resend past the
dedupe window) is rejected too, so it cannot re-open an ended run in any fold.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from jetcron import subjects
from jetcron.domain.envelope import StoredEvent
from jetcron.domain.events import (
    RunCancelRequested,
    RunEvent,
    RunFailed,
    RunLost,
    RunStarted,
    RunTimedOut,
    RunTriggered,
)
from jetcron.domain.runs import FINISHED_RUN_EVENTS
from jetcron.domain.validation import NAME_RE, RUN_ID_RE

CLAIMED: frozenset[type] = frozenset({RunTriggered, RunCancelRequested, *RunEvent.__subclasses__()})
"""The event types `check` looks at (everything else passes untouched)."""
_SCHEDULERS: frozenset[type] = frozenset({RunLost, RunCancelRequested})
"""What only the scheduler writes."""
_FINAL: frozenset[type] = frozenset(FINISHED_RUN_EVENTS)
_RETRIED: frozenset[type] = frozenset({RunFailed, RunTimedOut})
"""Final unless they ask for another attempt (runs.is_final, by type for speed)."""
_FAN = subjects.fan_target("")
_SCHEDULER = subjects.SCHEDULER_WRITER
KNOWN_TRIGGERS = 2048
"""Triggers remembered per generation (two generations kept): a second trigger of one of these
runs, or of a run still in flight, is rejected.

why bounded: every fold holds a Claims; all run ids ever would grow with the log. Two
generations age in O(1) (a dict popped from the front degrades); runs in flight stay known
through `targets` whatever their age."""


class Claims(msgspec.Struct, kw_only=True, gc=False):
    """Who may write each run not yet final (a final run's claim is dropped: bounded)."""

    targets: dict[str, str] = {}
    """Run id -> its trigger's target (fan-outs and triggers outside our history: absent)."""
    starters: dict[str, dict[int, str]] = {}
    """Run id -> attempt -> the executor whose run.started holds it."""
    triggers: dict[str, int] = {}
    """Run id -> the sequence of its trigger, for the latest triggers folded (KNOWN_TRIGGERS)."""
    older: dict[str, int] = {}
    """The generation of `triggers` before the current one."""


def check(claims: Claims, stored: StoredEvent) -> str | None:
    """Why this event must not be folded (None: fold it); records what it claims if accepted."""
    # why: runs in the replay hot loop, once per run event: type lookups, no isinstance chains
    event: Any = stored.envelope.event
    kind = type(event)
    if kind is RunTriggered:
        return triggered(claims, event, stored.seq)
    if kind not in CLAIMED:
        return None
    return check_claimed(claims, stored, event, kind)


def check_claimed(claims: Claims, stored: StoredEvent, event: Any, kind: type[Any]) -> str | None:
    """`check` of an event of a CLAIMED type other than a trigger (`event` and `kind`: its
    event and type, which a fold has already read)."""
    writer = subjects.run_writer(stored.subject)
    if writer is not None and writer[1] != _SCHEDULER:
        problem = _problem(claims, writer, event, kind)
        if problem is not None:
            return f"{kind.__struct_config__.tag} of run {event.run_id}: {problem}"
    run_id = event.run_id
    if kind is RunStarted:
        started = claims.starters.get(run_id)
        if started is None:
            claims.starters[run_id] = {event.attempt: event.executor}
        elif event.attempt not in started:
            started[event.attempt] = event.executor
    elif kind in _FINAL or (kind in _RETRIED and event.next_retry_at is None):
        claims.targets.pop(run_id, None)
        claims.starters.pop(run_id, None)
    return None


def triggered(claims: Claims, trigger: RunTriggered, seq: int = 0) -> str | None:
    """Why this trigger must not be folded (a second one of its run), else None and recorded:
    a trigger names the target its run may be written as (fan-outs: every member's own)."""
    # why: once per trigger in the replay hot loop: membership tests first, words only for
    # the rare second trigger
    run_id, known = trigger.run_id, claims.triggers
    if run_id in known or run_id in claims.older or run_id in claims.targets:
        return _second(claims, run_id)
    if RUN_ID_RE.fullmatch(run_id) is None or NAME_RE.fullmatch(trigger.name) is None:
        # why: a run id or name that is no subject token names a run nobody can write (its
        # executor's events and the scheduler's run.lost alike are refused): folded, it would
        # stay in flight for good (a false overlap, a false offline executor). jetcron never
        # writes one (validation.trigger_problem; executors refuse to run it).
        return f"run.triggered of run {run_id!r}: its run id or name is no subject token"
    if len(known) >= KNOWN_TRIGGERS:
        claims.older, known = known, {}
        claims.triggers = known
    known[run_id] = seq
    if not trigger.target.startswith(_FAN):
        claims.targets[run_id] = trigger.target
    return None


def _second(claims: Claims, run_id: str) -> str:
    """Why a second trigger of a run is rejected, naming the first one's sequence if known."""
    first = claims.triggers.get(run_id, claims.older.get(run_id, 0))
    where = f" (seq {first})" if first else ""
    return f"run.triggered of run {run_id}: the run was already triggered{where}"


def accepted(
    events: Iterable[StoredEvent], trigger: RunTriggered | None = None
) -> list[StoredEvent]:
    """The events of one run that its claims accept, given its trigger if known."""
    claims = Claims()
    if trigger is not None:
        triggered(claims, trigger)
    return [e for e in events if check(claims, e) is None]


def _problem(claims: Claims, writer: subjects.RunWriter, event: Any, kind: type) -> str | None:
    """What is wrong with an executor's event about this run, if anything."""
    target, executor = writer
    if not executor or not target:
        return "its subject names no writer"
    if kind in _SCHEDULERS:
        return f"only the scheduler writes this, not executor {executor}"
    if event.executor != executor:
        return f"it says executor {event.executor!r} but {executor!r} wrote it"
    run_id = event.run_id
    if target.startswith(_FAN):
        # why: each member of a fan-out runs its own run id, suffixed with its name
        if not run_id.endswith(f"-{subjects.token(executor)}"):
            return f"a fan-out run of another executor, written by {executor}"
        return None
    expected = claims.targets.get(run_id)
    if expected is not None and target != expected:
        return f"triggered for {expected!r}, written by {executor} as {target!r}"
    starters = claims.starters.get(run_id)
    holder = starters.get(event.attempt) if starters is not None else None
    if holder is not None and holder != executor:
        return f"attempt {event.attempt} is held by {holder}, written by {executor}"
    return None
