"""The scheduler service (`jetcron serve`): commands, ticker, breaker and projections in one process."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from contextlib import AsyncExitStack

import msgspec
from nats.aio.client import Client

from jetcron.log.lease import KvLease
from jetcron.log.stream import EventLog
from jetcron.scheduler.breaker import CircuitBreaker
from jetcron.scheduler.handler import CommandHandler
from jetcron.scheduler.ticker import Ticker

log = logging.getLogger(__name__)


class ServiceConfig(msgspec.Struct, kw_only=True):
    """Settings of one scheduler replica."""

    replicas: int = 1
    """Stream replicas (1 embedded, 3 in a cluster)."""
    lease_ttl_s: int = 5
    instance: str = ""
    metrics_port: int | None = None
    snapshot_every: int = 10_000

    def holder(self) -> str:
        """This replica's name in the lease."""
        return self.instance or f"{socket.gethostname()}:{os.getpid()}"


async def run(
    nc: Client,
    *,
    stop: asyncio.Event,
    config: ServiceConfig | None = None,
    ready: asyncio.Event | None = None,
) -> None:
    """Serve until stop is set: command handler, ticker (when leader), breaker, projections."""
    from jetcron.projections.service import ProjectionService

    config = config or ServiceConfig()
    async with AsyncExitStack() as stack:
        event_log = await EventLog(nc).open(replicas=config.replicas)
        stack.push_async_callback(event_log.close)
        handler = CommandHandler(event_log)
        sub = await handler.subscribe(nc)
        stack.push_async_callback(sub.unsubscribe)  # type: ignore[attr-defined]
        lease = KvLease(
            nc, holder=config.holder(), ttl=config.lease_ttl_s, replicas=config.replicas
        )
        await lease.ensure_bucket()
        ticker = Ticker(event_log, lease=lease, handler=handler)
        breaker = CircuitBreaker(event_log, handler, lease=lease)
        projections = ProjectionService(
            nc,
            event_log,
            snapshot_every=config.snapshot_every,
            metrics_port=config.metrics_port,
            lease=lease,
        )
        log.info("scheduler service %s up", config.holder())
        async with asyncio.TaskGroup() as tg:
            tg.create_task(lease.run(stop))
            tg.create_task(ticker.run(stop))
            tg.create_task(breaker.run(stop))
            tg.create_task(projections.run(stop, ready=ready))
        log.info("scheduler service %s stopped", config.holder())
