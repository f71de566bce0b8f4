"""A trigger's ending, from the handler's side: its result stored (retried while NATS is away),
then the ack or nak; or, for a job given up or never started, the trigger handed back or left.

A base class of TriggerHandler (trigger.py), which sets the attributes declared here.
"""

from __future__ import annotations

import asyncio
import logging

from nats.aio.msg import Msg

from jetcron.clock import Clock, iso_z
from jetcron.domain.events import RunHandedBack
from jetcron.executors import attempt as run_attempt
from jetcron.executors import reach
from jetcron.executors import results as run_results
from jetcron.executors.attempt import RunHistory
from jetcron.executors.config import ExecutorConfig
from jetcron.executors.errors import ResultHeld
from jetcron.executors.journal import Journal
from jetcron.executors.results import RunResult
from jetcron.executors.runlog import ExecutorStats, Run, RunLog

log = logging.getLogger("jetcron.executors.agent")  # why: its lines kept their logger's name


class TriggerEnding:
    """Storing an attempt's result and settling its trigger message (ack, nak, or neither)."""

    config: ExecutorConfig
    clock: Clock
    stats: ExecutorStats
    journal: Journal
    runs_log: RunLog
    stopping: asyncio.Event

    async def _let_go(self, run: Run, msg: Msg, attempt: int, go: run_attempt.LetGo) -> None:
        """The job was given up while we were silent, or never started (see LetGo): hand
        back, or leave it be."""
        reason = go.reason
        self.journal.end(run.ref.run_id)
        self.stats.handed_back += 1
        name, run_id = self.config.name, run.ref.run_id
        try:
            history = await self.runs_log.history(run)
        except Exception as err:  # noqa: BLE001 - NATS out of reach: see why
            # why: stopped because the trigger could not be renewed, so NATS may be out of
            # reach still; a nak would wait for it, and a stale one redelivers at once whoever
            # holds the trigger now (see below). Neither: its ack-wait settles it.
            log.warning("executor %s: attempt %d of %s was stopped (%s); its trigger is left "
                        "to redelivery (the log is out of reach: %s)", name, attempt, run_id,
                        reason, str(err) or type(err).__name__)  # fmt: skip
            return
        if holder := run_attempt.taken_over(history, attempt):
            # why: the trigger was redelivered and its next attempt runs: the delivery in our
            # hands is stale, and nats-server applies an ack or nak to the message whatever
            # delivery it names (measured, 2.15.1: a stale nak redelivers it at once, a stale
            # ack acks theirs). So neither: theirs is settled by its holder.
            log.warning("executor %s: attempt %d of %s was stopped (%s); attempt %d took over "
                        "on %s", name, attempt, run_id, reason, history.started, holder)  # fmt: skip
            return
        log.warning("executor %s: attempt %d of %s was stopped (%s); handing it back",
                    name, attempt, run_id, reason)  # fmt: skip
        if not go.started and run.claimed:
            await self._handed_back(run, attempt, reason)
        await msg.nak()

    async def _handed_back(self, run: Run, attempt: int, reason: str) -> int:
        """Record that our claimed `attempt` never started its job; the new last sequence.

        why: its RunStarted alone read as a start (`runs show`: "started ... abandoned", and
        the run's start and lateness taken from it) of a job that never ran (newcomer18b F7)."""
        event = RunHandedBack(**run.ref.fields(attempt), reason=reason)
        ack = await self.runs_log.append(run, event, f"{attempt}:handed_back")
        return int(ack.seq)

    async def _settle(self, run: Run, msg: Msg, history: RunHistory, result: RunResult) -> None:
        """Store the result (and a RunStarted that did not make it), retrying while NATS is away.

        why: the run stays in hand (and in our heartbeat) meanwhile, so no other executor runs
        it again; if we stop or die first, the journal entry reports it on the next start.
        """
        delay = 0.5
        # why: a result held through an outage is stored later; it keeps the time its job ended
        result = run_results.stamped(result, self.clock.now())
        while True:
            try:
                nc, stopping = self.runs_log.nc, self.stopping
                await reach.unless_away(nc, stopping, self._record(run, msg, history, result))
                if run_results.held(result, self.clock.now(), run_results.HELD_SAID):
                    # why: a result held through an outage lands without a word (newcomer19b F10)
                    log.warning("executor %s: stored the held result of run %s (%s, ended at %s)",
                                self.config.name, run.ref.run_id, result.outcome,
                                iso_z(result.ended_at or self.clock.now()))  # fmt: skip
                return
            except Exception as err:
                if self.stopping.is_set():
                    # why: expected when stopping while NATS is away; the entry is kept
                    raise ResultHeld(run.ref.run_id, str(err) or type(err).__name__) from err
                log.warning("executor %s: result of %s not stored yet (%s); retrying",
                            self.config.name, run.ref.run_id, str(err) or type(err).__name__)  # fmt: skip
                await reach.nap(self.stopping, delay)
                delay = min(delay * 2, 10.0)

    async def _record(self, run: Run, msg: Msg, history: RunHistory, result: RunResult) -> None:
        delay = await self.runs_log.store_result(run, history.attempt, history.tries, result)
        # why: ack/nak only once the result is stored; a crash before this means redelivery.
        if delay is None:
            await msg.ack()
        else:
            await msg.nak(delay=delay)
