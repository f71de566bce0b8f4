"""One trigger in an executor's hands, from its message to its ack (the Executor delegates here).

Per trigger: decode (poison -> term); look the run up on its subject (finished -> ack, never
run twice); admission (over a threshold -> RunDeferred + nak with backoff); RunStarted; run;
the result event; and only once that is stored: ack, or nak(delay) for a retry. The agent
keeps the message in progress meanwhile and gives the run slot back after.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import msgspec
from nats.aio.msg import Msg

from jetcron.clock import Clock
from jetcron.domain.envelope import UnknownEvent, decode
from jetcron.domain.events import RunStarted, RunTriggered
from jetcron.domain.validation import NAME_RE, RUN_ID_RE, trigger_problem
from jetcron.errors import InvalidInput
from jetcron.executors import attempt as run_attempt
from jetcron.executors import results as run_results
from jetcron.executors.admission import HostSampler, evaluate
from jetcron.executors.attempt import RunHistory
from jetcron.executors.catchup import Backlog, stale_member
from jetcron.executors.config import ExecutorConfig
from jetcron.executors.consumers import Hold
from jetcron.executors.heartbeat import Heartbeat
from jetcron.executors.journal import EntryMeta, Journal
from jetcron.executors.launch import GRACE_SHARE, ORPHAN_SHARE, run_action_job, run_command
from jetcron.executors.recovery import Recovery
from jetcron.executors.results import RunResult
from jetcron.executors.runlog import HOLDER_FRESH_INTERVALS, ExecutorStats, Run, RunLog
from jetcron.executors.trigger_end import TriggerEnding
from jetcron.log import signing
from jetcron.log.errors import ConcurrencyConflict

log = logging.getLogger("jetcron.executors.agent")  # why: its lines kept their logger's name
Release = Callable[[], None]
"""Gives a trigger's run slot back."""


