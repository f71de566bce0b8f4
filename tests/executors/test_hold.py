"""An executor's hold on a delivered trigger: renewed only when the server confirms it (real server)."""

from __future__ import annotations

import asyncio
import os
import signal

from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig

from conftest import freeze
from jetcron.connect import close
from jetcron.executors.consumers import KEEPALIVE_SHARE, Hold
from jetcron.server import NatsServer

ACK_WAIT = 3.0


async def _delivered(nc: Client) -> object:
    js = nc.jetstream()
    await js.add_stream(name="HOLD", subjects=["hold.>"])
    config = ConsumerConfig(durable_name="c", ack_policy=AckPolicy.EXPLICIT, ack_wait=ACK_WAIT)
    await js.add_consumer("HOLD", config)
    await js.publish("hold.a", b"x")
    sub = await js.pull_subscribe_bind(durable="c", stream="HOLD")
    [msg] = await sub.fetch(1)
    return msg


async def test_a_confirmed_renewal_keeps_the_trigger_past_its_ack_wait(nc: Client) -> None:
    msg = await _delivered(nc)
    now = [0.0]
    hold = Hold(nc, msg, ACK_WAIT, clock=lambda: now[0])  # type: ignore[arg-type]
    now[0] = KEEPALIVE_SHARE * ACK_WAIT
    assert not hold.current(), "connected and not renewed within its share: lapsed"
    assert await hold.renew()
    assert hold.renewed_at == now[0] and hold.current()
    for _ in range(3):  # renewed past 1.5 x ack-wait: never redelivered
        await asyncio.sleep(ACK_WAIT / 2)
        assert await hold.renew()
    info = await nc.jetstream().consumer_info("HOLD", "c")
    assert info.num_redelivered == 0 and info.num_ack_pending == 1


async def test_a_hung_server_confirms_nothing(nc: Client, nats_server: NatsServer) -> None:
    msg = await _delivered(nc)
    hold = Hold(nc, msg, ACK_WAIT)
    freeze(nats_server)
    try:
        began = hold.renewed_at
        assert not await hold.renew(), "an in-progress into a hung server's socket is no renewal"
        assert hold.renewed_at == began
        assert nc.is_connected, "the client has not noticed yet: this counts against the hold"
        await asyncio.sleep(KEEPALIVE_SHARE * ACK_WAIT)
        assert not hold.current()
    finally:
        assert nats_server.pid is not None
        os.kill(nats_server.pid, signal.SIGCONT)


async def test_with_no_server_reachable_the_hold_stands(
    nc: Client, nats_server: NatsServer
) -> None:
    # why: all of NATS down (or this host cut off): nothing tells them apart; see Hold.current
    msg = await _delivered(nc)
    now = [0.0]
    hold = Hold(nc, msg, ACK_WAIT, clock=lambda: now[0])  # type: ignore[arg-type]
    nats_server.stop()
    async with asyncio.timeout(5):
        while nc.is_connected:  # noqa: ASYNC110 - the client's own state, no event to wait on
            await asyncio.sleep(0.01)
    now[0] = 10 * ACK_WAIT
    assert hold.current()
    assert not await hold.renew()
    await close(nc)


async def test_a_renewal_after_a_whole_ack_wait_without_one_asks_who_took_over(
    nc: Client,
) -> None:
    msg = await _delivered(nc)
    now = [0.0]
    hold = Hold(nc, msg, ACK_WAIT, clock=lambda: now[0])  # type: ignore[arg-type]
    gaps: list[float] = []

    async def after_gap() -> None:
        gaps.append(now[0])

    hold.after_gap = after_gap
    now[0] = ACK_WAIT - 0.1
    assert await hold.renew() and gaps == [], "renewed in time: nobody could have taken it"
    now[0] += ACK_WAIT  # this host was cut off for a whole ack-wait: it may have been redelivered
    assert await hold.renew() and gaps == [now[0]]
