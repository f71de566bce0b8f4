"""The runs an executor holds, and what it reads and writes about them in the log.

`Run` is one run in hand; `RunLog` is the executor's I/O on run and schedule subjects: the
run's history, appends with a msg id per step, the result event, why a run must not start
(a cancel request, a deleted or paused schedule) and whether a peer's heartbeat holds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import msgspec
from nats.aio.client import Client
from nats.errors import Error as NatsError

from jetcron import ids, subjects
from jetcron.clock import Clock
from jetcron.domain.definition import SECRET_REF
from jetcron.domain.envelope import AnyEvent, Envelope
from jetcron.domain.events import RunTriggered, ScheduleUpdated
from jetcron.errors import InvalidInput
from jetcron.executors import attempt as run_attempt
from jetcron.executors import masking
from jetcron.executors import results as run_results
from jetcron.executors.attempt import RunHistory, RunRef
from jetcron.executors.results import ResultEvent, RunResult
from jetcron.log import secrets
from jetcron.log.acks import PubAck
from jetcron.log.heartbeats import ExecutorInfo, list_executors
from jetcron.log.stream import EventLog

log = logging.getLogger(__name__)

HOLDER_FRESH_INTERVALS = 1.5
"""A heartbeat older than this many of its intervals does not prove its executor holds a run."""


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
    """Deliveries of runs that had already finished (or were running here), not run again."""
    handed_back: int = 0
    held: int = 0
    """Results kept in the journal when it stopped (not stored: NATS away), for its next start."""
    poison: int = 0
    errors: int = 0

    @property
    def results(self) -> int:
        """Attempts whose end is stored (a retrying failure too)."""
        return self.succeeded + self.failed + self.timed_out + self.cancelled

    def count(self, event: ResultEvent, delay: float | None) -> None:
        """Count a stored result event (and a retry if it asks for one)."""
        name = run_results.counter_name(event)
        setattr(self, name, getattr(self, name) + 1)
        if delay is not None:
            self.retried += 1


@dataclass(eq=False)
class Run:
    """A run this executor is working on."""

    ref: RunRef
    trigger: RunTriggered
    cause: str
    """Envelope id of the trigger (causation of every event we append)."""
    cancel: asyncio.Event = field(default_factory=asyncio.Event)
    cancel_reason: str = ""
    handed_back: bool = False
    raw: bytes = b""
    """The trigger as delivered (kept in the journal)."""
    fanout: bool = False
    adopted: bool = False
    """Found running in the journal at start: its job outlived our predecessor."""
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    reported: bool = False
    claimed: bool = False
    """Our RunStarted is in the log: this attempt is ours."""
    secret_values: dict[str, str] = field(default_factory=dict)
    """The job's secret variables, resolved (masked in its output; never in the log)."""
    holding: Callable[[], bool] | None = None
    """Whether its trigger is still ours (consumers.Hold.current); None: not tracked."""
    attempt: int = 0
    """The attempt this executor claimed (0: none yet)."""
    taken_over_by: str = ""
    """The executor that started a later attempt while ours ran (this host was cut off)."""
    ended: bool = False
    """Its job has ended; only its result waits to be stored (kept in the journal till then)."""

    def held(self) -> bool:
        """Whether the job may go on running here (process.Job._pulse asks)."""
        return not self.taken_over_by and (self.holding is None or self.holding())

    def request_cancel(self, reason: str) -> None:
        """An operator or the ticker wants this run stopped."""
        if not self.cancel.is_set():
            self.cancel_reason = reason
            self.cancel.set()

    def hand_back(self) -> None:
        """Shutdown: stop it and give the trigger back (unless a cancel is already under way,
        or its job has ended: then only its result waits, and the journal keeps it)."""
        if not self.cancel.is_set() and not self.ended:
            self.handed_back = True
            self.cancel.set()


