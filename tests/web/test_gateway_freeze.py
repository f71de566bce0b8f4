"""The gateway during a NATS freeze: a request is answered at once and says nothing was sent,
once its probes found NATS silent (newcomer21c #5), not after 5 s "it may still be applied"."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from datetime import UTC, datetime

import pytest

from conftest import freeze
from jetcron.connect import ConnectOptions
from jetcron.domain.commands import PauseSchedule
from jetcron.errors import NatsUnreachable
from jetcron.server import NatsServer
from jetcron.web.auth import Tokens
from jetcron.web.gateway import Gateway


async def test_requests_through_a_freeze_are_refused_at_once_unsent(
    nats_server: NatsServer,
) -> None:
    gateway = Gateway(ConnectOptions(servers=nats_server.url), Tokens(), local_user="me")
    await gateway.start()
    said: list[tuple[float, float, str]] = []
    try:
        async with asyncio.timeout(10):
            while not gateway.connected:
                await asyncio.sleep(0.05)
        await asyncio.sleep(2.5)  # a probe answered
        freeze(nats_server)
        began = time.monotonic()
        async with asyncio.timeout(15):  # a probe (every 2 s, 1 s timeout) found it silent
            while not gateway.watch.silent and gateway.nc.is_connected:
                await asyncio.sleep(0.05)
        while (at := time.monotonic() - began) < 16:
            pause = PauseSchedule(
                name="x", command_id=f"p{at:.0f}", at=datetime.now(UTC), actor="me"
            )
            for call in (gateway.ask("due"), gateway.send(pause)):
                t0 = time.monotonic()
                with pytest.raises(NatsUnreachable) as raised:
                    await call
                said.append((at, time.monotonic() - t0, str(raised.value)))
            await asyncio.sleep(0.7)
    finally:
        assert nats_server.pid is not None
        os.kill(nats_server.pid, signal.SIGCONT)
        await gateway.stop()
    assert len(said) >= 10
    for at, took, text in said:
        assert took < 2.5, (at, took, text)  # a PING of 1 s at most, not a 3-5 s timeout
        assert "nothing was sent" in text and "may still be applied" not in text, (at, text)
