"""A trigger sent as NATS went away: nats-py holds it and sends it on reconnect, so its missing
ack is logged as "not confirmed", and the ticker logs what the log shows once NATS is back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from test_ticker import T0, add, events, of

from conftest import free_port, require_nats_server
from jetcron.clock import FakeClock
from jetcron.connect import ConnectOptions, close, connect
from jetcron.domain.events import RunTriggered
from jetcron.log.stream import EventLog
from jetcron.scheduler.ticker import Ticker
from jetcron.server import NatsServer


async def until(check: Callable[[], bool], timeout: float = 15.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.02)


async def test_a_trigger_held_through_an_outage_is_reported_as_stored_not_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    require_nats_server()
    server = NatsServer(data_dir=tmp_path / "store", port=free_port()).start()
    nc = await connect(ConnectOptions(servers=server.url), persistent=True)
    event_log = await EventLog(nc, ack_timeout=0.3).open()
    try:
        await add(event_log, "m")
        clock = FakeClock(T0)
        ticker = Ticker(event_log, clock=clock)
        await ticker.catch_up()
        server.stop()
        await until(lambda: not nc.is_connected)
        await clock.set(T0 + timedelta(minutes=1))
        with caplog.at_level(logging.INFO, logger="jetcron.scheduler.ticker"):
            assert await ticker.tick() == 0  # no ack while NATS is away
            assert ticker.unconfirmed
            server.start()
            await until(lambda: nc.is_connected)
            async with asyncio.timeout(15):
                while ticker.unconfirmed:  # the reader finds it in the log
                    await ticker.catch_up()
                    await asyncio.sleep(0.1)
        triggers = of(await events(event_log), RunTriggered)
    finally:
        await event_log.close()
        await close(nc)
        server.stop()

    lines = [r.getMessage() for r in caplog.records if r.name == "jetcron.scheduler.ticker"]
    fire = "Trigger for m (fire 2026-03-03T12:01:00Z)"
    assert not [line for line in lines if "not stored" in line], lines
    assert any(line.startswith(f"ticker: {fire} not confirmed: ") for line in lines), lines
    assert f"ticker: {fire}: the log has run.triggered for it at seq 2" in lines, lines
    assert len(triggers) == 1  # exactly once, though the client sent it again on every retry


def test_a_retry_ack_or_the_lapse_of_time_settles_an_unconfirmed_append(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from jetcron.log.publisher import PubAck
    from jetcron.scheduler import unconfirmed

    now = [0.0]
    waiting = unconfirmed.Unconfirmed(clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="jetcron.scheduler.ticker"):
        for fire in ("a", "b", "c"):
            waiting.add(fire, f"Trigger {fire}", TimeoutError("no ack from JetStream"))
        waiting.acked("a", PubAck(seq=7, duplicate=True))
        waiting.acked("b", PubAck(seq=9))
        now[0] = unconfirmed.FORGET_AFTER_S + 1
        waiting.add("d", "Trigger d", TimeoutError("no ack from JetStream"))

    lines = [r.getMessage() for r in caplog.records][3:]
    assert lines == [
        "ticker: Trigger a is in the log after all (seq 7)",
        "ticker: Trigger b was not stored while NATS was away; stored now (seq 9)",
        "ticker: Trigger c: not in the log 601 s later; taken as lost (a fire still due is "
        "decided again under its fire id)",
        lines[-1],
    ]
    assert "d" in waiting and "c" not in waiting
