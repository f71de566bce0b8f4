"""Fires that fall due while JetStream's storage is full (a real nats-server with a 1 MB limit):
found late once there is room, they are recorded missed with the reason `log full`, not
`scheduler down` (newcomer16b N2: the scheduler was up, the log was full)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from test_ticker import T0, add, events, of

from conftest import fill_storage, require_nats_server
from jetcron.clock import FakeClock
from jetcron.connect import ConnectOptions, close, connect
from jetcron.domain.definition import LATE_LOG_FULL
from jetcron.domain.events import FireMissed, RunTriggered
from jetcron.log.errors import STORAGE
from jetcron.log.stream import EventLog
from jetcron.scheduler.ticker import Ticker
from jetcron.server import NatsServer


async def test_fires_missed_while_the_log_was_full_say_so(tmp_path: Path) -> None:
    require_nats_server()
    limit = tmp_path / "limit.conf"
    limit.write_text("jetstream { max_file_store: 1MB }\n")
    server = NatsServer(data_dir=tmp_path / "nats", include=limit).start()
    nc = await connect(ConnectOptions(servers=server.url), persistent=True)
    event_log = await EventLog(nc).open()
    try:
        await add(event_log, "m", "@every 10s")
        clock = FakeClock(T0)
        ticker = Ticker(event_log, clock=clock)
        await ticker.catch_up()
        for second in (10, 20, 30):
            await clock.set(T0 + timedelta(seconds=second))
            assert await ticker.tick() == 1  # each fire stored on time
        await fill_storage(nc)
        for second in (40, 50, 60, 90):  # due, but nothing can be stored
            await clock.set(T0 + timedelta(seconds=second))
            assert await ticker.tick() == 0
        await nc.jetstream().delete_stream("FILLER")
        await clock.set(T0 + timedelta(seconds=125))
        assert await ticker.tick() > 0
        stored = await events(event_log)
    finally:
        STORAGE.accepted()  # why: one per process: the next test starts with room
        await event_log.close()
        await close(nc)
        server.stop()

    missed = {m.fire_time.strftime("%M:%S"): m.reason for m in of(stored, FireMissed)}
    assert missed == dict.fromkeys(
        ["00:40", "00:50", "01:00"],
        # why since: the stall ends with the decision's own appends (nc21c #1: named, timed)
        "log full since 2026-03-03T12:00:40Z: catch-up policy latest runs only the most "
        "recent due fire",
    )
    triggered = [t.fire_time.strftime("%M:%S") for t in of(stored, RunTriggered)]
    assert triggered == [
        "00:10",
        "00:20",
        "00:30",
        "01:10",
        "01:20",
        "01:30",
        "01:40",
        "01:50",
        "02:00",
    ]
    # ends at the next tick (the process's other gaps, of other tests, aside)
    assert [g for g in ticker.firing.stalls.last if g[0] == LATE_LOG_FULL] == [
        (LATE_LOG_FULL, T0 + timedelta(seconds=40), None)
    ]
