"""A cluster that loses quorum: the scheduler's lease writes get "no responders" while NATS
answers, and the process records a gap "no stream leader" that the ticker names for fires it
decides late (newcomer19c #3; log/gaps.py)."""

from __future__ import annotations

import asyncio
import time

from jetcron.connect import ConnectOptions, close, connect
from jetcron.domain.definition import LATE_NO_LEADER
from jetcron.log.gaps import GAPS
from jetcron.log.lease import KvLease
from jetcron.server import NatsServer


async def test_lost_quorum_is_recorded_as_a_leaderless_gap(nats_cluster: list[NatsServer]) -> None:
    kept, *others = nats_cluster
    nc = await connect(ConnectOptions(servers=kept.url), persistent=True)
    lease = KvLease(nc, holder="s1", ttl=3, replicas=3)
    await lease.ensure_bucket()
    stop = asyncio.Event()
    task = asyncio.create_task(lease.run(stop))
    errors: list[str] = []
    try:
        async with asyncio.timeout(15):
            while not lease.is_leader():
                await asyncio.sleep(0.1)
        lost = time.time()
        for node in others:
            node.stop()  # 1 of 3 left: no stream can elect a leader
        async with asyncio.timeout(30):
            while GAPS.leaderless_since is None:
                await asyncio.sleep(0.05)
        errors.append(lease.error)
        assert nc.is_connected  # NATS answers; JetStream has no leader
        for node in others:
            node.start()
        async with asyncio.timeout(60):
            while not lease.is_leader():
                await asyncio.sleep(0.2)
    finally:
        stop.set()
        await task
        await close(nc)
    [gap] = [g for g in GAPS.all() if g[0] == LATE_NO_LEADER and g[1] >= lost]
    assert gap[2] is not None and gap[2] > gap[1], gap
    assert "503" in errors[0] or "no responders" in errors[0], errors
