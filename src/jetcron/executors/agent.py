"""The executor agent: serve its targets' consumers, hand each trigger over, stop cleanly.

What happens to one trigger (checks, gates, admission, the attempt, its result, the ack):
trigger.py, the TriggerHandler this Executor delegates to. Cancel requests arrive on core NATS
`jetcron.cancel.<run_id>` (the trigger's run id also cancels every fan-out member). On
stop: fetch no more, let running jobs finish until drain_timeout, then hand the rest back
(nak, no final event) so another executor runs them. Consumers: see consumers.py; one
pool of run slots for all of them: intake.py; a late fan-out member's catch-up: catchup.py.
Its name is held through its heartbeat (naming.py): started with a `claim` it beats on from
it; if another executor takes the name it stops as on `stop` and `run` raises NameTaken.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from nats.aio.client import Client
from nats.aio.msg import Msg

from jetcron import subjects
from jetcron.clock import Clock, SystemClock
from jetcron.domain.envelope import UnknownEvent, decode
from jetcron.domain.events import ScheduleDeleted
from jetcron.domain.runs import cancel_reason
from jetcron.executors.admission import HostSampler
from jetcron.executors.catchup import Backlog
from jetcron.executors.config import ExecutorConfig, validate
from jetcron.executors.consumers import Consumer, bindings, consumer_config, keepalive
from jetcron.executors.errors import ResultHeld
from jetcron.executors.heartbeat import Heartbeat
from jetcron.executors.intake import Slots, feed
from jetcron.executors.journal import Journal, JournalUnwritable
from jetcron.executors.naming import Claim, NameTaken, identity
from jetcron.executors.recovery import Recovery
from jetcron.executors.runlog import ExecutorStats, Run, RunLog
from jetcron.executors.trigger import TriggerHandler
from jetcron.log import retention
from jetcron.log.stream import EventLog

__all__ = ["CANCEL_PREFIX", "Executor", "ExecutorConfig", "ExecutorStats", "Stopped"]

log = logging.getLogger(__name__)

CANCEL_PREFIX = subjects.CANCELS
_IDLE_POLL_S = 0.1


@dataclass(frozen=True)
class Stopped:
    """What a stop did with the runs in hand (the last line `jetcron executor` prints)."""

    in_flight: int = 0
    """Runs in hand when it stopped taking work."""
    finished: int = 0
    """Of them, ended while it drained, their results stored."""
    handed_back: int = 0
    """Stopped unfinished (drain time over, or a second Ctrl-C): they run again elsewhere or
    at the next start, as their next attempt."""
    held: int = 0
    """Ended, their results kept in the journal (NATS away), stored at the next start."""

    @property
    def other(self) -> int:
        """Runs in hand whose end is none of the above (a failure, logged where it happened)."""
        return max(0, self.in_flight - self.finished - self.handed_back - self.held)


class Executor:
    """Runs the triggers of its targets; see the module docstring for the lifecycle."""

    def __init__(
        self,
        nc: Client,
        config: ExecutorConfig,
        *,
        event_log: EventLog | None = None,
        clock: Clock | None = None,
        claim: Claim | None = None,
    ) -> None:
        validate(config)
        self.nc = nc
        self.config = config
        self.log = event_log or EventLog(nc)
        """The log; one passed in must already be open."""
        self._owns_log = event_log is None
        self.clock = clock or SystemClock()
        self.claim = claim
        """The name as `naming.claim` won it (its heartbeat and revision); None: not claimed."""
        self.stats = ExecutorStats()
        self.journal = Journal(Path(config.journal_dir) if config.journal_dir else None)
        self.runs_log = RunLog(self.log, nc, config.name, self.clock, self.stats)
        self.sampler = HostSampler()
        self.backlog = Backlog(self.log)
        self._runs: dict[str, Run] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.recovery = Recovery(
            self.journal, self.runs_log, self._runs, self._tasks, config.output_cap
        )
        self.triggers = TriggerHandler(
            config, clock=self.clock, stats=self.stats, journal=self.journal,
            runs_log=self.runs_log, recovery=self.recovery, sampler=self.sampler,
            backlog=self.backlog, runs=self._runs,
        )  # fmt: skip
        self._consumers: list[Consumer] = []
        self._force = asyncio.Event()
        self.stopped = Stopped()
        """What the last stop did with the runs in hand."""
        self._reset()

    @property
    def running(self) -> list[str]:
        """Run ids in hand right now."""
        return list(self._runs)

    async def run(self, stop: asyncio.Event, force: asyncio.Event | None = None) -> Stopped:
        """Serve until `stop` is set, then drain (until `force` is set) and hand back the rest;
        what became of the runs in hand."""
        self._reset()
        self._force = force or asyncio.Event()
        await self._serve(stop, graceful=True)
        return self.stopped

    async def run_burst(self, timeout: float = 5.0) -> int:  # noqa: ASYNC109 - a budget
        """Process what is pending (naks due within `timeout` included); the number handled."""
        before = self.stats.handled
        stop = asyncio.Event()
        self._reset()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._serve(stop, graceful=False))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._until_idle()
            stop.set()
        return self.stats.handled - before

    # -- serving -------------------------------------------------------------------------------

    def _reset(self) -> None:
        self._slots = Slots(self.config.concurrency)
        self._stopping = asyncio.Event()
        self._ready = asyncio.Event()
        self.triggers.stopping = self._stopping  # why: it stops retrying a result when we stop

    async def _serve(self, stop: asyncio.Event, *, graceful: bool) -> None:
        async with contextlib.AsyncExitStack() as stack:
            await self._open(stack)
            beat_stop, beat = asyncio.Event(), self._heartbeat()
            async with asyncio.TaskGroup() as tg:
                tg.create_task(beat.run(beat_stop))
                # why: run events carry the stream's retention as set now, not at our start
                tg.create_task(retention.follow(self.log, beat_stop))
                fetchers = [tg.create_task(self._fetch_loop(c)) for c in self._consumers]
                self._ready.set()
                await _first_set(stop, beat.lost)  # why: our name taken: two must not serve
                await self._shutdown(fetchers, graceful)
                beat_stop.set()
        if beat.taken_by is not None:
            raise NameTaken(self.config.name, beat.taken_by)

    async def _open(self, stack: contextlib.AsyncExitStack) -> None:
        c = self.config
        if self._owns_log:
            await self.log.open()
            stack.push_async_callback(_quietly, self.log.close)
        self.journal.open()
        stack.callback(self.journal.close)
        sub = await self.nc.subscribe(f"{CANCEL_PREFIX}.*", cb=self._on_cancel)
        stack.push_async_callback(_quietly, sub.unsubscribe)
        # why: schedule events are plain messages on their subjects too; a delete stops our runs.
        sched = await self.nc.subscribe(subjects.SCHEDULES, cb=self._on_schedule_event)
        stack.push_async_callback(_quietly, sched.unsubscribe)
        # why: before any new work, so no run can start twice here, nor more than N run
        await self.recovery.reconcile(self._slots)
        js, now = self.nc.jetstream(), self.clock.now()
        self._consumers = []
        for b in bindings(c.name, c.targets, c.tags):
            cc = consumer_config(b, ack_wait=c.ack_wait_s, concurrency=c.concurrency, now=now)
            self._consumers.append(await Consumer(js, self.log.stream, b, cc).open())
            stack.push_async_callback(_quietly, self._consumers[-1].close)
        subjects_ = ", ".join(x.binding.subject for x in self._consumers)
        log.info("executor %s serving %s", c.name, subjects_)

    def _heartbeat(self) -> Heartbeat:
        claim = self.claim
        me = claim.info if claim else identity(self.config, self.clock.now())
        beat = self.triggers.beat = Heartbeat(
            self.nc, me, running=lambda: self.running, sampler=self.sampler, clock=self.clock,
            revision=claim.revision if claim else None,
            problems=lambda: [p] if (p := self.journal.check()) else [],
        )  # fmt: skip
        return beat

    async def _shutdown(self, fetchers: list[asyncio.Task[None]], graceful: bool) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.drain_timeout_s
        self._stopping.set()
        self._slots.close()
        if not graceful:
            # why: burst mode stops only once its consumers are empty: nothing is in flight.
            for task in fetchers:
                task.cancel()
        await asyncio.gather(*fetchers, return_exceptions=True)
        in_hand, results, held = list(self._runs.values()), self.stats.results, self.stats.held
        if self._tasks and self._runs and graceful:
            log.warning(
                "executor %s stopping: waiting up to %gs for %d running run(s) to finish; "
                "interrupt again to hand them back now", self.config.name,
                self.config.drain_timeout_s, len(self._runs),
            )  # fmt: skip
        if self._tasks:
            await self._drain(max(0.0, deadline - loop.time()))
        for run in list(self._runs.values()):
            if run.ended:
                continue  # why: its job ended; its result is stored, or kept (ResultHeld)
            log.warning(
                "executor %s: run %s handed back unfinished: its job is stopped and runs again "
                "as its next attempt", self.config.name, run.ref.run_id,
            )  # fmt: skip
            run.hand_back()
        if self._tasks:
            await asyncio.wait(set(self._tasks))
        self.stopped = Stopped(
            in_flight=len(in_hand), finished=self.stats.results - results,
            handed_back=sum(r.handed_back for r in in_hand), held=self.stats.held - held,
        )  # fmt: skip

    async def _drain(self, timeout: float) -> None:
        """Wait for the runs in hand to end, at most `timeout` seconds or until `force`."""
        drained = asyncio.ensure_future(asyncio.wait(set(self._tasks)))
        forced = asyncio.ensure_future(self._force.wait())
        await asyncio.wait({drained, forced}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        drained.cancel()
        forced.cancel()

    async def _until_idle(self) -> None:
        await self._ready.wait()
        # why: "nothing pending" lives on the server (delayed naks included): poll it.
        while self._tasks or not all([await c.idle() for c in self._consumers]):  # noqa: ASYNC110
            await asyncio.sleep(_IDLE_POLL_S)

    async def _fetch_loop(self, consumer: Consumer) -> None:
        # why: one pool of slots for all consumers (intake.py): N is the executor's limit.
        def spawn(msg: Msg, slot: asyncio.Future[int]) -> None:
            task = asyncio.create_task(self._handle(msg, consumer, slot))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        await feed(consumer, self._slots, spawn)

    async def _on_cancel(self, msg: Msg) -> None:
        run_id = msg.subject[len(CANCEL_PREFIX) + 1 :]
        text = msg.data.decode("utf-8", "replace").strip()
        reason = cancel_reason(text)
        for run in list(self._runs.values()):
            if run_id in (run.ref.run_id, run.ref.trigger_run_id):
                log.info(
                    "executor %s: cancelling %s (%s)", self.config.name, run.ref.run_id, reason
                )
                run.request_cancel(reason)

    async def _on_schedule_event(self, msg: Msg) -> None:
        envelope = decode(msg.data)
        if isinstance(envelope, UnknownEvent) or not isinstance(envelope.event, ScheduleDeleted):
            return
        for run in list(self._runs.values()):
            if run.ref.schedule_id == envelope.event.schedule_id:
                log.info(
                    "executor %s: cancelling %s (schedule deleted)",
                    self.config.name,
                    run.ref.run_id,
                )
                run.request_cancel("schedule deleted")

    # -- one message ---------------------------------------------------------------------------

    async def _handle(self, msg: Msg, consumer: Consumer, slot: asyncio.Future[int]) -> None:
        granted = 0

        def release() -> None:
            nonlocal granted
            self._slots.give(granted)
            granted = 0

        try:
            async with keepalive(msg, self.nc, consumer.ack_wait) as hold:
                # why: a trigger fetched by an idle consumer may wait here for a slot; the
                # in-progress acks keep it ours meanwhile, so it is not redelivered elsewhere.
                granted = await slot
                if not granted or self._stopping.is_set():
                    await msg.nak()  # why: fetched just as we stopped: give it straight back
                    return
                await self.triggers.process(msg, consumer.binding.fanout, hold, release)
        except ResultHeld as held:
            log.warning("executor %s: %s", self.config.name, held)  # why: one line, expected
            self.stats.held += 1
            with contextlib.suppress(Exception):
                await msg.nak(delay=min(consumer.ack_wait, 5.0))
        except JournalUnwritable:
            # why: the host's condition (said once by the journal, shown in our heartbeat),
            # not our bug: no traceback every redelivery; the run waits, it never starts unjournaled
            self.stats.errors += 1
            with contextlib.suppress(Exception):
                await msg.nak(delay=min(consumer.ack_wait, 5.0))
        except Exception:
            self.stats.errors += 1
            log.exception("executor %s: a trigger failed to process; nak", self.config.name)
            with contextlib.suppress(Exception):
                await msg.nak(delay=min(consumer.ack_wait, 5.0))
        finally:
            self.stats.handled += 1
            self._slots.give(granted)


async def _first_set(*events: asyncio.Event) -> None:
    """Return once any of `events` is set."""
    waits = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


async def _quietly(close: Callable[[], Awaitable[object]]) -> None:
    """Run a cleanup step; a connection that is already closed is not an error."""
    try:
        await close()
    except Exception as err:  # noqa: BLE001 - cleanup is best effort
        log.debug("cleanup step failed: %s", err)
