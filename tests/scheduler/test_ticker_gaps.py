"""A fire the ticker decides late names the gap its scheduler saw: its own NATS outage, not
"scheduler down" (newcomer19b F2), with a real nats-server stopped and started again."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from test_ticker import add, burst, events, of

from conftest import free_port, require_nats_server
from jetcron.clock import FakeClock
from jetcron.connect import ConnectOptions, close, connect
from jetcron.domain.definition import LATE_DOWN, LATE_NO_LEADER, LATE_UNREACHABLE, CatchUp
from jetcron.domain.events import FireMissed
from jetcron.log.errors import NoLeader
from jetcron.log.gaps import GAPS, GapLog, no_leader
from jetcron.log.stream import EventLog
from jetcron.scheduler.ticker import Ticker
from jetcron.server import NatsServer
from polling import until


async def test_fires_missed_during_the_schedulers_own_outage_name_it(tmp_path: Path) -> None:
    require_nats_server()
    server = NatsServer(data_dir=tmp_path / "store", port=free_port()).start()
    nc = await connect(ConnectOptions(servers=server.url), persistent=True)
    event_log = await EventLog(nc, ack_timeout=0.3).open()
    try:
        start = datetime.now(UTC).replace(microsecond=0)
        await add(event_log, "g", "@every 2s", at=start, catchup=CatchUp(policy="none"))
        clock = FakeClock(start)
        ticker = Ticker(event_log, clock=clock)
        await burst(ticker, clock, start + timedelta(seconds=1))
        server.stop()
        stopped = time.time()
        await until(lambda: not nc.is_connected)
        await asyncio.sleep(4)  # fires fall due while NATS is out of reach
        server.start()
        # why the gap too: the client says connected a moment before its reconnect callback
        # ran; a serving ticker renews its lease and reads the log's tail first
        await until(lambda: nc.is_connected and _outage_ended_after(stopped))
        back = datetime.now(UTC)
        await clock.set(back + timedelta(seconds=70))  # decided more than 60 s late: missed
        await ticker.catch_up()
        await ticker.tick()
        missed = of(await events(event_log), FireMissed)
    finally:
        await event_log.close()
        await close(nc)
        server.stop()
    during = [m for m in missed if m.fire_time <= back]
    after = [m for m in missed if m.fire_time > back + timedelta(seconds=1)]
    assert during, missed
    assert all(m.reason.startswith(f"{LATE_UNREACHABLE} from ") for m in during), during
    # due once NATS was back: nothing ticked (the clock jumped), so no scheduler ticked
    assert after and all(m.reason.startswith(f"{LATE_DOWN}: ") for m in after), after


def _outage_ended_after(t: float) -> bool:
    return any(g[0] == LATE_UNREACHABLE and (g[2] or 0) > t for g in GAPS.all())


def test_a_leaderless_time_is_a_gap_once_a_write_is_stored_again() -> None:
    gaps = GapLog()
    gaps.outage(10.0, 20.0)
    gaps.leaderless(30.0)
    gaps.leaderless(31.0)
    assert gaps.all() == [(LATE_UNREACHABLE, 10.0, 20.0), (LATE_NO_LEADER, 30.0, None)]
    gaps.led(45.0)
    gaps.led(46.0)
    assert gaps.all() == [(LATE_UNREACHABLE, 10.0, 20.0), (LATE_NO_LEADER, 30.0, 45.0)]
    assert no_leader(RuntimeError("jetcron_lease: no responders (503); is the stream there?"))
    assert not no_leader(TimeoutError("no ack from JetStream"))
    assert no_leader(NoLeader("$KV.jetcron_lease.ticker", "503"))
    assert not no_leader(NoLeader("$KV.jetcron_lease.ticker", "503", missing=True))
