"""A disk that really fills under nats-server (a tmpfs, not a JetStream limit): appends get no
ack (no err 10023) while nats-server answers, and freeing the disk does not end it; only a
restart of nats-server does. The process's storage alarm says so (what health/status report)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import nats
import pytest

from conftest import fill_disk, require_nats_server, small_disk
from jetcron.log.errors import STORAGE, STORE_STUCK_HINT, AppendFailed
from jetcron.log.stream import EventLog
from jetcron.server import NatsServer


async def _appends_until_refused(log: EventLog) -> None:
    """Append 1 KB messages until one gets no ack (the first few land in the server's cache)."""
    for i in range(300):
        try:
            await log.publisher.publish(f"jetcron.sched.s{i}", b"x" * 1024)
        except AppendFailed:
            return
    pytest.fail("every append was stored on a full disk")


async def _alarm(timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while STORAGE.since is None and time.monotonic() < deadline:
        await asyncio.sleep(0.1)


async def _alarm_cleared(timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while STORAGE.since is not None:
        assert time.monotonic() < deadline, "the alarm outlived the restart"
        await asyncio.sleep(0.1)


async def test_a_full_disk_raises_the_alarm_and_only_a_restart_clears_it(tmp_path: Path) -> None:
    require_nats_server()
    with small_disk(tmp_path / "disk") as disk:
        server = NatsServer(data_dir=disk / "nats").start()
        nc = await nats.connect(server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
        log = await EventLog(nc, ack_timeout=1.0).open()
        try:
            await log.publisher.publish("jetcron.sched.before", b"{}")
            filler = fill_disk(disk)
            await _appends_until_refused(log)
            await _alarm()
            assert STORAGE.since is not None and STORAGE.cause == STORE_STUCK_HINT
            assert await nc.request(
                "$JS.API.INFO", b"", timeout=2
            )  # it answers, yet stores nothing
            assert "critical write error" in server.log_tail(50)

            filler.unlink()  # room again: nats-server still stores nothing (until restarted)
            with pytest.raises(AppendFailed, match="no ack from JetStream"):
                await log.publisher.publish("jetcron.sched.after", b"{}", attempts=2)
            assert STORAGE.since is not None

            server.stop()
            server.restart()  # what ends it: the alarm clears on the reconnect, before any append
            await _alarm_cleared()
            await log.publisher.publish("jetcron.sched.after", b"{}", attempts=20)
            assert STORAGE.since is None
        finally:
            STORAGE.accepted()
            await log.close()
            await nc.close()
            server.stop()
