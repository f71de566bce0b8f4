"""Against a real nats-server: the ticker triggers a jittered fire at fire + jitter, records
that jitter on the trigger, and does not take it for late (catch-up `none` still runs it)."""

from __future__ import annotations

from datetime import timedelta

from test_ticker import T0, add, burst, events, of

from jetcron.clock import FakeClock
from jetcron.domain.definition import CatchUp
from jetcron.domain.events import FireMissed, RunTriggered
from jetcron.scheduler.ticker import Ticker

STEP = timedelta(seconds=10)


async def test_jittered_fires_run_with_catch_up_none_and_record_their_jitter(event_log) -> None:
    await add(event_log, "j", spec="0 * * * *", jitter_s=1800, catchup=CatchUp(policy="none"))
    clock = FakeClock(T0)
    await burst(Ticker(event_log, clock=clock), clock, T0 + timedelta(hours=3, minutes=31), STEP)
    evs = await events(event_log)
    assert of(evs, FireMissed) == []
    stored = [e for e in evs if isinstance(e.envelope.event, RunTriggered)]
    assert [e.envelope.event.fire_time.hour for e in stored] == [13, 14, 15]
    for e in stored:
        t = e.envelope.event
        assert 0 < t.jitter_s < 1800
        # why: triggered at the first tick at or after fire + jitter
        late = (e.envelope.at - t.fire_time).total_seconds() - t.jitter_s
        assert 0 <= late < STEP.total_seconds(), (t.jitter_s, late)
