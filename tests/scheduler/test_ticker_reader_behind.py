"""A leader whose view may be behind the log reads it to the end before deciding (newcomer17b):
after an outage it kept its lease through, a fire was skipped "overlap: previous run still in
flight" for a run whose result was stored 4 s before, because the shared reader was still
re-creating its consumer and the ticker ticked on the view it had before the outage."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from test_ticker import T0, add, events, of, succeed

from conftest import free_port, require_nats_server
from jetcron.clock import FakeClock
from jetcron.connect import ConnectOptions, close, connect
from jetcron.domain.envelope import StoredEvent
from jetcron.domain.events import RunSkipped, RunTriggered
from jetcron.log.fanout import Fanout
from jetcron.log.follow import FollowHealth, supervise
from jetcron.log.stream import EventLog
from jetcron.scheduler import ticker as ticker_module
from jetcron.scheduler.ticker import Ticker
from jetcron.server import NatsServer
from polling import until


async def fates(event_log: EventLog, minute: int) -> list[object]:
    """The trigger and skip events of the fire at 12:<minute>."""
    evs = await events(event_log)
    return [
        e
        for e in of(evs, RunTriggered) + of(evs, RunSkipped)
        if e.fire_time == T0 + timedelta(minutes=minute)
    ]


async def fate_of(event_log: EventLog, minute: int) -> object:
    """The one fate of the fire at 12:<minute>, once it is in the log."""
    async with asyncio.timeout(15):
        while not (found := await fates(event_log, minute)):
            await asyncio.sleep(0.05)
    [fate] = found
    return fate


async def test_a_leader_whose_reader_lost_its_place_reads_the_tail_itself(
    event_log: EventLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ticker_module, "READER_WAIT_S", 0.3)
    await add(event_log, "m", overlap="skip")
    clock = FakeClock(T0)
    ticker = Ticker(event_log, clock=clock)
    await ticker.catch_up()
    current, stop = asyncio.Event(), asyncio.Event()
    current.set()
    # why no reader at all: this one never feeds the ticker, as one stuck re-creating its consumer
    task = asyncio.create_task(ticker.run(stop, current))
    try:
        await clock.set(T0 + timedelta(minutes=1))
        first = await fate_of(event_log, 1)
        assert isinstance(first, RunTriggered)
        current.clear()  # the reader lost its place (an outage)
        await succeed(event_log, first, T0 + timedelta(minutes=1, seconds=5))
        await clock.set(T0 + timedelta(minutes=2))
        second = await fate_of(event_log, 2)
    finally:
        stop.set()
        await task
    assert isinstance(second, RunTriggered), second  # not "skipped: overlap" for an ended run


async def test_a_restarted_tick_loop_reads_the_tail_before_its_first_decision(
    event_log: EventLog,
) -> None:
    """newcomer17b's path: the new leader's read failed (nats: timeout as the cluster came
    back), `supervise` restarted the ticker, and the new life ticked at once."""
    await add(event_log, "m", overlap="skip")
    clock = FakeClock(T0)
    ticker = Ticker(event_log, clock=clock)
    await ticker.catch_up()
    current = asyncio.Event()
    current.set()  # why never cleared: the shared reader has not noticed anything
    first_life = asyncio.Event()
    task = asyncio.create_task(ticker.run(first_life, current))
    await clock.set(T0 + timedelta(minutes=1))
    first = await fate_of(event_log, 1)
    first_life.set()
    await task  # the life ends (as one that failed)
    await succeed(event_log, first, T0 + timedelta(minutes=1, seconds=5))
    second_life = asyncio.Event()
    task = asyncio.create_task(ticker.run(second_life, current))
    try:
        await clock.set(T0 + timedelta(minutes=2))
        second = await fate_of(event_log, 2)
    finally:
        second_life.set()
        await task
    assert isinstance(second, RunTriggered), second


async def test_after_a_reconnect_the_leader_reads_the_tail_before_deciding(
    tmp_path: Path,
) -> None:
    require_nats_server()
    server = NatsServer(data_dir=tmp_path / "store", port=free_port()).start()
    nc = await connect(ConnectOptions(servers=server.url), persistent=True)
    event_log = await EventLog(nc).open()
    current, stop = asyncio.Event(), asyncio.Event()
    try:
        await add(event_log, "m", overlap="skip")
        clock = FakeClock(T0)
        ticker = Ticker(event_log, clock=clock)
        await ticker.catch_up()
        current.set()  # why never cleared: a reader that has not noticed the reconnect yet
        task = asyncio.create_task(ticker.run(stop, current))
        await clock.set(T0 + timedelta(minutes=1))
        first = await fate_of(event_log, 1)
        assert isinstance(first, RunTriggered)
        server.stop()
        await until(lambda: not nc.is_connected)
        server.start()
        await until(lambda: nc.is_connected)
        await succeed(event_log, first, T0 + timedelta(minutes=1, seconds=5))
        await clock.set(T0 + timedelta(minutes=2))
        second = await fate_of(event_log, 2)
        stop.set()
        await task
    finally:
        stop.set()
        await event_log.close()
        await close(nc)
        server.stop()
    assert isinstance(second, RunTriggered), second


class _Fold:
    """A fold that only keeps its position."""

    def __init__(self) -> None:
        self.position = 0

    async def take(self, batch: list[StoredEvent]) -> None:
        self.position = batch[-1].seq


async def test_the_shared_reader_is_not_current_from_an_outage_until_it_is_at_the_end_again(
    tmp_path: Path,
) -> None:
    require_nats_server()
    server = NatsServer(data_dir=tmp_path / "store", port=free_port()).start()
    nc = await connect(ConnectOptions(servers=server.url), persistent=True)
    event_log = await EventLog(nc).open()
    stop = asyncio.Event()
    fold = _Fold()
    reader = Fanout(event_log, [fold], health=FollowHealth("reader"))
    task = asyncio.create_task(supervise(reader.run, health=reader.health, stop=stop))
    try:
        await add(event_log, "m")
        await until(lambda: reader.current.is_set() and fold.position >= 1)
        server.stop()
        await until(lambda: not reader.current.is_set())  # cleared while NATS is away
        server.start()
        await until(lambda: nc.is_connected)
        await add(event_log, "n")  # stored while the reader may still be re-creating its consumer
        end = await event_log.last_seq()
        await until(reader.current.is_set)
        assert fold.position >= end  # set again only once the fold holds what was stored
    finally:
        stop.set()
        await task
        await event_log.close()
        await close(nc)
        server.stop()
