"""A cancel is never lost: Python 3.11's wait_for, cancelled in the loop turn what it waits for
finishes, returns that and drops the cancel. The log's waits use asyncio.timeout instead, and
a loop whose cancel was dropped deeper down (nats-py's requests still use wait_for) ends at its
next rest (follow.set_within)."""

from __future__ import annotations

import asyncio

import pytest
from nats.aio.client import Client

from jetcron.log.follow import rest
from jetcron.log.lease import KvLease


async def test_a_lease_asked_for_its_holder_and_cancelled_as_its_first_look_lands_is_cancelled(
    nc: Client,
) -> None:
    lease = KvLease(nc, holder="me", ttl=5)
    await lease.ensure_bucket()
    task = asyncio.create_task(lease.holder_now(5))
    await asyncio.sleep(0)  # why: it waits for the lease's first look
    lease.looked.set()  # the first look lands...
    await asyncio.sleep(0)
    task.cancel()  # ...and in the same turn of the loop its caller is stopped
    with pytest.raises(asyncio.CancelledError):
        await task  # before: it went on to ask the bucket and answered


async def test_a_loop_whose_cancel_was_lost_deeper_down_ends_at_its_next_rest() -> None:
    stop, reply = asyncio.Event(), asyncio.Event()
    rounds = 0

    async def renew() -> None:
        nonlocal rounds
        while not stop.is_set():
            rounds += 1
            # why wait_for: as nats-py's request awaits its reply (not ours to change)
            await asyncio.wait_for(reply.wait(), 5)
            reply.clear()
            await rest(stop, 0.01)

    task = asyncio.create_task(renew())
    await asyncio.sleep(0)  # why: it waits for the reply
    reply.set()  # the reply lands...
    await asyncio.sleep(0)
    task.cancel()  # ...and in the same turn the loop is stopped
    done, _ = await asyncio.wait({task}, timeout=2)
    stop.set()
    reply.set()
    if not done:
        await task  # why: let it end (stop is set) before the test does
    assert done and task.cancelled(), f"the loop went on after its cancel ({rounds} rounds)"
