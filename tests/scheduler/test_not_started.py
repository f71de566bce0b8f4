"""A fire skipped for a run that no executor has started says so, not "still in flight"
(TickerState.unstarted), through starts, hand-backs and a restart from a checkpoint."""

from __future__ import annotations

from datetime import timedelta

from test_ticker import T0, add, burst, events, of

from jetcron import subjects
from jetcron.clock import FakeClock
from jetcron.domain.envelope import Envelope
from jetcron.domain.events import RunEvent, RunHandedBack, RunSkipped, RunStarted, RunTriggered
from jetcron.log.stream import EventLog
from jetcron.scheduler.checkpoint import snapshot_of, state_from
from jetcron.scheduler.planner import BUSY, NOT_STARTED
from jetcron.scheduler.ticker import Ticker


async def word(event_log: EventLog, run: RunTriggered, kind: type[RunEvent]) -> None:
    """Store an executor's word about the run (attempt 1)."""
    event = kind(
        schedule_id=run.schedule_id, name=run.name, fire_id=run.fire_id,
        fire_time=run.fire_time, run_id=run.run_id, executor="box", attempt=1,
    )  # fmt: skip
    envelope = Envelope(id=f"{kind.__name__}-{run.run_id}", at=T0, actor="box", event=event)
    await event_log.publish(subjects.run(run.name, run.run_id), envelope)


async def reasons(event_log: EventLog) -> list[tuple[str, str]]:
    skips = of(await events(event_log), RunSkipped)
    return [(f"{s.fire_time:%H:%M}", s.reason) for s in skips]


async def test_a_skip_for_a_run_not_started_yet_says_so(event_log: EventLog) -> None:
    await add(event_log, "o", timeout_s=3600, overlap="skip")
    clock = FakeClock(T0)
    ticker = Ticker(event_log, clock=clock)
    await burst(ticker, clock, T0 + timedelta(minutes=2))  # 12:01 triggered; nobody takes it
    [run] = of(await events(event_log), RunTriggered)
    assert run.run_id in ticker.state.unstarted

    await word(event_log, run, RunStarted)
    await burst(ticker, clock, T0 + timedelta(minutes=3))
    await word(event_log, run, RunHandedBack)  # its attempt never started its job
    await burst(ticker, clock, T0 + timedelta(minutes=4))
    assert await reasons(event_log) == [
        ("12:02", NOT_STARTED),
        ("12:03", BUSY),
        ("12:04", NOT_STARTED),
    ]

    fresh = Ticker(event_log, clock=clock)
    await fresh.catch_up()
    await ticker.catch_up()
    restored = state_from(snapshot_of(ticker.state))
    assert restored is not None
    assert restored.unstarted == fresh.state.unstarted == {run.run_id}