class TriggerHandler(TriggerEnding):
    """A trigger from its message to its ack: checks, gates, admission, the attempt, its result."""

    def __init__(
        self,
        config: ExecutorConfig,
        *,
        clock: Clock,
        stats: ExecutorStats,
        journal: Journal,
        runs_log: RunLog,
        recovery: Recovery,
        sampler: HostSampler,
        backlog: Backlog,
        runs: dict[str, Run],
    ) -> None:
        self.config = config
        self.clock = clock
        self.stats = stats
        self.journal = journal
        self.runs_log = runs_log
        self.recovery = recovery
        self.sampler = sampler
        self.backlog = backlog
        self._runs = runs
        """The runs in hand, shared with the executor (its heartbeat, cancels, hand-back)."""
        self.stopping = asyncio.Event()
        """Set when the executor stops: a result not stored by then is left to the journal."""
        self.beat: Heartbeat | None = None
        """The executor's heartbeat while it serves (are our own beats steady yet?)."""

    async def _check_takeover(self, run: Run) -> None:
        """Our trigger went a whole ack_wait unrenewed (no NATS server was reachable from
        here, so the job ran on): if a peer started a later attempt meanwhile, ours must go.

        why: all of NATS down and this host cut off look alike from here (consumers.Hold);
        in the second case a peer may have run the trigger, and the two copies must not go
        on overlapping once we are back. Stopped as a lapsed hold (the supervisor's rule,
        within ORPHAN_SHARE of ack_wait), without a result: `_let_go` leaves the run to them.
        """
        if not run.claimed:
            return
        try:
            history = await self.runs_log.history(run)
        except Exception:  # noqa: BLE001 - asked again after the next gap; the hold rules meanwhile
            return
        if holder := run_attempt.taken_over(history, run.attempt):
            log.warning("executor %s: %s was started again (attempt %d) on %s while this host "
                        "could not reach NATS; stopping attempt %d here", self.config.name,
                        run.ref.run_id, history.started, holder, run.attempt)  # fmt: skip
            run.taken_over_by = holder

    async def _may_be_held(self, run: Run, history: RunHistory) -> float:
        """Seconds to wait before looking again if another executor may hold this run; else 0."""
        beat = self.beat
        settle = HOLDER_FRESH_INTERVALS * self.config.heartbeat_s
        if beat is None or not beat.steady_for(settle):
            # why: until our own beats are steady (just started, or NATS just came back) the
            # absence of a holder's heartbeat proves nothing: it may not have beaten again yet.
            log.info(
                "executor %s: %s redelivered; waiting for heartbeats",
                self.config.name,
                run.ref.run_id,
            )
            return self.config.heartbeat_s
        try:
            peers = await self.runs_log.peers()
        except Exception:  # noqa: BLE001 - no liveness data: look again shortly
            return self.config.heartbeat_s
        c = self.config
        # why: an unadopted job is stopped within (ORPHAN + GRACE) × ack_wait of its executor's
        # death, which is at most one heartbeat interval after its last beat.
        safe = (ORPHAN_SHARE + GRACE_SHARE) * c.ack_wait_s + c.heartbeat_s + 1.0
        wait = run_attempt.hold_off(
            run.ref.run_id, history, peers, self.clock.now(), me=c.name, safe_s=safe
        )
        if wait:
            log.info("executor %s: %s may still run elsewhere; looking again in %.1fs",
                     c.name, run.ref.run_id, wait)  # fmt: skip
        return wait

    async def process(
        self, msg: Msg, fanout: bool, hold: Hold | None = None, release: Release | None = None
    ) -> None:
        """Handle one delivered trigger; `hold` tells whether it is still ours (None: always);
        `release` gives its run slot back (called when it runs no job of its own)."""
        envelope = decode(msg.data)
        if isinstance(envelope, UnknownEvent) or not isinstance(envelope.event, RunTriggered):
            what = envelope.problem if isinstance(envelope, UnknownEvent) else envelope.event
            log.warning("executor %s: not a trigger on %s: %s", self.config.name, msg.subject, what)
            self.stats.poison += 1
            await msg.term()
            return
        ref = run_attempt.run_ref(envelope.event, self.config.name, fanout=fanout)
        run = Run(ref, envelope.event, envelope.id, raw=msg.data, fanout=fanout)
        if hold is not None:
            run.holding, hold.after_gap = hold.current, lambda: self._check_takeover(run)
        if self.config.trusted_schedulers and (
            unsigned := signing.problem(msg.data, msg.headers, self.config.trusted_schedulers)
        ):
            await self._refuse(run, msg, unsigned)
            return
        if (invalid := trigger_problem(envelope.event)) is not None:
            await self._invalid(run, msg, invalid)
            return
        held = self._runs.get(run.ref.run_id)
        if held is not None and held.adopted:
            # why: our predecessor's trigger, redelivered to us: hold it until the adopted job ends.
            # The adopted run holds a slot of its own (Recovery): this wait must not take a second.
            if release is not None:
                release()
            await held.finished.wait()
            await (msg.ack() if held.reported else msg.nak())
            return
        if held is not None:
            # why: redelivered while we still run it (a missed in-progress): never run it twice.
            self.stats.duplicates += 1
            await msg.nak(delay=self.config.ack_wait_s)
            return
        entry = self.journal.get(run.ref.run_id)
        if entry is not None and entry.has_result:
            # why: its job finished here but storing the result failed: report, never re-run.
            await self.recovery.report(run, entry)
            if run.reported:
                await msg.ack()
                return
            # why: its job never started (our claim went unconfirmed: Journal.not_started); its
            # hand-back is recorded now, before this delivery's attempt claims the run
        self._runs[run.ref.run_id] = run
        try:
            await self._lifecycle(run, msg)
        finally:
            self._runs.pop(run.ref.run_id, None)

    async def _refuse(self, run: Run, msg: Msg, why: str) -> None:
        """A trigger the scheduler did not sign: recorded as a failed run, never run."""
        # why: checked before anything else touches the job (allowlist, journal, process).
        log.warning("executor %s: refusing %s: %s", self.config.name, run.ref.run_id, why)
        self.stats.poison += 1
        history = await self.runs_log.history(run)
        if history.finished:
            await msg.ack()
            return
        await self._record(run, msg, history, run_results.rejected(InvalidInput(f"not run: {why}")))

    async def _invalid(self, run: Run, msg: Msg, problem: str) -> None:
        """A trigger the scheduler never writes (validation.trigger_problem): never run.

        why: recorded as refused when its run can be written at all; a run id or name that
        cannot be a subject token would only make rejected run events, so it is dropped."""
        if RUN_ID_RE.fullmatch(run.trigger.run_id) and NAME_RE.fullmatch(run.trigger.name):
            await self._refuse(run, msg, f"invalid trigger: {problem}")
            return
        log.warning("executor %s: dropping an invalid trigger on %s: %s",
                    self.config.name, msg.subject, problem)  # fmt: skip
        self.stats.poison += 1
        await msg.term()

    async def _lifecycle(self, run: Run, msg: Msg) -> None:
        history = await self.runs_log.history(run)
        step = run_attempt.gate(history, self.clock.now())
        if isinstance(step, run_attempt.Finished):
            self.stats.duplicates += 1
            log.info("executor %s: run %s already finished", self.config.name, run.ref.run_id)
            await msg.ack()
        elif isinstance(step, run_attempt.NotYet):
            await msg.nak(delay=step.delay_s)
        elif isinstance(step, run_attempt.CancelNow):
            await self._record(run, msg, history, RunResult(outcome="cancelled", error=step.reason))
        elif reason := await self.runs_log.stop_reason(run, history):
            await self._record(run, msg, history, RunResult(outcome="cancelled", error=reason))
        elif reason := await stale_member(
            self.backlog, run.trigger, msg, history, self.clock.now()
        ):
            # why: a host back from hours away must not replay every missed fire at once, nor
            # run yesterday's fire today
            log.info("executor %s: not running %s: %s", self.config.name, run.ref.run_id, reason)
            await self._record(run, msg, history, RunResult(outcome="cancelled", error=reason))
        elif run_attempt.maybe_running(history, _redelivered(msg)) and (
            wait := await self._may_be_held(run, history)
        ):
            # why: a redelivery after an outage or a crash: the copy that got it first may
            # still run (adopted, or finishing while NATS was away). Never start a second one.
            await msg.nak(delay=wait)
        elif run.trigger.conditions is None or await self._admitted(run, msg, history):
            await self._attempt(run, msg, history)

    async def _admitted(self, run: Run, msg: Msg, history: RunHistory) -> bool:
        conditions = run.trigger.conditions
        assert conditions is not None
        sample = await asyncio.to_thread(self.sampler.sample_for, conditions)
        verdict, now = evaluate(conditions, sample), self.clock.now()
        decision = run_attempt.admit(
            history, conditions, verdict, now, base_s=self.config.defer_base_s
        )
        if isinstance(decision, run_attempt.Admit):
            if decision.forced:
                log.warning(
                    "executor %s: %s forced: %s", self.config.name, run.ref.run_id, decision.reason
                )
            return True
        if isinstance(decision, run_attempt.Expire):
            await self._record(
                run, msg, history, RunResult(outcome="cancelled", error=decision.reason)
            )
            return False
        event = run_attempt.deferred_event(run.ref, history.attempt, decision)
        await self.runs_log.append(run, event, f"{history.attempt}:deferred:{decision.deferrals}")
        self.stats.deferred += 1
        await msg.nak(delay=decision.delay_s)
        return False

    async def _attempt(self, run: Run, msg: Msg, history: RunHistory) -> None:
        result: RunResult | run_attempt.LetGo
        if run.cancel.is_set():
            result = RunResult(outcome="cancelled")
        else:
            try:
                result = await self._execute(run, history)
            except ConcurrencyConflict:
                # why: someone appended to the run since we read it: another copy of this
                # trigger (a redelivery after NATS lost its consumer state) claimed it first.
                self.journal.end(run.ref.run_id)
                self.stats.duplicates += 1
                log.info(
                    "executor %s: %s was claimed by another executor",
                    self.config.name,
                    run.ref.run_id,
                )
                await msg.nak(delay=self.config.ack_wait_s / 2)
                return
            except BaseException as err:
                if not run.claimed:
                    # why: nothing ran, but its RunStarted may have been stored with the ack
                    # lost (NATS went away): the journal keeps that its job never started, so
                    # the redelivery, or this executor's next start, records it (newcomer18b F7)
                    meta = EntryMeta(trigger=run.raw.decode(), fanout=run.fanout,
                                     attempt=history.attempt)  # fmt: skip
                    self.journal.not_started(run.ref.run_id, meta, unconfirmed(err))
                raise
        if isinstance(result, run_attempt.LetGo):
            await self._let_go(run, msg, history.attempt, result)
            return
        if run.handed_back:
            self.stats.handed_back += 1
            self.journal.end(run.ref.run_id)
            await msg.nak()  # why: no final event, so whoever gets it next runs it
            return
        if result.outcome == "cancelled":
            result = msgspec.structs.replace(result, error=run.cancel_reason or "cancelled")
        run.ended = True
        await self._settle(run, msg, history, result)
        # why: only once the result is stored; if that failed, the entry reports it later.
        self.journal.end(run.ref.run_id)

    async def _execute(self, run: Run, history: RunHistory) -> RunResult | run_attempt.LetGo:
        attempt = history.attempt

        async def claim(pid: int | None) -> None:
            # why: RunStarted with CAS on the run subject *before* the job starts: of two copies
            # of one trigger (NATS can deliver one twice after losing consumer state) one wins.
            event = RunStarted(**run.ref.fields(attempt), pid=pid, host_time=self.clock.now())
            await self.runs_log.claim(run, event, attempt, history.last_seq)
            run.claimed, run.attempt = True, attempt
            self.stats.started += 1

        if run.trigger.job.action is not None:
            return await run_action_job(run, attempt, claim, grace=self.config.kill_grace_s)
        c = self.config
        return await run_command(run, attempt, claim, c, self.runs_log, self.journal)


def unconfirmed(err: BaseException) -> str:
    """Why an attempt whose claim failed unconfirmed did not start its job (its hand-back's
    reason, if the claim is in the log)."""
    if isinstance(err, asyncio.CancelledError):
        return "the executor stopped before its claim was confirmed, so its job was not started"
    why = str(err) or type(err).__name__
    return f"its claim was not confirmed (NATS was away: {why}), so its job was not started"


def _redelivered(msg: Msg) -> bool:
    """Delivered before (to us or a peer): someone may have started it."""
    try:
        return int(msg.metadata.num_delivered or 1) > 1
    except Exception:  # noqa: BLE001 - not a JetStream message (tests): a first delivery
        return False
