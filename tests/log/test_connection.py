"""How long NATS was away: an outage dates from its last answer, a hang the client rode out is
recorded from probes; pure with a fake clock, then against a real nats-server frozen by SIGSTOP."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

import nats
import pytest

from conftest import free_port, freeze, require_nats_server
from jetcron.log.connection import SILENT_PROBES, ConnectionWatch, Probe, probe, round_trip
from jetcron.server import NatsServer

T = 1_790_000_000.0  # 2026-09-21T14:13:20Z


class FakeClock:
    def __init__(self, t: float = T) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_an_outage_the_client_noticed_late_dates_from_the_last_answer() -> None:
    # newcomer14: SIGSTOP 14:33:22-14:34:12, noticed at 14:34:01, reported as 12 s
    clock = FakeClock()
    w = ConnectionWatch("NATS", clock)
    w.answered()
    clock.t += 2
    w.unanswered(clean=True)  # the probes see it first
    clock.t += 37
    w.lost("stale connection")  # the client's pings ran out
    assert w.report()["unreachable_since"] == "2026-09-21T14:13:20Z"
    assert w.report()["noticed_at"] == "2026-09-21T14:13:59Z"
    clock.t += 11
    w.restored("nats://x")
    assert w.report()["last_outage"] == {
        "from": "2026-09-21T14:13:20Z",
        "to": "2026-09-21T14:14:10Z",
        "seconds": 50.0,
        "noticed": "2026-09-21T14:13:59Z",
        "connection_held": False,
    }


def test_without_probes_an_outage_dates_from_when_it_was_noticed() -> None:
    clock = FakeClock()
    w = ConnectionWatch("NATS", clock)
    w.lost("refused")
    clock.t += 5
    w.restored()
    outage = w.report()["last_outage"]
    assert (outage["from"], outage["seconds"]) == ("2026-09-21T14:13:20Z", 5.0)


def test_a_hang_shorter_than_the_ping_timeout_is_recorded_from_the_probes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    w = ConnectionWatch("NATS", clock)
    w.answered()
    for _ in range(5):
        clock.t += 2
        w.unanswered(clean=True)
    clock.t += 2
    with caplog.at_level(logging.WARNING, logger="jetcron.log.connection"):
        w.answered()
    assert w.report()["last_outage"] == {
        "from": "2026-09-21T14:13:20Z",
        "to": "2026-09-21T14:13:32Z",
        "seconds": 12.0,
        "noticed": "2026-09-21T14:13:22Z",
        "connection_held": True,
    }
    assert "did not answer from 2026-09-21T14:13:20Z to 2026-09-21T14:13:32Z (12.0s)" in (
        caplog.text
    )
    assert w.reconnects == 0 and w.report()["unreachable_since"] is None


@pytest.mark.parametrize(
    "misses",
    [[True] * (SILENT_PROBES - 1), [False] * 5, [True, False, True]],
    ids=["one-miss", "our-own-loop-stalled", "interrupted-by-a-stall"],
)
def test_misses_that_prove_nothing_record_no_outage(misses: list[bool]) -> None:
    clock = FakeClock()
    w = ConnectionWatch("NATS", clock)
    w.answered()
    for clean in misses:
        clock.t += 2
        w.unanswered(clean=clean)
    w.answered()
    assert w.last_outage is None


@pytest.fixture
def server(tmp_path: Path):
    require_nats_server()
    with NatsServer(data_dir=tmp_path / "nats") as running:
        yield running


async def test_a_probe_that_timed_out_leaves_the_client_reading(server: NatsServer) -> None:
    # why: nats-py's own flush(timeout) here would end the client's read loop when the late
    # PONG comes (the client then says connected and reads nothing)
    nc = await nats.connect(server.url)
    got: list[bytes] = []

    async def cb(msg) -> None:
        got.append(msg.data)

    await nc.subscribe("x", cb=cb)
    freeze(server)
    try:
        assert await Probe(nc).once(0.3) is False
        with pytest.raises(TimeoutError, match="did not answer a PING within 0.3s"):
            await round_trip(nc, 0.3)  # what a notification's publish waits with
        await asyncio.sleep(0.5)
    finally:
        os.kill(server.pid, signal.SIGCONT)
    await asyncio.sleep(0.5)
    await nc.publish("x", b"after")
    for _ in range(50):
        if got:
            break
        await asyncio.sleep(0.05)
    assert got == [b"after"]
    await nc.close()


async def test_a_probe_cancelled_as_its_pong_lands_is_cancelled(nc) -> None:
    """flaky18: an executor's stop hung for good: its renewal loop (consumers.keepalive) was
    cancelled just as a probe's PONG came, Python 3.11's wait_for returned the PONG instead
    of the cancel, and the loop went on."""
    p = Probe(nc)
    task = asyncio.create_task(p.once(5))
    await asyncio.sleep(0)  # why: it has sent its PING and waits for the PONG
    assert p._ping is not None
    await p._ping  # the PONG lands...
    task.cancel()  # ...and in the same turn of the loop its caller is stopped
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_probes_record_a_short_freeze_of_the_server(server: NatsServer) -> None:
    nc = await nats.connect(server.url)
    watch, stop = ConnectionWatch("NATS"), asyncio.Event()
    task = asyncio.create_task(probe(nc, watch, stop, every=0.2, timeout=0.2))
    await asyncio.sleep(0.5)
    freeze(server)
    await asyncio.sleep(2)
    os.kill(server.pid, signal.SIGCONT)
    await asyncio.sleep(1)
    stop.set()
    await task
    outage = watch.report()["last_outage"]
    assert outage is not None and outage["connection_held"] is True
    assert 1.8 <= outage["seconds"] <= 3.5, outage
    assert watch.reconnects == 0
    await nc.close()


async def _reconnected(nc: nats.aio.client.Client, times: int) -> None:
    """Wait (up to 10 s) until the client has reconnected `times` times and is connected."""
    for _ in range(200):
        if nc.is_connected and nc.stats["reconnects"] >= times:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no reconnect #{times} within 10 s")


@pytest.fixture
def fixed_port_server(tmp_path: Path):
    require_nats_server()
    with NatsServer(data_dir=tmp_path / "nats", port=free_port()) as running:
        yield running


async def test_a_probe_pings_again_after_a_reconnect(fixed_port_server: NatsServer) -> None:
    # newcomer16b F1: nats-py drops the PINGs in flight on a reconnect without resolving them
    # (`self._pongs = []`); a probe that waited on its old PING was blind for 300 s after it
    server = fixed_port_server
    nc = await nats.connect(
        server.url, reconnect_time_wait=0.1, max_reconnect_attempts=-1, error_cb=_ignore
    )
    prober = Probe(nc)
    assert await prober.once(1.0) is True
    freeze(server)
    assert await prober.once(0.3) is False  # its PING is in flight when the server dies
    server.kill()
    server.restart()
    await _reconnected(nc, 1)
    assert await prober.once(1.0) is True
    await nc.close()


async def _ignore(err: Exception) -> None:
    """nats-py's default error callback logs each lost connection with a traceback."""
