"""The executor's durable pull consumers: which ones, how they are created, fetching from them.

  pool-<target>       one durable per target (host name, "default", each tag), shared by every
                      executor bound to it: a work queue, each trigger runs on one of them.
  fan-<name>-<tag>    one durable per executor and tag on `jetcron.trigger.all:<tag>`: every
                      executor with the tag runs it.

A missing consumer is created starting at now - 1 h (deliver_policy by_start_time): triggers
appended shortly before the first executor of a pool came up still run, older history is
not replayed. An existing consumer keeps the settings of whoever created it (ack_wait too).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, ConsumerInfo, DeliverPolicy
from nats.js.client import JetStreamContext
from nats.js.errors import APIError, NotFoundError, ServiceUnavailableError

from jetcron import subjects
from jetcron.log.connection import Probe
from jetcron.log.errors import transient
from jetcron.log.follow import backoff

log = logging.getLogger(__name__)

START_LOOKBACK = timedelta(hours=1)
FETCH_TIMEOUT_S = 1.0
"""Longest wait of one pull request; also how long a graceful stop may wait for fetchers."""
MIN_ACK_PENDING = 1000
"""Deferred and retrying runs stay ack-pending while they wait; leave room for many."""
FETCH_RETRY_S = 1.0
CREATE_ATTEMPTS = 6
"""Tries of a consumer create JetStream refuses for now (0.5 + 1 + 2 + 4 + 4 s between)."""


class Binding(msgspec.Struct, frozen=True):
    """One durable consumer an executor fetches from."""

    durable: str
    subject: str
    fanout: bool = False


def bindings(name: str, targets: list[str], tags: list[str]) -> list[Binding]:
    """The consumers of an executor: a shared pool per target and tag, its own per tag fan-out."""
    pools = [
        Binding(subjects.pool_consumer(t), subjects.trigger(t))
        for t in dict.fromkeys([*targets, *tags])
    ]
    fans = [
        Binding(subjects.fan_consumer(name, tag), subjects.trigger(subjects.fan_target(tag)), True)
        for tag in dict.fromkeys(tags)
    ]
    return pools + fans


def consumer_config(
    binding: Binding, *, ack_wait: float, concurrency: int, now: datetime
) -> ConsumerConfig:
    """The config a missing consumer is created with."""
    kind = "fan-out" if binding.fanout else "pool"
    return ConsumerConfig(
        name=binding.durable,
        durable_name=binding.durable,
        description=f"jetcron executor {kind} {binding.subject}",
        filter_subject=binding.subject,
        ack_policy=AckPolicy.EXPLICIT,
        # why: DeliverPolicy.NEW would lose triggers appended just before the pool's first
        # executor came up; ALL would replay all history. An hour back is the middle ground.
        deliver_policy=DeliverPolicy.BY_START_TIME,
        opt_start_time=now - START_LOOKBACK,
        ack_wait=ack_wait,
        max_deliver=-1,  # why: deferrals and retries are naks, and each counts as a delivery
        max_ack_pending=max(MIN_ACK_PENDING, concurrency * 4),
    )


async def ensure_consumer(
    js: JetStreamContext, stream: str, binding: Binding, config: ConsumerConfig
) -> ConsumerInfo:
    """The consumer's info, creating it with `config` if it does not exist (race-safe); a
    transient refusal is retried for about CREATE_RETRY_S.

    why: while a `serve --replicas 3` raises the log's replicas (its first start on an R1
    store), JetStream answers a consumer create with 503 "insufficient resources" (measured on
    a 3-node cluster); an executor starting in that second died with a traceback.
    """
    attempt = 0
    while True:
        try:
            return await _ensure_consumer(js, stream, binding, config)
        except Exception as err:
            attempt += 1
            if not transient(err) or attempt >= CREATE_ATTEMPTS:
                raise
            delay = backoff(attempt, base=0.5, cap=4.0)
            log.warning(
                "consumer %s not created yet (%s); retrying in %.1fs",
                binding.durable, str(err) or type(err).__name__, delay,
            )  # fmt: skip
            await asyncio.sleep(delay)


async def _ensure_consumer(
    js: JetStreamContext, stream: str, binding: Binding, config: ConsumerConfig
) -> ConsumerInfo:
    with contextlib.suppress(NotFoundError):
        info: ConsumerInfo = await js.consumer_info(stream, binding.durable)
        return info
    try:
        info = await js.add_consumer(stream, config)
    except APIError as err:
        # why: a peer of the pool created it a moment before us (its start time wins); the
        # server then answers 10012 "start time can not be updated" or 10148 "exists".
        try:
            info = await js.consumer_info(stream, binding.durable)
        except NotFoundError:
            raise err from None
    return info


class Consumer:
    """A bound pull subscription on one durable."""

    def __init__(
        self, js: JetStreamContext, stream: str, binding: Binding, config: ConsumerConfig
    ) -> None:
        self.js, self.stream, self.binding, self.config = js, stream, binding, config
        self.ack_wait = config.ack_wait or 30.0
        self._sub: JetStreamContext.PullSubscription | None = None

    async def open(self) -> Consumer:
        """Create the durable if needed and bind to it."""
        info = await ensure_consumer(self.js, self.stream, self.binding, self.config)
        self.ack_wait = info.config.ack_wait or self.ack_wait
        self._sub = await self.js.pull_subscribe_bind(
            durable=self.binding.durable, stream=self.stream
        )
        return self

    async def close(self) -> None:
        """Unbind (the durable stays)."""
        if self._sub is not None:
            sub, self._sub = self._sub, None
            await sub.unsubscribe()

    async def fetch(self, n: int, timeout: float = FETCH_TIMEOUT_S) -> list[Msg]:  # noqa: ASYNC109
        """Up to `n` messages, waiting at most `timeout`; [] on a timeout or a hiccup."""
        assert self._sub is not None, "open() first"
        try:
            msgs: list[Msg] = await self._sub.fetch(n, timeout=timeout)
        except TimeoutError:
            return []
        except ServiceUnavailableError:
            # why: a 503 with no description is JetStream electing the stream's or consumer's
            # leader after a cluster node came or went; it clears in about a second
            log.info("fetch from %s: JetStream unavailable for a moment (a leader election?); "
                     "retrying", self.binding.durable)  # fmt: skip
            await asyncio.sleep(FETCH_RETRY_S)
            return []
        except Exception as err:  # noqa: BLE001 - keep serving through server hiccups
            log.warning("fetch from %s failed: %s", self.binding.durable, err)
            await asyncio.sleep(FETCH_RETRY_S)
            with contextlib.suppress(Exception):
                # why: the durable may have been deleted by an operator; bring it back.
                await ensure_consumer(self.js, self.stream, self.binding, self.config)
            return []
        return msgs

    async def idle(self) -> bool:
        """True if nothing is waiting for delivery or for an ack (naks with a delay included)."""
        info = await self.js.consumer_info(self.stream, self.binding.durable)
        return not (info.num_pending or info.num_ack_pending)


KEEPALIVE_SHARE = 1 / 3
"""A delivered trigger is ours while the server confirmed an in-progress ack for it within this
share of ack_wait (Hold.current): the age the freeze rule (launch.ORPHAN_SHARE) allows the last
in-progress of an executor that froze, so both lapses end the same way, in the same time."""
RENEW_EVERY_S = 2.0
"""In-progress acks go out this often, or RENEWALS_PER_SHARE times per KEEPALIVE_SHARE of
ack_wait if that is more often."""
RENEWALS_PER_SHARE = 3
"""why several: one late or lost renewal (a busy loop, a slow server) must not lapse the hold
(an ack_wait of 2 s renewed every 2/3 s lapsed whenever one came late, and its jobs stopped)."""
RENEW_TIMEOUT_S = 1.0


class Hold:
    """This executor's hold on one delivered trigger: when its last renewal was confirmed.

    why confirmed: an in-progress ack is a plain publish, which "succeeds" into the client's
    buffer while the server it is connected to hangs; a peer of the pool then receives the
    trigger at ack_wait and runs it beside us (newcomer17b #1). A renewal counts once that
    server answered a PING sent after it (TCP keeps the order), so it has the ack.
    why not an ack of the ack (the in-progress sent as a request, which JetStream answers):
    measured, it is answered for a delivery the server gave up on too, so it proves no more;
    and with it the 60 s chaos test left a trigger ack-pending for good after a kill -9 of
    nats-server, 3 runs of 3 (a plain in-progress and a PING: passed). What a PING cannot
    see: a node that answers but cannot reach the consumer's leader; JetStream has no leader
    to redeliver from then either, unless the rest of the cluster elects one.
    """

    def __init__(
        self, nc: Client, msg: Msg, ack_wait: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.nc, self.msg, self.ack_wait, self.clock = nc, msg, ack_wait, clock
        self.renewed_at = clock()
        """When the last confirmed in-progress was sent (at first: about when it was delivered)."""
        self.after_gap: Callable[[], Awaitable[None]] | None = None
        """Called after a renewal that follows a whole ack_wait without one: the trigger may
        have been redelivered meanwhile (to a peer, which may run it now)."""
        self._probe = Probe(nc)

    def current(self) -> bool:
        """Whether the job may keep running: renewed within KEEPALIVE_SHARE of ack_wait, or
        no NATS server reachable at all.

        why not connected counts as current: with every server out of reach (all of NATS down,
        or this host cut off), nothing tells the two apart from here. When all of NATS is down
        nothing is redelivered meanwhile, and once it is back a peer that receives the trigger
        waits while our heartbeat lists the run, so the job runs on (the README's promise). A
        host cut off from every server while its peers reach one is the one case left to the
        peers' hold-off (README, "Jobs across crashes"). Connected but unconfirmed (a hung
        node not yet noticed, a server that is slow to answer) counts.
        """
        if not self.nc.is_connected:
            return True
        return self.clock() - self.renewed_at < KEEPALIVE_SHARE * self.ack_wait

    def close(self) -> None:
        """Forget a PING still in flight on a connection gone since (see connection.Probe)."""
        self._probe.drop_stale()

    async def renew(self) -> bool:
        """Send an in-progress ack and confirm it with a PING round trip; False if not."""
        sent = self.clock()
        try:
            await self.msg.in_progress()
        except Exception:  # noqa: BLE001 - any failure: not renewed (said by Hold.current)
            return False
        if not await self._probe.once(RENEW_TIMEOUT_S):
            return False
        gap, self.renewed_at = sent - self.renewed_at, max(self.renewed_at, sent)
        if gap >= self.ack_wait and self.after_gap is not None:
            await self.after_gap()
        return True


@contextlib.asynccontextmanager
async def keepalive(msg: Msg, nc: Client, ack_wait: float) -> AsyncIterator[Hold]:
    """Renew the trigger while the body runs (confirmed in-progress acks); yields the Hold."""
    hold = Hold(nc, msg, ack_wait)
    every = min(KEEPALIVE_SHARE * ack_wait / RENEWALS_PER_SHARE, RENEW_EVERY_S)
    done = asyncio.Event()

    async def beat() -> None:
        # why `done` as well as the cancel: a cancel dropped deeper down (Python 3.11's
        # wait_for loses one that lands with its result) kept this loop, and our stop, going
        while not done.is_set():
            await asyncio.sleep(every)
            await hold.renew()

    task = asyncio.create_task(beat())
    try:
        yield hold
    finally:
        done.set()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        hold.close()