class RunLog:
    """What one executor reads and appends about its runs."""

    def __init__(
        self, event_log: EventLog, nc: Client, name: str, clock: Clock, stats: ExecutorStats
    ) -> None:
        self.log, self.nc, self.name, self.clock, self.stats = event_log, nc, name, clock, stats
        self.actor = f"executor:{name}"

    async def history(self, run: Run) -> RunHistory:
        """The run's history as far as starting an attempt is concerned."""
        ref = run.ref
        # why: usually a first delivery with nothing about the run yet: one direct get on its
        # writers' subjects answers it (and one on the subject of logs before writers were named).
        if await self.log.last(ref.checked_subject) is None:
            if await self.log.last(subjects.run(ref.name, ref.run_id)) is None:
                return RunHistory()
        events, last_seq = await self.log.load_run(ref.name, ref.run_id)
        history = run_attempt.summarize(events, run.trigger)
        return msgspec.structs.replace(history, last_seq=last_seq)

    def envelope(self, run: Run, event: AnyEvent) -> Envelope:
        """An event of this run as we append it."""
        return Envelope(
            id=ids.new_id(), at=self.clock.now(), actor=self.actor, event=event,
            causation_id=run.cause, correlation_id=run.ref.trigger_run_id,
        )  # fmt: skip

    async def append(self, run: Run, event: AnyEvent, key: str) -> PubAck:
        """Append one step of a run; `key` names the step within the run."""
        # why: the msg id makes a re-sent append (lost ack, redelivery) land only once.
        envelope = self.envelope(run, event)
        return await self.log.publish(run.ref.subject, envelope, msg_id=f"{run.ref.run_id}:{key}")

    async def claim(self, run: Run, event: AnyEvent, attempt: int, last_seq: int) -> None:
        """Append the attempt's RunStarted only if nothing else was appended since `last_seq`."""
        await self.log.append(
            run.ref.subject, [self.envelope(run, event)],
            expected_last_subject_seq=last_seq, msg_id=f"{run.ref.run_id}:{attempt}:started",
            expected_subject=run.ref.checked_subject,
        )  # fmt: skip

    async def secret_env(self, run: Run) -> dict[str, str]:
        """The job's secret variables from the secrets bucket; InvalidInput if one is missing."""
        target = run.ref.target
        for var, ref in run.trigger.job.secrets.items():
            name = ref.removeprefix(SECRET_REF)
            try:
                value = await secrets.get(self.nc, target, name)
            except (NatsError, TimeoutError) as err:
                raise InvalidInput(
                    f"secret {var}: cannot read {name!r} for target {target!r} "
                    f"(does this executor serve it?): {err or type(err).__name__}"
                ) from None
            if value is None:
                raise InvalidInput(
                    f"secret {var}: {name!r} not found for target {target!r} "
                    f"(put it with `jetcron schedule update {run.ref.name} --secret-env {var}=@FILE`)"
                )
            run.secret_values[var] = value
        return dict(run.secret_values)

    async def store_result(
        self, run: Run, attempt: int, tries: int, result: RunResult
    ) -> float | None:
        """Append the attempt's final (or retrying) event (secrets masked); the retry delay."""
        if run.trigger.job.secrets and not run.secret_values:
            # why: a result reported from the journal after a restart: mask it all the same
            with contextlib.suppress(InvalidInput):
                await self.secret_env(run)
        result = masking.masked(result, run.secret_values.values())
        event, delay = run_results.result_event(
            run.ref, result, attempt=attempt, tries=tries,
            retry=run.trigger.retry, timeout_s=run.trigger.timeout_s, now=self.clock.now(),
        )  # fmt: skip
        await self.append(run, event, f"{attempt}:result")
        self.stats.count(event, delay)
        return delay

    async def stop_reason(self, run: Run, history: RunHistory | None = None) -> str:
        """Why a run must not (go on) run: a cancel request or its schedule's state; else ""."""
        history = history or await self.history(run)
        if history.cancel_reason is not None:
            return history.cancel_reason or "cancel requested"
        subject = subjects.schedule(run.ref.name)
        last = await self.log.last(subject)
        if last is None:
            return ""
        # why: the last event answers unless it is an update (which leaves the status as it was).
        if isinstance(last.event, ScheduleUpdated):
            events = (await self.log.load(subject))[0]
        else:
            events = [last]
        return run_attempt.schedule_stop(run.trigger, events) or ""

    async def peers(self) -> list[run_attempt.Peer]:
        """The other executors' heartbeats, as the hold-off rule reads them."""
        now = self.clock.now()

        def peer(info: ExecutorInfo) -> run_attempt.Peer:
            seen = info.seen_at or datetime.min.replace(tzinfo=UTC)
            # why: a SIGKILLed executor's key lives until its TTL; only a recent beat counts.
            fresh = (now - seen).total_seconds() <= HOLDER_FRESH_INTERVALS * info.interval_s
            taken = info.host_time or seen
            return run_attempt.Peer(info.name, seen, taken, frozenset(info.running), fresh)

        return [peer(i) for i in await list_executors(self.nc) if i.name != self.name]
