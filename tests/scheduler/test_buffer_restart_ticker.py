"""The ticker restarted 80 s after it buffered a fire (overlap buffer_one, catch-up latest), the
run ahead of that fire ended while it was down: the newest fire runs, the buffered one is missed
like the other late fires, and `fires`/`why` tell one story (newcomer18a F1). Real nats-server,
fake clock."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from test_ticker import T0, add, burst, events, of, succeed

from jetcron.clock import FakeClock, iso_z
from jetcron.domain.events import FireBuffered, FireMissed, RunSkipped, RunTriggered
from jetcron.log.stream import EventLog
from jetcron.projections import fire_queries, state
from jetcron.scheduler.lateness import WAITED
from jetcron.scheduler.ticker import Ticker


def s(n: int) -> str:
    """T0 plus n seconds, as `fires` writes it."""
    return iso_z(T0 + timedelta(seconds=n))


async def test_a_fire_buffered_before_a_restart_is_missed_and_the_newest_runs(
    event_log: EventLog,
) -> None:
    await add(event_log, "b", spec="@every 5s", overlap="buffer_one")
    clock = FakeClock(T0)
    await burst(Ticker(event_log, clock=clock), clock, T0 + timedelta(seconds=10))
    [first] = of(await events(event_log), RunTriggered)  # 12:00:05 runs, 12:00:10 waits
    await succeed(event_log, first, T0 + timedelta(seconds=12))  # ends while no ticker runs
    await clock.set(T0 + timedelta(seconds=90))

    ticker = Ticker(event_log, clock=clock)  # the restart
    await ticker.catch_up()
    await ticker.tick()
    await ticker.catch_up()
    assert await ticker.tick() == 0
    again = Ticker(event_log, clock=clock)  # another restart decides nothing again
    await again.catch_up()
    assert await again.tick() == 0

    evs = await events(event_log)
    triggered = [t.fire_time for t in of(evs, RunTriggered)]
    assert triggered == [T0 + timedelta(seconds=n) for n in (5, 90)]
    [buffered] = of(evs, FireBuffered)
    misses = {m.fire_time: m.reason for m in of(evs, FireMissed)}
    assert misses[buffered.fire_time].endswith(WAITED)
    # exactly one fate for every fire time (the buffer is a wait, not a fate)
    fates = Counter(
        e.fire_time for kind in (RunTriggered, FireMissed, RunSkipped) for e in of(evs, kind)
    )
    assert fates == Counter(T0 + timedelta(seconds=n) for n in range(5, 91, 5))
    skipped = of(evs, RunSkipped)
    assert {k.reason for k in skipped} == {
        f"coalesced: several fires were due at once; only the newest ({s(90)}) runs"
    }

    views = state.Views()
    state.apply_batch(views, evs)
    now = clock.now()
    params = {"name": "b", "since": s(5), "until": s(90), "limit": 100}
    rows = {r["utc"]: r for r in fire_queries.fires_of(views, params, now)["fires"]}
    assert sorted(rows) == [s(n) for n in range(5, 91, 5)]
    assert rows[s(10)]["fate"] == "missed" and rows[s(90)]["fate"] == "triggered"
    assert [u for u, r in rows.items() if r["fate"] == "triggered"] == [s(5), s(90)]
    story = fire_queries.why_of(views, {"name": "b", "time": s(10)}, now)
    assert story["fate"] == "missed"
    said = [x["text"] for x in story["sentences"]]
    assert said[1:3] == [
        f"Buffered at {s(10)} behind run {first.run_id[:8]}",
        f"It still waited at {s(90)}, when the ticker recorded it: {misses[buffered.fire_time]}",
    ], said
