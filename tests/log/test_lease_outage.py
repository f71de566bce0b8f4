"""The ticker lease during an outage: no leader while NATS is away, leader again after."""

from __future__ import annotations

import asyncio
from pathlib import Path

from conftest import free_port, require_nats_server
from jetcron.connect import ConnectOptions, close, connect
from jetcron.log.lease import KvLease
from jetcron.server import NatsServer
from polling import until


async def test_no_leadership_while_nats_is_away_and_a_yes_after_a_no(tmp_path: Path) -> None:
    require_nats_server()
    server = NatsServer(data_dir=tmp_path / "store", port=free_port()).start()
    nc = await connect(ConnectOptions(servers=server.url), persistent=True)
    lease = KvLease(nc, holder="me", ttl=5)
    await lease.ensure_bucket()
    stop = asyncio.Event()
    task = asyncio.create_task(lease.run(stop))
    try:
        await until(lease.is_leader)
        server.stop()
        await until(lambda: not nc.is_connected)
        assert not lease.is_leader()  # at once, not 0.8 x TTL later
        lease.changed.clear()  # the ticker heard "no" and now waits for `changed`
        server.start()
        await until(lease.changed.is_set)
        assert lease.is_leader()
    finally:
        stop.set()
        await task
        await close(nc)
        server.stop()
