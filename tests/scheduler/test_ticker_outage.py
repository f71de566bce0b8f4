"""A trigger sent as NATS went away: nats-py holds it and sends it on reconnect, so its missing
ack is logged as "not confirmed", and the ticker logs what the log shows once NATS is back."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path

import pytest
from test_ticker import T0, add, burst, events, of, succeed

from conftest import free_port, require_nats_server
from jetcron.clock import FakeClock
from jetcron.connect import ConnectOptions, close, connect
from jetcron.domain.events import RunLost, RunSkipped, RunTriggered
from jetcron.log.stream import EventLog
from jetcron.scheduler.planner import SETTLE
from jetcron.scheduler.ticker import Ticker
from jetcron.server import NatsServer
from polling import until


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
            assert ticker.fold.unconfirmed
            server.start()
            await until(lambda: nc.is_connected)
            async with asyncio.timeout(15):
                while ticker.fold.unconfirmed:  # the reader finds it in the log
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
    from jetcron.log.acks import PubAck
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


async def _new_leader(event_log: EventLog, clock: FakeClock) -> tuple[asyncio.Event, asyncio.Task]:
    """A ticker that takes over at the clock's time (its own loop, always the leader)."""
    stop = asyncio.Event()
    task = asyncio.create_task(Ticker(event_log, clock=clock).run(stop))
    await asyncio.sleep(0.5)  # its reader reaches the end of the log; it ticks once
    return stop, task


async def _fates(event_log: EventLog, minute: int) -> list[str]:
    return [
        type(e.envelope.event).__name__
        for e in await events(event_log)
        if isinstance(e.envelope.event, RunTriggered | RunSkipped)
        and e.envelope.event.fire_time == T0 + timedelta(minutes=minute)
    ]


@pytest.mark.parametrize("result_lands", [True, False], ids=["result-lands", "no-result"])
async def test_a_run_that_ended_unheard_does_not_cost_the_next_fire(
    event_log: EventLog, result_lands: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """The last leader triggered 12:01; its run ended at 12:01:50, during an outage, and its
    executor still holds the result when a new leader takes over at 12:02:05. The 12:02 fire
    waits for that result (stored 3 s later) and runs, once; with no result it is skipped
    when the hold ends, as before (newcomer16b F2)."""
    await add(event_log, "o", timeout_s=3600, overlap="skip")
    clock = FakeClock(T0)
    await burst(Ticker(event_log, clock=clock), clock, T0 + timedelta(minutes=1, seconds=1))
    [first] = of(await events(event_log), RunTriggered)
    await clock.set(T0 + timedelta(minutes=2, seconds=5))
    caplog.set_level(logging.INFO, logger="jetcron.scheduler.ticker")
    stop, task = await _new_leader(event_log, clock)
    try:
        assert await _fates(event_log, 2) == []  # held: neither skipped nor run yet
        await clock.advance(3)
        if result_lands:
            await succeed(event_log, first, T0 + timedelta(minutes=1, seconds=50))
        else:
            await clock.advance(SETTLE)
        await until_fates(event_log, 2)
        await clock.advance(5)
        await asyncio.sleep(0.3)
        fates = await _fates(event_log, 2)
        skips = of(await events(event_log), RunSkipped)
    finally:
        stop.set()
        await task
    assert fates == (["RunTriggered"] if result_lands else ["RunSkipped"])
    if not result_lands:  # nc21c #2: it said "scheduler down" while this leader held it
        assert skips[-1].reason.endswith(
            f"after its fire: waited for the result of run {first.run_id[:8]}, fired before "
            "this leader took over (until 2026-03-03T12:02:25Z)"
        ), skips[-1].reason
    held = [r.getMessage() for r in caplog.records if "waits until" in r.getMessage()]
    assert held == [
        f"ticker: o (fire 2026-03-03T12:02:00Z) waits until 2026-03-03T12:02:25Z for the result "
        f"of run {first.run_id}, fired before this leader took over, before overlap skips it"
    ]


async def until_fates(event_log: EventLog, minute: int) -> None:
    await until(lambda: _fates(event_log, minute), 10, f"a fate of the fire at minute {minute}")


@pytest.mark.parametrize("result_lands", [True, False], ids=["result-lands", "no-result"])
async def test_a_leader_that_kept_its_lease_through_an_outage_waits_before_declaring_lost(
    tmp_path: Path, result_lands: bool
) -> None:
    """A run's deadline passes while NATS is away; its executor holds the result and sends it
    once NATS is back. The leader (it kept its lease) declares the run lost only SETTLE after
    NATS came back, so the result lands first; with no result it is lost then, as before
    (newcomer18b F1: `lost` stored first, the success after it, shown as lost)."""
    require_nats_server()
    server = NatsServer(data_dir=tmp_path / "store", port=free_port()).start()
    nc = await connect(ConnectOptions(servers=server.url), persistent=True)
    event_log = await EventLog(nc, ack_timeout=0.3).open()
    stop = asyncio.Event()
    try:
        await add(event_log, "h", timeout_s=5, overlap="skip")
        clock = FakeClock(T0)
        ticker = Ticker(event_log, clock=clock)
        await burst(ticker, clock, T0 + timedelta(minutes=1, seconds=1))
        [fired] = of(await events(event_log), RunTriggered)
        task = asyncio.create_task(ticker.run(stop))
        await asyncio.sleep(0.3)
        server.stop()
        await until(lambda: not nc.is_connected)
        await clock.advance(120)  # past the run's deadline (5 s + 60 s grace) while away
        server.start()
        await until(lambda: nc.is_connected)
        await clock.advance(
            1
        )  # the leader wakes, reads the tail, takes NATS's return as a take-over
        back = T0 + timedelta(minutes=1, seconds=121)
        await until(
            lambda: ticker.firing.taken_over is not None and ticker.firing.taken_over >= back
        )
        await asyncio.sleep(0.3)
        assert of(await events(event_log), RunLost) == []  # not yet: settling
        if result_lands:
            await succeed(event_log, fired, T0 + timedelta(minutes=1, seconds=3))
        await clock.advance(SETTLE)
        await asyncio.sleep(1.0)
        await clock.advance(2)
        await asyncio.sleep(1.0)
        lost = of(await events(event_log), RunLost)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await event_log.close()
        await close(nc)
        server.stop()
    assert len(lost) == (0 if result_lands else 1)
