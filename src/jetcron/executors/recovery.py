"""Runs our predecessor left in the journal: report them, adopt them, or clean them up.

On start, before it takes new work, the executor settles every journal entry: a job that
finished while no executor ran has its result published (never run again); a job still
running under its supervisor is adopted (we become its owner and report it when it ends);
an entry whose supervisor died without a result gets the verdict a live executor gives one
(leftovers.settle, the one rule for both): what is left of its job is killed, and a job that
never started or was cut short is handed back (its trigger will be redelivered), while one
that had ended is reported with an unknown outcome, never run again.
"""

from __future__ import annotations

import asyncio
import logging

from jetcron.clock import iso_z
from jetcron.domain.envelope import UnknownEvent, decode
from jetcron.domain.events import RunHandedBack, RunStarted, RunTriggered
from jetcron.executors import attempt as run_attempt
from jetcron.executors import results as run_results
from jetcron.executors.intake import Slots
from jetcron.executors.journal import Entry, Journal
from jetcron.executors.leftovers import end_leftovers, settle
from jetcron.executors.process import Job
from jetcron.executors.process_result import read_result
from jetcron.executors.runlog import Run, RunLog

log = logging.getLogger(__name__)


class Recovery:
    """Settles journal entries; adopted runs join `runs` (so our heartbeat lists them)."""

    def __init__(
        self,
        journal: Journal,
        runlog: RunLog,
        runs: dict[str, Run],
        tasks: set[asyncio.Task[None]],
        output_cap: int,
    ) -> None:
        self.journal, self.runlog, self.runs, self.tasks = journal, runlog, runs, tasks
        self.output_cap = output_cap
        self.name = runlog.name

    async def reconcile(self, slots: Slots) -> None:
        """Settle every run our predecessor left: report, adopt or clean up; an adopted run
        holds one of `slots` until it ends (newcomer20b F1: 5 ran under --concurrency 4)."""
        for entry in self.journal.entries():
            run = run_from(entry, self.name)
            if run is None:
                await end_leftovers(entry.path)
                self.journal.end(entry.run_id)
            elif entry.has_result:
                await self.report(run, entry)
            elif (job := Job.adopt(entry.path)) is not None:
                # why WARNING: `up` and an executor show warnings only, and this is half of what
                # a restart did to a run (the other: reported or abandoned; newcomer19b F10)
                log.warning("executor %s: adopted run %s of %s: its job (pid %s) still runs "
                            "under its supervisor; its result is stored when it ends", self.name,
                            run.ref.run_id, run.ref.name, job.pid)  # fmt: skip
                self._adopt(run, job, entry, slots)
            else:
                verdict = await settle(entry.path)
                log.warning("executor %s: run %s: its supervisor died without a result (%s)",
                            self.name, run.ref.run_id, verdict)  # fmt: skip
                await self.report(run, entry)

    def _adopt(self, run: Run, job: Job, entry: Entry, slots: Slots) -> None:
        run.adopted = True
        self.runs[run.ref.run_id] = run
        slots.occupy()
        task = asyncio.create_task(self._finish_adopted(run, job, entry))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        task.add_done_callback(lambda _: slots.give(1))

    async def _finish_adopted(self, run: Run, job: Job, entry: Entry) -> None:
        # why: supervise at once, its pulse tells the supervisor we hold the job (a stop
        # reason looked up first could take longer than orphan_after while NATS is slow).
        check = asyncio.create_task(self._cancel_if_stopped(run))
        try:
            await job.supervise(run.cancel, None, self.output_cap, lambda: run.cancel_reason)
            if run.handed_back:
                self.journal.end(entry.run_id)
            else:
                run.ended = True
                await self.report(run, entry)
        except Exception:  # noqa: BLE001 - the entry stays; the next start reports it
            log.exception("executor %s: adopted run %s not settled", self.name, run.ref.run_id)
        finally:
            check.cancel()
            await asyncio.gather(check, return_exceptions=True)
            run.finished.set()
            self.runs.pop(run.ref.run_id, None)

    async def _cancel_if_stopped(self, run: Run) -> None:
        """Cancel an adopted run that was cancelled, or whose schedule stopped, meanwhile."""
        try:
            reason = await self.runlog.stop_reason(run)
        except Exception as err:  # noqa: BLE001 - a cancel still reaches it on jetcron.cancel
            log.warning("executor %s: adopted run %s: cannot read its cancel state: %s",
                        self.name, run.ref.run_id, err)  # fmt: skip
            return
        if reason:
            run.request_cancel(reason)

    async def report(self, run: Run, entry: Entry) -> None:
        """Publish a journaled job's result (unless the log already has a final event)."""
        assert entry.meta is not None
        # why: a verdict written by an executor that died before it ended the job's leftovers
        await end_leftovers(entry.path)
        result = read_result(entry.path, self.output_cap)
        attempt = entry.meta.attempt
        if result.abandoned or result.not_started:
            # why: stopped because no executor held it, cut short, or never started: no result;
            # the redelivery runs it again.
            log.warning("executor %s: run %s was abandoned: %s", self.name, run.ref.run_id,
                        result.reason)  # fmt: skip
            if result.not_started:
                await self._handed_back(run, attempt, result.reason)
            self.journal.end(entry.run_id)
            return
        history = await self.runlog.history(run)
        # why: a retrying failure stored before we died is not final: without this check a
        # restart after the dedupe window (10 min) would store it again, and count it twice.
        if not history.finished and history.recorded < attempt:
            if history.started < attempt:
                clock = self.runlog.clock
                event = RunStarted(**run.ref.fields(attempt), pid=result.pid, host_time=clock.now())
                await self.runlog.append(run, event, f"{attempt}:started")
            outcome = run_results.from_process(result, cancel_reason=result.reason)
            await self.runlog.store_result(run, attempt, history.tries, outcome)
            ended = f", ended at {iso_z(outcome.ended_at)}" if outcome.ended_at else ""
            log.warning("executor %s: stored the result of run %s of %s from the journal "
                        "(%s%s)", self.name, run.ref.run_id, run.ref.name,
                        outcome.outcome, ended)  # fmt: skip
        run.reported = True
        self.journal.end(entry.run_id)

    async def _handed_back(self, run: Run, attempt: int, reason: str) -> None:
        """Record that our claimed `attempt` never started its job (as trigger_end.py does)."""
        history = await self.runlog.history(run)
        # why: only our claim of that attempt, as the last word: not a run that ended since
        # (declared lost while we were away), nor one a peer claimed again
        if history.started == attempt and history.started_by == self.name and not history.finished:
            event = RunHandedBack(**run.ref.fields(attempt), reason=reason)
            await self.runlog.append(run, event, f"{attempt}:handed_back")


def run_from(entry: Entry, executor: str) -> Run | None:
    """The run of a journal entry (None if the entry is torn or its trigger unreadable)."""
    if entry.meta is None:
        return None
    raw = entry.meta.trigger.encode()
    envelope = decode(raw)
    if isinstance(envelope, UnknownEvent) or not isinstance(envelope.event, RunTriggered):
        return None
    ref = run_attempt.run_ref(envelope.event, executor, fanout=entry.meta.fanout)
    return Run(ref, envelope.event, envelope.id, raw=raw, fanout=entry.meta.fanout)
