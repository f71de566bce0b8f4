"""The executor agent: pull triggers for its targets, run them, and record every step in the log.

Consumers on the JETCRON stream (created if absent, then shared):
  pool-<target>       one durable per target (host name, "default", each tag), shared by every
                      executor bound to it: a work queue, each trigger runs on one of them.
  fan-<name>-<tag>    one durable per executor and tag on `jetcron.trigger.all:<tag>`: every
                      executor with the tag runs it, as run `<run_id>-<name>`.
A new consumer starts at now - 1 h (deliver_policy by_start_time): triggers appended shortly
before the first executor of a pool came up still run; older history is not replayed. A
consumer keeps the settings of whoever created it (ack_wait included).

Per trigger: decode (poison -> term), look the run up on its subject (finished -> ack, never
run twice), admission (defer -> RunDeferred + nak with backoff), RunStarted, run, result
event, and only once that is stored: ack, or nak(delay) for a retry. `in_progress()` keeps
the message while it runs. Cancel requests arrive on core NATS `jetcron.cancel.<run_id>`.
On stop: fetch no more, let running jobs finish until drain_timeout, then hand the rest back
(nak, no final event) for another executor to run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, ConsumerInfo, DeliverPolicy
from nats.js.client import JetStreamContext
from nats.js.errors import APIError, NotFoundError

from jetcron import ids, subjects
from jetcron.clock import Clock, SystemClock
from jetcron.errors import InvalidInput
from jetcron.executors import runner
from jetcron.executors.actions import ActionContext, resolve, run_action
from jetcron.executors.admission import HostSampler, evaluate
from jetcron.executors.heartbeat import ExecutorInfo, Heartbeat
from jetcron.executors.process import (
    DEFAULT_PATH,
    build_env,
    resolve_command,
    resolve_cwd,
    run_process,
)
from jetcron.executors.runner import RunHistory, RunRef, RunResult
from jetcron.scheduler.events import (
    Envelope,
    RunCancelled,
    RunEvent,
    RunFailed,
    RunStarted,
    RunSucceeded,
    RunTimedOut,
    RunTriggered,
    UnknownEvent,
    decode,
    is_final,
)
from jetcron.scheduler.log import EventLog
from jetcron.scheduler.publisher import PubAck

log = logging.getLogger(__name__)

CANCEL_PREFIX = f"{subjects.PREFIX}.cancel"
START_LOOKBACK = timedelta(hours=1)
FETCH_TIMEOUT_S = 1.0
MIN_ACK_PENDING = 1000
_FORBIDDEN = frozenset(" \t\r\n*>/\\")


class ExecutorConfig(msgspec.Struct, kw_only=True):
    """How an executor runs: who it is, what it takes, what it allows."""

    name: str
    targets: list[str]
    """Pools it serves (work queue); usually [name, "default"]."""
    tags: list[str] = []
    """Pools it also serves, and fan-out groups `all:<tag>` it belongs to."""
    concurrency: int = 4
    allow: list[str] = []
    """Executables commands may run (empty: any)."""
    allow_shell: bool = False
    work_dir: str | None = None
    """Commands run inside this directory (their cwd is resolved in it)."""
    ack_wait_s: float = 30.0
    drain_timeout_s: float = 30.0
    output_cap: int = 65536
    kill_grace_s: float = 5.0
    heartbeat_s: float = 5.0
    defer_base_s: float = 5.0
    """First backoff of a deferred run; grows with pressure and deferrals."""

    @classmethod
    def for_host(
        cls, name: str | None = None, *, tags: list[str] | None = None, **options: object
    ) -> ExecutorConfig:
        """The defaults: named after the host, serving its own name and "default"."""
        name = name or socket.gethostname()
        return msgspec.convert(
            {"name": name, "targets": [name, "default"], "tags": tags or [], **options}, cls
        )


class ExecutorStats(msgspec.Struct, kw_only=True):
    """Counters since the executor was created."""

    handled: int = 0
    """Messages processed (any outcome, including deferrals and hand-backs)."""
    started: int = 0
    succeeded: int = 0
    failed: int = 0
    timed_out: int = 0
    cancelled: int = 0
    retried: int = 0
    deferred: int = 0
    duplicates: int = 0
    """Deliveries of runs that had already finished, acked without running."""
    handed_back: int = 0
    poison: int = 0
    errors: int = 0


class Binding(msgspec.Struct, frozen=True):
    """One durable consumer an executor fetches from."""

    durable: str
    subject: str
    fanout: bool = False


def bindings(config: ExecutorConfig) -> list[Binding]:
    """The consumers of an executor: a shared pool per target and tag, its own per fan-out tag."""
    pools = [
        Binding(f"pool-{subjects.token(t)}", subjects.trigger(t))
        for t in dict.fromkeys([*config.targets, *config.tags])
    ]
    fans = [
        Binding(
            f"fan-{subjects.token(config.name)}-{subjects.token(tag)}",
            subjects.trigger(f"all:{tag}"),
            True,
        )
        for tag in dict.fromkeys(config.tags)
    ]
    return pools + fans


def consumer_config(binding: Binding, config: ExecutorConfig, now: datetime) -> ConsumerConfig:
    """The config a missing consumer is created with."""
    return ConsumerConfig(
        name=binding.durable,
        durable_name=binding.durable,
        description=f"jetcron executor {'fan-out' if binding.fanout else 'pool'} {binding.subject}",
        filter_subject=binding.subject,
        ack_policy=AckPolicy.EXPLICIT,
        # why: DeliverPolicy.NEW would lose triggers appended just before the pool's first
        # executor came up; ALL would replay all history. An hour back is the middle ground.
        deliver_policy=DeliverPolicy.BY_START_TIME,
        opt_start_time=now - START_LOOKBACK,
        ack_wait=config.ack_wait_s,
        max_deliver=-1,  # why: deferrals and retries are naks, and each counts as a delivery
        max_ack_pending=max(MIN_ACK_PENDING, config.concurrency * 4),
    )


def validate(config: ExecutorConfig) -> None:
    """InvalidInput if a name cannot be part of a subject or consumer name."""
    for what, value in [
        ("name", config.name),
        *[("target", t) for t in config.targets],
        *[("tag", t) for t in config.tags],
    ]:
        if not value or _FORBIDDEN & set(value):
            raise InvalidInput(
                f"invalid executor {what} {value!r}: no spaces, '*', '>', '/' or '\\'"
            )
    if config.concurrency < 1:
        raise InvalidInput(f"concurrency must be at least 1, got {config.concurrency}")


@dataclass(eq=False)
class _Run:
    """A run this executor is working on."""

    ref: RunRef
    trigger: RunTriggered
    cause: str
    """Envelope id of the trigger (causation of every event we append)."""
    cancel: asyncio.Event = field(default_factory=asyncio.Event)
    cancel_reason: str = ""
    handed_back: bool = False

    def request_cancel(self, reason: str) -> None:
        """An operator or the ticker wants this run stopped."""
        if not self.cancel.is_set():
            self.cancel_reason = reason
            self.cancel.set()

    def hand_back(self) -> None:
        """Shutdown: stop it and give the trigger back (unless a cancel is already under way)."""
        if not self.cancel.is_set():
            self.handed_back = True
            self.cancel.set()


@dataclass
class _Bound:
    binding: Binding
    sub: JetStreamContext.PullSubscription
    ack_wait: float


class _Slots:
    """Counts free run slots; fetchers take them before fetching, runs give them back."""

    def __init__(self, n: int) -> None:
        self.free = n
        self.closed = False
        self._changed = asyncio.Event()

    async def take(self, up_to: int) -> int:
        """Wait for a free slot, take up to `up_to`; 0 once closed."""
        while self.free <= 0 and not self.closed:
            self._changed.clear()
            await self._changed.wait()
        if self.closed:
            return 0
        n = min(up_to, self.free)
        self.free -= n
        return n

    def give(self, n: int) -> None:
        """Return slots."""
        if n:
            self.free += n
            self._changed.set()

    def close(self) -> None:
        """Wake every waiter with 0."""
        self.closed = True
        self._changed.set()


_COUNTERS: dict[type, str] = {
    RunSucceeded: "succeeded",
    RunFailed: "failed",
    RunTimedOut: "timed_out",
    RunCancelled: "cancelled",
}


class Executor:
    """Runs the triggers of its targets; see the module docstring for the lifecycle."""

    def __init__(
        self,
        nc: Client,
        config: ExecutorConfig,
        *,
        event_log: EventLog | None = None,
        clock: Clock | None = None,
    ) -> None:
        validate(config)
        self.nc = nc
        self.js = nc.jetstream()
        self.config = config
        self.log = event_log or EventLog(nc)
        self._owns_log = event_log is None
        self.clock = clock or SystemClock()
        self.stats = ExecutorStats()
        self.sampler = HostSampler()
        self._actor = f"executor:{config.name}"
        self._runs: dict[str, _Run] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._bound: list[_Bound] = []
        self._slots = _Slots(config.concurrency)
        self._stopping = asyncio.Event()
        self._ready = asyncio.Event()

    @property
    def running(self) -> list[str]:
        """Run ids in hand right now."""
        return list(self._runs)

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set, then drain and hand back what is left."""
        self._reset()
        await self._serve(stop, graceful=True)

    async def run_burst(self, timeout: float = 5.0) -> int:  # noqa: ASYNC109 - a budget, not a deadline
        """Process what is pending (including naks due within `timeout`); the number handled."""
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

    # -- serving -----------------------------------------------------------------------------

    def _reset(self) -> None:
        self._slots, self._stopping, self._ready = (
            _Slots(self.config.concurrency),
            asyncio.Event(),
            asyncio.Event(),
        )

    async def _serve(self, stop: asyncio.Event, *, graceful: bool) -> None:
        async with contextlib.AsyncExitStack() as stack:
            await self._open(stack)
            beat_stop = asyncio.Event()
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._heartbeat().run(beat_stop))
                fetchers = [tg.create_task(self._fetch_loop(bound)) for bound in self._bound]
                self._ready.set()
                await stop.wait()
                await self._shutdown(fetchers, graceful)
                beat_stop.set()

    async def _open(self, stack: contextlib.AsyncExitStack) -> None:
        if self._owns_log:
            await self.log.open()
            stack.push_async_callback(_quietly, self.log.close)
        sub = await self.nc.subscribe(f"{CANCEL_PREFIX}.*", cb=self._on_cancel)
        stack.push_async_callback(_quietly, sub.unsubscribe)
        self._bound = [await self._bind(b) for b in bindings(self.config)]
        for bound in self._bound:
            stack.push_async_callback(_quietly, bound.sub.unsubscribe)
        log.info(
            "executor %s serving %s",
            self.config.name,
            ", ".join(b.binding.subject for b in self._bound),
        )

    def _heartbeat(self) -> Heartbeat:
        c = self.config
        identity = ExecutorInfo(
            name=c.name,
            targets=list(c.targets),
            tags=list(c.tags),
            interval_s=c.heartbeat_s,
            started_at=self.clock.now(),
        )
        return Heartbeat(
            self.nc, identity, running=lambda: self.running, sampler=self.sampler, clock=self.clock
        )

    async def _bind(self, binding: Binding) -> _Bound:
        info = await self._ensure_consumer(binding)
        sub = await self.js.pull_subscribe_bind(durable=binding.durable, stream=self.log.stream)
        return _Bound(binding, sub, info.config.ack_wait or self.config.ack_wait_s)

    async def _ensure_consumer(self, binding: Binding) -> ConsumerInfo:
        with contextlib.suppress(NotFoundError):
            return await self.js.consumer_info(self.log.stream, binding.durable)
        config = consumer_config(binding, self.config, self.clock.now())
        try:
            return await self.js.add_consumer(self.log.stream, config)
        except APIError as err:
            # why: a peer of the pool created it a moment before us (its start time wins);
            # the server then answers 10012 "start time can not be updated" or 10148.
            try:
                return await self.js.consumer_info(self.log.stream, binding.durable)
            except NotFoundError:
                raise err from None

    async def _shutdown(self, fetchers: list[asyncio.Task[None]], graceful: bool) -> None:
        deadline = asyncio.get_running_loop().time() + self.config.drain_timeout_s
        self._stopping.set()
        self._slots.close()
        if not graceful:
            # why: burst mode stops only when the consumers are empty, so nothing is in flight.
            for task in fetchers:
                task.cancel()
        await asyncio.gather(*fetchers, return_exceptions=True)
        if self._tasks:
            await asyncio.wait(
                set(self._tasks), timeout=max(0.0, deadline - asyncio.get_running_loop().time())
            )
        for run in list(self._runs.values()):
            log.info("executor %s: handing run %s back", self.config.name, run.ref.run_id)
            run.hand_back()
        if self._tasks:
            await asyncio.wait(set(self._tasks))

    async def _until_idle(self) -> None:
        await self._ready.wait()
        while self._tasks or not await self._consumers_idle():
            await asyncio.sleep(0.1)

    async def _consumers_idle(self) -> bool:
        for bound in self._bound:
            info = await self.js.consumer_info(self.log.stream, bound.binding.durable)
            if info.num_pending or info.num_ack_pending:
                return False
        return True

    async def _fetch_loop(self, bound: _Bound) -> None:
        # why: a fair share of the slots per consumer, so an idle one cannot starve the rest.
        share = max(1, self.config.concurrency // len(self._bound))
        while not self._stopping.is_set():
            n = await self._slots.take(share)
            if n == 0:
                return
            msgs = await self._fetch(bound, n)
            self._slots.give(n - len(msgs))
            for msg in msgs:
                self._spawn(msg, bound)

    async def _fetch(self, bound: _Bound, n: int) -> list[Msg]:
        try:
            return await bound.sub.fetch(n, timeout=FETCH_TIMEOUT_S)
        except TimeoutError:
            return []
        except Exception as err:  # noqa: BLE001 - keep serving through server hiccups
            log.warning(
                "executor %s: fetch from %s failed: %s",
                self.config.name,
                bound.binding.durable,
                err,
            )
            await asyncio.sleep(1.0)
            with contextlib.suppress(Exception):
                await self._ensure_consumer(bound.binding)
            return []

    def _spawn(self, msg: Msg, bound: _Bound) -> None:
        task = asyncio.create_task(self._handle(msg, bound))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- one message ---------------------------------------------------------------------------

    async def _handle(self, msg: Msg, bound: _Bound) -> None:
        try:
            if self._stopping.is_set():
                await msg.nak()  # why: fetched as we stopped: give it straight back
                return
            async with _keepalive(msg, bound.ack_wait / 3):
                await self._process(msg, bound.binding.fanout)
        except Exception:
            self.stats.errors += 1
            log.exception(
                "executor %s: a trigger failed to process; handing it back", self.config.name
            )
            with contextlib.suppress(Exception):
                await msg.nak(delay=min(bound.ack_wait, 5.0))
        finally:
            self.stats.handled += 1
            self._slots.give(1)

    async def _process(self, msg: Msg, fanout: bool) -> None:
        envelope = decode(msg.data)
        if isinstance(envelope, UnknownEvent) or not isinstance(envelope.event, RunTriggered):
            what = (
                envelope.problem
                if isinstance(envelope, UnknownEvent)
                else type(envelope.event).__name__
            )
            log.warning(
                "executor %s: dropping a message on %s that is no trigger: %s",
                self.config.name,
                msg.subject,
                what,
            )
            self.stats.poison += 1
            await msg.term()
            return
        trigger = envelope.event
        run = _Run(runner.run_ref(trigger, self.config.name, fanout=fanout), trigger, envelope.id)
        if run.ref.run_id in self._runs:
            # why: redelivered while we still run it (a missed in-progress): do not run it twice.
            self.stats.duplicates += 1
            await msg.nak(delay=self.config.ack_wait_s)
            return
        self._runs[run.ref.run_id] = run
        try:
            await self._lifecycle(run, msg)
        finally:
            self._runs.pop(run.ref.run_id, None)

    async def _lifecycle(self, run: _Run, msg: Msg) -> None:
        history = await self._history(run.ref.subject)
        step = runner.gate(history, self.clock.now())
        if isinstance(step, runner.Finished):
            self.stats.duplicates += 1
            log.info(
                "executor %s: run %s already finished; acking", self.config.name, run.ref.run_id
            )
            await msg.ack()
        elif isinstance(step, runner.NotYet):
            await msg.nak(delay=step.delay_s)
        elif isinstance(step, runner.CancelNow):
            await self._record(run, msg, history, RunResult(outcome="cancelled", error=step.reason))
        elif run.trigger.conditions is None or await self._admitted(run, msg, history):
            await self._attempt(run, msg, history)

    async def _history(self, subject: str) -> RunHistory:
        # why: the common case is a first delivery with nothing on the run subject yet; one
        # direct get answers it, and a final last event answers a redelivery of a done run.
        last = await self.log.last(subject)
        if last is None:
            return RunHistory()
        if is_final(last.event):
            return RunHistory(finished=True)
        events, _ = await self.log.load(subject)
        return runner.summarize(events)

    async def _admitted(self, run: _Run, msg: Msg, history: RunHistory) -> bool:
        conditions = run.trigger.conditions
        assert conditions is not None
        sample = await asyncio.to_thread(self.sampler.sample_for, conditions)
        decision = runner.admit(
            history,
            conditions,
            evaluate(conditions, sample),
            self.clock.now(),
            base_s=self.config.defer_base_s,
        )
        if isinstance(decision, runner.Admit):
            if decision.forced:
                log.warning(
                    "executor %s: run %s forced: %s",
                    self.config.name,
                    run.ref.run_id,
                    decision.reason,
                )
            return True
        if isinstance(decision, runner.Expire):
            await self._record(
                run, msg, history, RunResult(outcome="cancelled", error=decision.reason)
            )
            return False
        event = runner.deferred_event(run.ref, history.attempt, decision)
        await self._append(run, event, f"{history.attempt}:deferred:{decision.deferrals}")
        self.stats.deferred += 1
        await msg.nak(delay=decision.delay_s)
        return False

    async def _attempt(self, run: _Run, msg: Msg, history: RunHistory) -> None:
        if not run.cancel.is_set():
            result = await self._execute(run, history.attempt)
        else:
            result = RunResult(outcome="cancelled")
        if run.handed_back:
            self.stats.handed_back += 1
            await msg.nak()  # why: no final event, so the next executor runs it
            return
        if result.outcome == "cancelled":
            result = msgspec.structs.replace(result, error=run.cancel_reason or "cancelled")
        await self._record(run, msg, history, result)

    async def _execute(self, run: _Run, attempt: int) -> RunResult:
        started: list[asyncio.Task[PubAck]] = []

        def on_start(pid: int | None) -> None:
            event = RunStarted(**run.ref.fields(attempt), pid=pid, host_time=self.clock.now())
            started.append(asyncio.create_task(self._append(run, event, f"{attempt}:started")))
            self.stats.started += 1

        try:
            if run.trigger.job.action is not None:
                return await self._run_action(run, attempt, on_start)
            return await self._run_command(run, attempt, on_start)
        finally:
            # why: the result must follow its RunStarted in the log.
            await asyncio.gather(*started)

    async def _run_command(
        self, run: _Run, attempt: int, on_start: Callable[[int], None]
    ) -> RunResult:
        job, c = run.trigger.job, self.config
        try:
            argv = resolve_command(
                job.command,
                job.shell,
                allow=c.allow,
                allow_shell=c.allow_shell,
                path=os.environ.get("PATH") or DEFAULT_PATH,
            )
            cwd = resolve_cwd(job.cwd, c.work_dir)
            env = build_env(job.env, runner.run_vars(run.ref, attempt))
            result = await run_process(
                argv,
                cwd=cwd,
                env=env,
                timeout=run.trigger.timeout_s,
                grace=c.kill_grace_s,
                output_cap=c.output_cap,
                cancel=run.cancel,
                on_start=on_start,
            )
        except InvalidInput as err:
            return runner.rejected(err)
        return runner.from_process(result, cancel_reason=run.cancel_reason)

    async def _run_action(
        self, run: _Run, attempt: int, on_start: Callable[[int | None], None]
    ) -> RunResult:
        job = run.trigger.job
        assert job.action is not None
        try:
            resolve(job.action)
        except InvalidInput as err:
            return runner.rejected(err)
        on_start(None)
        ctx = ActionContext(
            run_id=run.ref.run_id,
            schedule=run.ref.name,
            fire_time=run.ref.fire_time,
            attempt=attempt,
            cancel=run.cancel,
            params=dict(job.params),
        )
        return await run_action(
            job.action, ctx, timeout=run.trigger.timeout_s, grace=self.config.kill_grace_s
        )

    async def _record(self, run: _Run, msg: Msg, history: RunHistory, result: RunResult) -> None:
        event, delay = runner.result_event(
            run.ref,
            result,
            attempt=history.attempt,
            tries=history.tries,
            retry=run.trigger.retry,
            timeout_s=run.trigger.timeout_s,
            now=self.clock.now(),
        )
        await self._append(run, event, f"{history.attempt}:result")
        self._count(event, delay)
        # why: ack/nak only now that the result is stored; a crash before this redelivers.
        if delay is None:
            await msg.ack()
        else:
            await msg.nak(delay=delay)

    async def _append(self, run: _Run, event: RunEvent, key: str) -> PubAck:
        envelope = Envelope(
            id=ids.new_id(),
            at=self.clock.now(),
            actor=self._actor,
            event=event,
            causation_id=run.cause,
            correlation_id=run.ref.trigger_run_id,
        )
        # why: the msg id makes a re-sent append (lost ack, redelivery) land once.
        return await self.log.publish(run.ref.subject, envelope, msg_id=f"{run.ref.run_id}:{key}")

    def _count(self, event: RunEvent, delay: float | None) -> None:
        name = _COUNTERS.get(type(event))
        if name is not None:
            setattr(self.stats, name, getattr(self.stats, name) + 1)
        if delay is not None:
            self.stats.retried += 1

    async def _on_cancel(self, msg: Msg) -> None:
        run_id = msg.subject[len(CANCEL_PREFIX) + 1 :]
        text = msg.data.decode("utf-8", "replace").strip()
        reason = f"cancel requested: {text}" if text else "cancel requested"
        for run in list(self._runs.values()):
            if run_id in (run.ref.run_id, run.ref.trigger_run_id):
                log.info(
                    "executor %s: cancelling run %s (%s)", self.config.name, run.ref.run_id, reason
                )
                run.request_cancel(reason)


async def _quietly(close: Callable[[], Awaitable[object]]) -> None:
    """Run a cleanup step; a connection that is already closed is not an error."""
    try:
        await close()
    except Exception as err:  # noqa: BLE001 - cleanup is best effort
        log.debug("cleanup step failed: %s", err)


@contextlib.asynccontextmanager
async def _keepalive(msg: Msg, every: float) -> AsyncIterator[None]:
    """Send in-progress acks every `every` seconds while the body runs."""

    async def beat() -> None:
        while True:
            await asyncio.sleep(every)
            with contextlib.suppress(Exception):
                await msg.in_progress()

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
