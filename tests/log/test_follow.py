"""Followers ride out outages: backoff, health, supervision, and a reader across a server restart."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conftest import free_port, require_nats_server
from jetcron.connect import ConnectOptions, close, connect
from jetcron.domain.envelope import Envelope
from jetcron.domain.events import ScheduleDeleted
from jetcron.ids import new_id
from jetcron.log.connection import ConnectionWatch
from jetcron.log.follow import FollowHealth, backoff, jittered, supervise
from jetcron.log.reader import read_raw
from jetcron.log.stream import EventLog
from jetcron.server import NatsServer
from polling import until


class FakeClock:
    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [backoff(n, base=0.5, cap=4) for n in range(1, 7)] == [0.5, 1, 2, 4, 4, 4]
    assert backoff(0) == backoff(1)


@pytest.mark.parametrize("r", [0.0, 0.5, 1.0])
def test_jitter_stays_within_its_fraction(r: float) -> None:
    assert 0.8 <= jittered(1.0, 0.2, lambda: r) <= 1.2


def test_health_tracks_an_outage_and_the_last_current_moment() -> None:
    clock = FakeClock()
    h = FollowHealth("projections", clock)
    assert h.down("timeout") is True
    clock.t += 5
    assert h.down("timeout again") is False  # same outage: not a new loud line
    assert (h.down_since, h.error, h.failures) == (1_000_000.0, "timeout again", 2)
    clock.t += 5
    h.caught_up()
    assert h.down_since is None and h.current_at == 1_000_010.0
    assert h.report()["current_at"] == "1970-01-12T13:46:50Z"


def test_listeners_hear_each_time_the_follower_is_at_the_end() -> None:
    h = FollowHealth("projections", FakeClock())
    heard: list[int] = []
    h.listeners.append(lambda: heard.append(len(heard)))
    h.down("timeout")
    assert heard == []
    h.caught_up()
    h.caught_up()
    assert heard == [0, 1]


def test_connection_watch_says_since_when_and_reminds_sparingly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    w = ConnectionWatch("NATS", clock, remind_every=10)
    with caplog.at_level(logging.WARNING, logger="jetcron.log.connection"):
        w.lost(ConnectionRefusedError("refused"))
        for _ in range(9):
            clock.t += 1
            w.lost(ConnectionRefusedError("refused"))  # a failed reconnect attempt each second
        clock.t += 1
        w.lost(ConnectionRefusedError("refused"))
        clock.t += 2
        w.restored("nats://127.0.0.1:4222")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3, lines
    assert "unreachable since 1970-01-12T13:46:40Z" in lines[0]
    assert "(10s)" in lines[1]
    assert "reachable again" in lines[2] and "after 12.0s" in lines[2]
    assert w.report()["last_outage"] == {
        "from": "1970-01-12T13:46:40Z",
        "to": "1970-01-12T13:46:52Z",
        "seconds": 12.0,
        "noticed": "1970-01-12T13:46:40Z",
        "connection_held": False,
    }
    assert w.unreachable_since is None and w.reconnects == 1


async def test_supervise_restarts_a_failing_follower_loudly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop = asyncio.Event()
    health = FollowHealth("demo")
    calls = []

    async def follower() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")  # a bug: logged with its traceback
        if len(calls) == 2:
            return  # ending early while the service runs is a failure too
        await stop.wait()

    with caplog.at_level(logging.ERROR, logger="jetcron.log.follow"):
        task = asyncio.create_task(
            supervise(follower, health=health, stop=stop, base=0.01, cap=0.02, up_after=0.05)
        )
        for _ in range(100):
            if len(calls) == 3 and health.down_since is None:
                break
            await asyncio.sleep(0.02)
        stop.set()
        await asyncio.wait_for(task, 1)
    assert len(calls) == 3 and health.restarts == 2 and health.down_since is None
    failures = [r for r in caplog.records if "follower demo failed" in r.getMessage()]
    assert len(failures) == 2 and failures[0].exc_info is not None


async def test_a_follower_reads_on_after_the_server_restarts(tmp_path: Path) -> None:
    require_nats_server()
    server = NatsServer(data_dir=tmp_path / "store", port=free_port()).start()
    watch = ConnectionWatch()
    nc = await connect(ConnectOptions(servers=server.url), persistent=True, watch=watch)
    try:
        event_log = await EventLog(nc).open()
        health = FollowHealth("test follower")
        seen: list[int] = []

        async def follow() -> None:
            async for records in read_raw(
                nc, event_log.stream, follow=True, idle_s=0.5, health=health
            ):
                seen.extend(r.seq for r in records)

        task = asyncio.create_task(follow())
        await append(event_log, 2)
        await until(lambda: len(seen) == 2, 20)
        server.stop()
        await until(
            lambda: health.down_since is not None and watch.unreachable_since is not None, 20
        )
        server.start()
        await until(lambda: health.down_since is None and watch.unreachable_since is None, 20)
        await append(event_log, 2)
        await until(lambda: len(seen) == 4, 20)
        assert seen == [1, 2, 3, 4] and health.failures >= 1
        assert watch.last_outage is not None
        task.cancel()
        await event_log.close()
    finally:
        server.stop()  # gone again: closing a client with pending data must not raise
        await nc.publish("jetcron.test", b"x" * 1000)
        await close(nc)


async def append(event_log: EventLog, n: int) -> None:
    for _ in range(n):
        env = Envelope(
            id=new_id(),
            at=datetime.now(UTC),
            actor="t",
            event=ScheduleDeleted(schedule_id="s", name="n", version=1),
        )
        await event_log.publish("jetcron.sched.n", env)


async def test_a_finite_read_cut_by_a_restart_reads_on_to_the_end(tmp_path: Path) -> None:
    """A read to the end that loses its connection half-way yields every event once, in order.

    Before, it ended early as if the log ended there: the ticker's catch-up would have skipped
    the schedules after the cut, and a replay would have answered from part of the log.
    """
    require_nats_server()
    server = NatsServer(data_dir=tmp_path / "store", port=free_port()).start()
    nc = await connect(ConnectOptions(servers=server.url), persistent=True)
    try:
        event_log = await EventLog(nc).open()
        await append(event_log, 40)
        seen: list[int] = []
        async for records in read_raw(nc, event_log.stream, batch=5):
            if not seen:
                server.stop()  # the connection drops under the reader
                server.start()
            seen.extend(r.seq for r in records)
        assert seen == list(range(1, 41))
        await event_log.close()
    finally:
        server.stop()
        await close(nc)
