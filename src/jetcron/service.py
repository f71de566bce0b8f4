"""The scheduler service (`jetcron serve`): commands, ticker, breaker, notifications and projections."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
from collections.abc import Coroutine
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import msgspec
from nats.aio.client import Client

from jetcron import memory
from jetcron.errors import InvalidInput
from jetcron.log import retention
from jetcron.log.connection import ConnectionWatch
from jetcron.log.fanout import Fanout
from jetcron.log.follow import FollowHealth, supervise
from jetcron.log.lease import KvLease
from jetcron.log.signing import Signer
from jetcron.log.stream import EventLog
from jetcron.notify.deliverer import Deliverer
from jetcron.projections.metrics import Metrics
from jetcron.scheduler.breaker import CircuitBreaker
from jetcron.scheduler.handler import CommandHandler
from jetcron.scheduler.ticker import Ticker
from jetcron.service_steps import (
    CollectorPause,
    ensure_buckets,
    on_stop,
    quietly,
    stop_on_failure,
    until_done,
)

if TYPE_CHECKING:
    from jetcron.projections.service import ProjectionService

log = logging.getLogger(__name__)


class ServiceConfig(msgspec.Struct, kw_only=True):
    """Settings of one scheduler replica."""

    replicas: int | None = None
    """Stream replicas asked (1 embedded, 3 in a cluster; None: 1 for a new log, else what it
    has). An existing log and its buckets are raised to it, never lowered."""
    lease_ttl_s: int = 5
    instance: str = ""
    metrics_port: int | None = None
    snapshot_every: int = 10_000
    retention_s: int | None = None
    """How long triggers, fires and run events live (0: forever; None: keep the stream's)."""
    keep_runs: int = 500
    """Finished runs (and fires, run audit entries) the views keep per schedule (0: all)."""
    rollup_grace_s: float = 3600.0
    """How long after a UTC day ends its late results still count before it is rolled up."""
    rollup_every_s: float = 60.0
    lost_grace_s: float = 60.0
    """How long past its timeout a run may stay silent before the ticker declares it lost."""

    def holder(self) -> str:
        """This replica's name in the lease."""
        return self.instance or f"{socket.gethostname()}:{os.getpid()}"


def _signer(nc: Client) -> Signer | None:
    """The scheduler signs its triggers with the nkey it connected with (if any)."""
    from jetcron.connect import seed_of

    seed = seed_of(nc)
    return Signer(seed) if seed is not None else None


def _check_retention(seconds: int | None) -> None:
    """InvalidInput for a retention under the minimum (the rule: projections/rollups.py)."""
    from jetcron.projections.rollups import retention_problem

    if seconds is not None and (problem := retention_problem(seconds)):
        raise InvalidInput(f"retention {seconds}s: {problem}")


def _warn_short_retention(seconds: int | None) -> None:
    """A log set to a retention out of bounds (before the bounds existed): say what it costs."""
    from jetcron.log.retention import MAX_RETENTION_S, kept
    from jetcron.projections.rollups import retention_problem

    if seconds and (problem := retention_problem(seconds)):
        too, fix = ("long", "forever") if seconds > MAX_RETENTION_S else ("short", "2d or longer")
        log.warning("the log keeps run history %s, too %s (%s): restart a replica with "
                    "--retention %s", kept(seconds), too, problem, fix)  # fmt: skip


async def run(
    nc: Client,
    *,
    stop: asyncio.Event,
    config: ServiceConfig | None = None,
    ready: asyncio.Event | None = None,
    connection: ConnectionWatch | None = None,
    metrics: Metrics | None = None,
) -> None:
    """Serve until stop is set: command handler, ticker (when leader), breaker, projections.

    `metrics`: served already (the CLI starts it first, so a taken port is said at once);
    else `config.metrics_port`, if any, is served once the views are restored.

    NATS outages of any length are weather: the reader waits and resumes, the ticker ticks
    only while it holds the lease, and a part that fails is restarted with backoff.

    One reader follows the log for the projections, the ticker and the breaker (each restored
    from its own checkpoint, so a restart reads only the tail); the notification deliverer
    keeps its durable consumer (its acks are its at-least-once delivery).
    """
    config = config or ServiceConfig()
    _check_retention(config.retention_s)
    async with AsyncExitStack() as stack:
        event_log = await _open_log(nc, config, stack, stop)
        if event_log is None:
            return
        lease = await _lease(nc, config, event_log, stop)
        if lease is None:
            return
        handler = await _commands(nc, event_log, stack)
        replica = _components(nc, event_log, lease, handler, config, metrics, connection)
        if not await until_done(
            "create the notification consumer", replica.deliverer.prepare, stop
        ):
            return
        collector = CollectorPause()
        stack.callback(collector.end)
        reader = await _restored(replica)
        log.info("scheduler service %s up", config.holder())
        await _run_parts(_parts(nc, replica, reader, collector, stop, ready), stop)
        log.info("scheduler service %s stopped", config.holder())


@dataclass(frozen=True)
class _Replica:
    """The parts of one scheduler replica, on one log and one lease."""

    event_log: EventLog
    lease: KvLease
    ticker: Ticker
    breaker: CircuitBreaker
    deliverer: Deliverer
    projections: ProjectionService
    followers: dict[str, FollowHealth]
    """The health of each follower `supervise` restarts (breaker, ticker, notify)."""


async def _open_log(
    nc: Client, config: ServiceConfig, stack: AsyncExitStack, stop: asyncio.Event
) -> EventLog | None:
    """The log (closed by `stack`), its stream made or raised as `config` asks; None if
    stopped before the stream could be made."""
    event_log = await EventLog(nc, signer=_signer(nc)).open(create=False)
    stack.push_async_callback(event_log.close)
    if not await until_done(
        "create the log stream",
        lambda: event_log.ensure_stream(config.replicas, config.retention_s),
        stop,
    ):
        return None
    _warn_short_retention(event_log.retention_s)
    return event_log


async def _lease(
    nc: Client, config: ServiceConfig, event_log: EventLog, stop: asyncio.Event
) -> KvLease | None:
    """The ticker's lease, once every bucket exists; None if stopped first."""
    # why the log's count, not the asked one: a replica started without --replicas on an
    # R3 log must not leave (or make) its buckets R1 (log/placement.py)
    lease = KvLease(nc, holder=config.holder(), ttl=config.lease_ttl_s, replicas=event_log.replicas)
    if not await until_done(
        "create the KV buckets", lambda: ensure_buckets(nc, event_log.replicas, lease), stop
    ):
        return None
    return lease


async def _commands(nc: Client, event_log: EventLog, stack: AsyncExitStack) -> CommandHandler:
    """The command handler, answering on NATS until `stack` closes."""
    handler = CommandHandler(event_log)
    sub = await handler.subscribe(nc)
    stack.push_async_callback(quietly, "unsubscribe commands", sub.unsubscribe)  # type: ignore[attr-defined]
    return handler


def _components(
    nc: Client,
    event_log: EventLog,
    lease: KvLease,
    handler: CommandHandler,
    config: ServiceConfig,
    metrics: Metrics | None,
    connection: ConnectionWatch | None,
) -> _Replica:
    """The ticker, the breaker, the notification deliverer and the views (built, not started)."""
    from jetcron.projections.service import ProjectionService

    followers = {name: FollowHealth(name) for name in ("breaker", "ticker", "notify")}
    every = config.snapshot_every
    ticker = Ticker(
        event_log,
        lease=lease,
        handler=handler,
        snapshot_every=every,
        lost_grace=timedelta(seconds=config.lost_grace_s),
    )
    breaker = CircuitBreaker(
        event_log, handler, lease=lease, health=followers["breaker"], snapshot_every=every
    )
    breaker.fed = True
    deliverer = Deliverer(nc, event_log, lease=lease, health=followers["notify"])
    projections = ProjectionService(
        nc,
        event_log,
        snapshot_every=config.snapshot_every,
        metrics_port=config.metrics_port,
        metrics=metrics,
        lease=lease,
        connection=connection,
        followers=followers,
        keep=config.keep_runs,
        rollup_grace=timedelta(seconds=config.rollup_grace_s),
        rollup_every_s=config.rollup_every_s,
    )
    return _Replica(event_log, lease, ticker, breaker, deliverer, projections, followers)


async def _restored(replica: _Replica) -> Fanout:
    """Restore the folds from their checkpoints; the one reader that feeds them from there."""
    projections, ticker, breaker = replica.projections, replica.ticker, replica.breaker
    for fold in (projections, ticker, breaker):
        await fold.restore()
    # why: a restore decodes the snapshots' bytes (hundreds of MiB at millions of events)
    # into objects; what the decoding freed stayed in the heap and counted in RSS for good
    memory.give_back()
    # why: the ticker first, so a trigger's decision waits on nothing but its own fold
    reader = Fanout(
        replica.event_log,
        [ticker, breaker, projections],
        health=projections.health,
        on_skipped=projections.undecodable,
    )
    projections.health.listeners.append(memory.AfterBursts(lambda: reader.events).quiet)
    return reader


def _parts(
    nc: Client,
    replica: _Replica,
    reader: Fanout,
    collector: CollectorPause,
    stop: asyncio.Event,
    ready: asyncio.Event | None,
) -> list[Coroutine[Any, Any, None]]:
    """What runs until stop: the lease, retention, the reader, the folds and the checkpoints."""
    ticker, breaker, deliverer = replica.ticker, replica.breaker, replica.deliverer
    projections, followers = replica.projections, replica.followers
    return [
        replica.lease.run(stop),
        retention.follow(replica.event_log, stop),
        collector.until(reader.current, stop),
        supervise(reader.run, health=projections.health, stop=stop),
        on_stop(nc, stop, projections.save_snapshot, ticker.save_snapshot, breaker.save_snapshot),
        # why: a part that fails comes back (and says so loudly) instead of taking the
        # process, and with it this scheduler replica, down
        supervise(
            lambda: ticker.run(stop, reader.current),
            health=followers["ticker"],
            stop=stop,
            up_after=5.0,
            stops_itself=True,
        ),
        supervise(
            lambda: breaker.run(stop), health=followers["breaker"], stop=stop, stops_itself=True
        ),
        supervise(
            lambda: deliverer.run(stop),
            health=followers["notify"],
            stop=stop,
            stops_itself=True,
        ),
        projections.run(stop, ready=ready, fed=True),
    ]


async def _run_parts(parts: list[Coroutine[Any, Any, None]], stop: asyncio.Event) -> None:
    """Each part a task of one group; one that fails stops them all."""
    async with asyncio.TaskGroup() as tg:
        for part in parts:
            tg.create_task(part).add_done_callback(functools.partial(stop_on_failure, stop))
