"""Declaring a run lost: `run.lost` under the compare-and-set an executor's claim uses.

The planner decides a run is lost from the ticker's state (no word past its deadline, `overdue`).
That state may be a moment behind the log: an executor that comes back at the deadline (its job
died with its supervisor, the trigger is redelivered) claims the run's next attempt with
`run.started` under a compare-and-set on the run's writers' subjects, and a `run.lost` appended
blindly after that claim would end a run that runs (the views believe the first end, the job goes
on). So the leader reads where the run's events end (one direct get; the events themselves
when its state may not have folded them all) and appends `run.lost` only if the state has folded
every one of them and still finds the run overdue, with `Nats-Expected-Last-Subject-Sequence` at
the last of them (over the same subjects): of a claim and a `run.lost` racing, exactly one is
stored. A word the state has not folded yet (read here, or met as a conflict) is no ground for a
decision: the planner decides again once it is folded (the run may have a new deadline).

The reason says who last had the run (`reason_for`, one rule): no executor started it (its
target had none online, or none free), or the executor that started its last attempt stopped
answering. why: a run whose target no executor serves was shown as "executor presumed dead"
with no executor anywhere (newcomer20a #3). Runs lost before this keep the reason they were
stored with.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Protocol

from jetcron import ids, subjects
from jetcron.domain.claims import Claims
from jetcron.domain.envelope import Envelope, StoredEvent
from jetcron.domain.events import RunLost
from jetcron.domain.runs import fanout_parent
from jetcron.log.errors import ConcurrencyConflict, no_leader
from jetcron.log.stream import EventLog
from jetcron.scheduler.entry import Entry
from jetcron.scheduler.planner import Lose, overdue

log = logging.getLogger(__name__)
REASON = "no result within timeout + grace; executor presumed dead"
"""The reason when who had the run is not known (a run folded without its trigger or start)."""
TRIES = 3
"""Reads of one run per decision: a conflict with nothing new folded is read again."""
AT_ONCE = 64
"""Runs declared lost concurrently (each is a read and a conditional append)."""


class Holder(Protocol):
    """What declaring a run lost needs of the ticker's state (state.TickerState)."""

    position: int
    claims: Claims
    unstarted: set[str]

    def folded(self, seq: int) -> bool:
        """True if the event stored at `seq` is reflected in the state."""
        ...

    def apply_ahead(self, stored: StoredEvent) -> object:
        """Apply an event we appended ourselves before the reader reaches it."""
        ...


def reason(target: str, executor: str | None) -> str:
    """Why a run is lost: no executor started it (`executor` None), or the one that had it went
    silent; pure."""
    if executor is None:
        return (
            f"no executor started it: target '{target}' had none online (or none free) within "
            "timeout + grace"
        )
    return f"its executor {executor} stopped answering: no result within timeout + grace"


def reason_for(state: Holder, entry: Entry, run_id: str) -> str:
    """The reason of this run's `run.lost`, from what the state folded of it; pure."""
    target = state.claims.targets.get(run_id) or entry.definition.target
    if run_id in state.unstarted:
        return reason(target, None)  # why: triggered or handed back, no attempt started since
    starters = state.claims.starters.get(run_id)
    if starters:
        return reason(target, starters[max(starters)])
    if parent := fanout_parent(run_id):
        return reason(target, run_id[len(parent) + 1 :])  # why: a member is its executor's
    return REASON


def item(entry: Entry, lose: Lose, why: str) -> tuple[str, RunLost, str]:
    """(subject, event, Nats-Msg-Id) of a Lose decision, `why` its reason (reason_for); pure.

    why the msg id: two leaders during a hand-over that both decide it store one `run.lost`.
    """
    event = RunLost(
        schedule_id=entry.schedule_id,
        name=entry.name,
        run_id=lose.run_id,
        fire_id=lose.fire_id,
        fire_time=lose.fire_time or entry.last_fire or datetime.min,
        reason=why,
    )
    return subjects.run_by_scheduler(entry.name, lose.run_id), event, f"{lose.run_id}:lost"


async def declare_all(
    event_log: EventLog,
    state: Holder,
    losses: list[tuple[Entry, Lose]],
    now: datetime,
    actor: str,
    reconnects: int | None = None,
) -> int:
    """Declare these runs lost, AT_ONCE at a time; how many `run.lost` were stored.

    A run not declared (a word came, NATS is away) stays overdue in the state until its word is
    folded; the ticker looks at its entry again shortly. `reconnects`: the connection's count
    when the losses were decided; once NATS came back since, none is declared (the ticker
    settles first: planner.overdue).
    """
    stored = 0
    for i in range(0, len(losses), AT_ONCE):
        chunk = losses[i : i + AT_ONCE]
        done = await asyncio.gather(
            *(_declare(event_log, state, e, x, now, actor, reconnects) for e, x in chunk)
        )
        stored += sum(done)
    return stored


async def _declare(
    event_log: EventLog,
    state: Holder,
    entry: Entry,
    lose: Lose,
    now: datetime,
    actor: str,
    reconnects: int | None,
) -> bool:
    if reconnects is not None and event_log.nc.stats["reconnects"] != reconnects:
        # why: decided before an outage ended: the results executors held through it are on
        # their way, and a `run.lost` stored ahead of one would show a success as lost
        return False
    try:
        return await declare(event_log, state, entry, lose, now, actor)
    except Exception as err:  # noqa: BLE001 - one failed append must not stop the ticker
        say = log.warning if no_leader(err) else log.error  # why: an election passes
        say("ticker: run.lost of %s (%s) not stored: %s", lose.run_id, entry.name, err)
        return False


async def declare(
    event_log: EventLog, state: Holder, entry: Entry, lose: Lose, now: datetime, actor: str
) -> bool:
    """Append `run.lost` for this decision if the log still bears it out; True if stored."""
    subject, event, msg_id = item(entry, lose, reason_for(state, entry, lose.run_id))
    checked = subjects.run_events(entry.name, lose.run_id)[0]
    for _ in range(TRIES):
        last_seq = await _folded_last(event_log, state, entry.name, lose.run_id)
        # why both checks after the read: what the state folded meanwhile was read too
        if last_seq is None:
            log.info(
                "ticker: run %s of %s had a word since; deciding again", lose.run_id, entry.name
            )
            return False
        if all(x.run_id != lose.run_id for x in overdue(entry, now)):
            return False  # why: its word (folded meanwhile) moved its deadline, or ended it
        envelope = Envelope(id=ids.new_id(), at=now, actor=actor, event=event, causation_id=msg_id)
        try:
            [seq] = await event_log.append(
                subject, [envelope], expected_last_subject_seq=last_seq,
                expected_subject=checked, msg_id=msg_id,
            )  # fmt: skip
        except ConcurrencyConflict:
            continue  # why: a word was stored since the read: read again
        state.apply_ahead(StoredEvent(seq, subject, envelope))
        return True
    return False


async def _folded_last(event_log: EventLog, state: Holder, name: str, run_id: str) -> int | None:
    """The last sequence on the run's writers' subjects if the state reflects every event of
    the run (None: it has not folded them all yet)."""
    # why: usually the run's last word was folded long ago: one direct get answers that
    last = await event_log.last_seq_on(subjects.run_events(name, run_id)[0])
    if last <= state.position:
        return last
    history, last_seq = await event_log.load_run(name, run_id)
    return last_seq if all(state.folded(s.seq) for s in history) else None
