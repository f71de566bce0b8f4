"""Runs of a deleted schedule that an executor took keep their deadlines: if the executor dies,
the ticker declares them lost like any run (plain runs and fan-out members), exactly once.

Real nats-server, a fake clock; the executor's words are appended as an executor would.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from jetcron import ids, subjects
from jetcron.clock import FakeClock
from jetcron.domain.commands import CreateSchedule, DeleteSchedule
from jetcron.domain.definition import Job, ScheduleDefinition
from jetcron.domain.envelope import Envelope, StoredEvent
from jetcron.domain.events import (
    FireBuffered,
    RunCancelled,
    RunEvent,
    RunLost,
    RunSkipped,
    RunStarted,
    RunSucceeded,
    RunTriggered,
)
from jetcron.domain.runs import is_fanout, member_run_id
from jetcron.log.stream import EventLog
from jetcron.scheduler.checkpoint import snapshot_of, state_from
from jetcron.scheduler.handler import CommandHandler
from jetcron.scheduler.state import LOST_GRACE
from jetcron.scheduler.ticker import Ticker

T0 = datetime(2026, 3, 3, 12, 0, 0, tzinfo=UTC)
FIRE = T0 + timedelta(hours=1)
TIMEOUT = timedelta(seconds=30)
STARTED = FIRE + timedelta(seconds=2)
DEADLINE = STARTED + TIMEOUT + LOST_GRACE
"""When a run started at STARTED, with no word since, is lost."""


async def events(log: EventLog) -> list[StoredEvent]:
    out: list[StoredEvent] = []
    async for batch in log.read():
        out += batch
    return out


def of(evs: list[StoredEvent], kind: type) -> list[Any]:
    return [e.envelope.event for e in evs if isinstance(e.envelope.event, kind)]


async def fired(log: EventLog, clock: FakeClock, target: str) -> tuple[Ticker, RunTriggered]:
    """`gone` (every hour, on `target`) fires once at FIRE; the ticker has read it."""
    definition = ScheduleDefinition(
        spec="@every 1h", job=Job(command=["sleep", "600"]), target=target,
        timeout_s=TIMEOUT.total_seconds(),
    )  # fmt: skip
    await CommandHandler(log).handle(
        CreateSchedule(name="gone", command_id="c", at=T0, actor="t", definition=definition)
    )
    ticker = Ticker(log, clock=clock)
    await ticker.catch_up()
    await clock.set(FIRE)
    await ticker.tick()
    await ticker.catch_up()
    [trigger] = of(await events(log), RunTriggered)
    return ticker, trigger


async def word(
    log: EventLog, trigger: RunTriggered, kind: type[RunEvent], at: datetime, **kw: Any
) -> str:
    """An executor's word about the trigger's run (a member's, for a fan-out target); its run id."""
    run_id = member_run_id(trigger.run_id, "pi2") if is_fanout(trigger.target) else trigger.run_id
    event = kind(
        schedule_id=trigger.schedule_id, name=trigger.name, fire_id=trigger.fire_id,
        fire_time=trigger.fire_time, run_id=run_id, executor="pi2", **kw,
    )  # fmt: skip
    envelope = Envelope(id=ids.new_id(), at=at, actor="executor:pi2", event=event)
    await log.publish(subjects.run_by(trigger.name, run_id, trigger.target, "pi2"), envelope)
    return run_id


async def delete(log: EventLog, ticker: Ticker, clock: FakeClock) -> None:
    await clock.set(STARTED + timedelta(seconds=5))
    await CommandHandler(log).handle(
        DeleteSchedule(name="gone", command_id="d", at=clock.now(), actor="alice")
    )
    await ticker.catch_up()
    await ticker.tick()  # why: the orphan of a taken run is left to its executor


async def at(ticker: Ticker, clock: FakeClock, when: datetime) -> int:
    await clock.set(when)
    await ticker.catch_up()
    appended = await ticker.tick()
    await ticker.catch_up()
    return appended


async def test_a_started_run_of_a_deleted_schedule_is_lost_past_its_deadline(event_log) -> None:
    clock = FakeClock(T0)
    ticker, trigger = await fired(event_log, clock, "pi2")
    run_id = await word(event_log, trigger, RunStarted, STARTED)
    await delete(event_log, ticker, clock)
    assert of(await events(event_log), RunCancelled) == []  # taken: not the scheduler's to cancel
    assert set(ticker.state.retired) == {trigger.schedule_id}
    restored = state_from(snapshot_of(ticker.state))
    assert restored is not None
    assert {s: e.in_flight for s, e in restored.retired.items()} == {
        trigger.schedule_id: {run_id: DEADLINE}
    }

    assert await at(ticker, clock, DEADLINE - timedelta(seconds=1)) == 0
    assert await at(ticker, clock, DEADLINE) == 1
    [lost] = of(await events(event_log), RunLost)
    assert (lost.run_id, lost.name, lost.fire_id) == (run_id, "gone", trigger.fire_id)
    assert ticker.state.retired == {} and ticker.state.orphans == {}
    assert await at(ticker, clock, DEADLINE + timedelta(hours=3)) == 0  # nothing fires any more


async def test_a_fan_out_member_of_a_deleted_schedule_is_lost_past_its_deadline(
    event_log,
) -> None:
    clock = FakeClock(T0)
    ticker, trigger = await fired(event_log, clock, "all:lights")
    run_id = await word(event_log, trigger, RunStarted, STARTED)
    await delete(event_log, ticker, clock)
    assert await at(ticker, clock, DEADLINE - timedelta(seconds=1)) == 0
    assert await at(ticker, clock, DEADLINE) == 1
    assert [x.run_id for x in of(await events(event_log), RunLost)] == [run_id]
    assert ticker.state.retired == {}


async def test_a_word_after_the_delete_moves_the_deadline_and_its_end_settles_it(
    event_log,
) -> None:
    clock = FakeClock(T0)
    ticker, trigger = await fired(event_log, clock, "pi2")
    await word(event_log, trigger, RunStarted, STARTED)
    await delete(event_log, ticker, clock)
    later = DEADLINE - timedelta(seconds=10)
    await word(event_log, trigger, RunStarted, later, attempt=2)  # a retry, after the delete
    assert await at(ticker, clock, DEADLINE) == 0
    await word(event_log, trigger, RunSucceeded, later + timedelta(seconds=1), attempt=2)
    assert await at(ticker, clock, later + TIMEOUT + LOST_GRACE) == 0
    assert of(await events(event_log), RunLost) == []
    assert ticker.state.retired == {}


async def test_a_run_nobody_took_is_cancelled_not_lost(event_log) -> None:
    clock = FakeClock(T0)
    ticker, trigger = await fired(event_log, clock, "nobody")
    await delete(event_log, ticker, clock)
    await ticker.catch_up()
    [cancelled] = of(await events(event_log), RunCancelled)
    assert cancelled.run_id == trigger.run_id
    assert ticker.state.retired == {}
    assert await at(ticker, clock, FIRE + TIMEOUT + LOST_GRACE) == 0
    assert of(await events(event_log), RunLost) == []


async def test_a_restored_ticker_still_loses_a_deleted_schedules_run(event_log) -> None:
    clock = FakeClock(T0)
    ticker, trigger = await fired(event_log, clock, "pi2")
    run_id = await word(event_log, trigger, RunStarted, STARTED)
    await delete(event_log, ticker, clock)
    await ticker.save_snapshot()
    again = Ticker(event_log, clock=clock)
    await again.restore()
    assert set(again.state.retired) == {trigger.schedule_id}
    assert await at(again, clock, DEADLINE) == 1
    assert [x.run_id for x in of(await events(event_log), RunLost)] == [run_id]


async def test_a_fire_buffered_behind_a_lost_run_of_a_deleted_schedule_is_left_alone(
    event_log,
) -> None:
    timeout = timedelta(hours=3)
    definition = ScheduleDefinition(
        spec="@every 1h", job=Job(command=["sleep", "600"]), target="pi2",
        timeout_s=timeout.total_seconds(), overlap="buffer_one",
    )  # fmt: skip
    await CommandHandler(event_log).handle(
        CreateSchedule(name="gone", command_id="c", at=T0, actor="t", definition=definition)
    )
    clock = FakeClock(T0)
    ticker = Ticker(event_log, clock=clock)
    await at(ticker, clock, FIRE)
    [trigger] = of(await events(event_log), RunTriggered)
    await word(event_log, trigger, RunStarted, STARTED)
    await at(ticker, clock, FIRE + timedelta(hours=1))  # the next fire waits for the run
    assert len(of(await events(event_log), FireBuffered)) == 1
    await delete(event_log, ticker, clock)
    # only the run.lost: the waiting fire is neither started nor recorded as skipped
    assert await at(ticker, clock, STARTED + timeout + LOST_GRACE) == 1
    stored = await events(event_log)
    assert len(of(stored, RunLost)) == len(of(stored, RunTriggered)) == 1
    assert of(stored, RunSkipped) == []
    assert ticker.state.retired == {}
