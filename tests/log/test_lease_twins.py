"""Two replicas started with the same --instance (newcomer17b F6): one leads, the other stays
standby and says why; before, both renewed a lease holding their name and both ticked."""

from __future__ import annotations

import asyncio

import pytest
from nats.aio.client import Client

from jetcron.log.lease import KvLease
from polling import until


async def test_a_second_replica_of_the_same_name_stays_standby_and_says_so(
    nc: Client, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = KvLease(nc, holder="s1", ttl=1), KvLease(nc, holder="s1", ttl=1)
    await first.ensure_bucket()
    stop = asyncio.Event()
    leading = asyncio.create_task(first.run(stop))
    await until(first.is_leader)
    twin = asyncio.create_task(second.run(stop))
    await until(lambda: "another scheduler replica named 's1'" in caplog.text)
    leaders = []
    for _ in range(20):  # why: both used to hold it, each renewing over the other's write
        leaders.append((first.is_leader(), second.is_leader()))
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.gather(leading, twin)
    assert set(leaders) == {(True, False)}
    assert caplog.text.count("another scheduler replica named") == 1


async def test_a_restart_under_the_same_name_takes_the_lease_its_crash_left(
    nc: Client, caplog: pytest.LogCaptureFixture
) -> None:
    crashed = KvLease(nc, holder="s1", ttl=1)
    await crashed.ensure_bucket()
    await crashed._attempt()  # takes it, then never renews (killed)
    restarted = KvLease(nc, holder="s1", ttl=1)
    stop = asyncio.Event()
    task = asyncio.create_task(restarted.run(stop))
    await until(restarted.is_leader, within=5.0)  # once the TTL freed it
    stop.set()
    await task
    assert "another scheduler replica" not in caplog.text
