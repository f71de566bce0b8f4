"""Who may write a run's events: the subject names the writer, the run's claims say who holds it.

An executor publishes run events on `jetcron.run.<name>.<run>.<target>.<host>`, and the server
lets it publish only under its own name and its own targets. What permissions cannot see is
which run a host holds: `check` is that second wall, and it also catches what reached the log
by another hand (an admin's creds, a server without auth). Every fold of run events (the views,
the ticker, the breaker, an executor reading a run's history) passes them through one `Claims`
and ignores what it rejects. Events on the subject of older logs (no writer named) and the
scheduler's own are believed, as before.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from jetcron import subjects
from jetcron.domain.events import (
    RunCancelRequested,
    RunEvent,
    RunLost,
    RunStarted,
    RunTriggered,
    StoredEvent,
    is_final,
)

CLAIMED: frozenset[type] = frozenset({RunTriggered, RunCancelRequested, *RunEvent.__subclasses__()})
"""The event types `check` looks at (everything else passes untouched)."""


class RunClaim(msgspec.Struct, kw_only=True, gc=False, omit_defaults=True):
    """What the log says about who may write one run."""

    target: str = ""
    """The trigger's target, once seen ("" for fan-out and for triggers outside our history)."""
    starters: dict[int, str] = {}
    """Attempt -> the executor whose run.started holds it."""


class Claims(msgspec.Struct, kw_only=True, gc=False):
    """The claims of the runs not yet final (a final run's claim is dropped: bounded)."""

    runs: dict[str, RunClaim] = {}


def check(claims: Claims, stored: StoredEvent) -> str | None:
    """Why this event must not be folded (None: fold it); records what it claims if accepted."""
    event = stored.envelope.event
    if isinstance(event, RunTriggered):
        triggered(claims, event)
        return None
    if not isinstance(event, RunEvent | RunCancelRequested):
        return None
    writer = subjects.run_writer(stored.subject)
    claim = claims.runs.get(event.run_id)
    if writer is not None and writer.executor != subjects.SCHEDULER_WRITER:
        problem = _problem(claim, writer, event)
        if problem is not None:
            return f"{stored.envelope.event.__struct_config__.tag} of run {event.run_id}: {problem}"
    if isinstance(event, RunEvent):
        _record(claims, claim, event)
    return None


def triggered(claims: Claims, trigger: RunTriggered) -> None:
    """A trigger names the target its run may be written as (fan-outs: every member's own)."""
    if not trigger.target.startswith(subjects.fan_target("")):
        claims.runs.setdefault(trigger.run_id, RunClaim()).target = trigger.target


def accepted(
    events: Iterable[StoredEvent], trigger: RunTriggered | None = None
) -> list[StoredEvent]:
    """The events of one run that its claims accept, given its trigger if known."""
    claims = Claims()
    if trigger is not None:
        triggered(claims, trigger)
    return [e for e in events if check(claims, e) is None]


def _problem(
    claim: RunClaim | None, writer: subjects.RunWriter, event: RunEvent | RunCancelRequested
) -> str | None:
    """What is wrong with an executor's event about this run, if anything."""
    if not writer.executor or not writer.target:
        return "its subject names no writer"
    if isinstance(event, RunLost | RunCancelRequested):
        return f"only the scheduler writes this, not executor {writer.executor}"
    if event.executor != writer.executor:
        return f"it says executor {event.executor!r} but {writer.executor!r} wrote it"
    if writer.target.startswith(subjects.fan_target("")):
        # why: each member of a fan-out runs its own run id, suffixed with its name
        if not event.run_id.endswith(f"-{subjects.token(writer.executor)}"):
            return f"a fan-out run of another executor, written by {writer.executor}"
        return None
    if claim is None:
        return None
    if claim.target and writer.target != claim.target:
        return f"triggered for {claim.target!r}, written by {writer.executor} as {writer.target!r}"
    holder = claim.starters.get(event.attempt)
    if holder is not None and holder != writer.executor:
        return f"attempt {event.attempt} is held by {holder}, written by {writer.executor}"
    return None


def _record(claims: Claims, claim: RunClaim | None, event: RunEvent) -> None:
    if is_final(event):
        claims.runs.pop(event.run_id, None)
        return
    if isinstance(event, RunStarted):
        if claim is None:
            claim = claims.runs[event.run_id] = RunClaim()
        claim.starters.setdefault(event.attempt, event.executor)
