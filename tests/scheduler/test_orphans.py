"""Runs of a deleted schedule that nobody took: the leader ends them as cancelled, exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from jetcron import ids, subjects
from jetcron.clock import FakeClock
from jetcron.domain.commands import CreateSchedule, DeleteSchedule
from jetcron.domain.definition import Job, ScheduleDefinition
from jetcron.domain.envelope import Envelope, StoredEvent
from jetcron.domain.events import RunCancelled, RunStarted, RunTriggered
from jetcron.log.stream import EventLog
from jetcron.scheduler import ticker as ticker_module
from jetcron.scheduler.checkpoint import snapshot_of, state_from
from jetcron.scheduler.handler import CommandHandler
from jetcron.scheduler.ticker import Ticker

T0 = datetime(2026, 3, 3, 12, 0, 0, tzinfo=UTC)


async def events(log: EventLog) -> list[StoredEvent]:
    out: list[StoredEvent] = []
    async for batch in log.read():
        out += batch
    return out


def of(evs: list[StoredEvent], kind: type) -> list:
    return [e.envelope.event for e in evs if isinstance(e.envelope.event, kind)]


async def fired_then_deleted(log: EventLog, clock: FakeClock) -> tuple[Ticker, list[RunTriggered]]:
    """`orphan` (target `nobody`, every 10 s) fires twice, then is deleted; the ticker has read it."""
    handler = CommandHandler(log)
    definition = ScheduleDefinition(
        spec="@every 10s", job=Job(command=["true"]), target="nobody", overlap="allow"
    )
    await handler.handle(
        CreateSchedule(name="orphan", command_id="c", at=T0, actor="t", definition=definition)
    )
    ticker = Ticker(log, clock=clock)
    await ticker.catch_up()
    for _ in range(2):
        await clock.set(clock.now() + timedelta(seconds=10))
        await ticker.catch_up()
        await ticker.tick()
    triggers = of(await events(log), RunTriggered)
    assert len(triggers) == 2
    return ticker, triggers


async def delete(log: EventLog, ticker: Ticker) -> None:
    await CommandHandler(log).handle(
        DeleteSchedule(name="orphan", command_id="d", at=T0, actor="alice")
    )
    await ticker.catch_up()


async def test_a_trigger_nobody_took_ends_cancelled_when_its_schedule_is_deleted(
    event_log, monkeypatch
) -> None:
    clock = FakeClock(T0)
    ticker, triggers = await fired_then_deleted(event_log, clock)
    await delete(event_log, ticker)
    assert set(ticker.state.orphans) == {t.run_id for t in triggers}
    restored = state_from(snapshot_of(ticker.state))
    assert restored is not None and restored.orphans == ticker.state.orphans

    monkeypatch.setattr(ticker_module, "ORPHANS_PER_TICK", 1)  # why: a bounded share a tick
    assert await ticker.tick() == 1
    assert await ticker.tick() == 1
    assert await ticker.tick() == 0  # why: each orphan is tried once; nothing more is appended
    await ticker.catch_up()

    cancelled = of(await events(event_log), RunCancelled)
    assert sorted((c.run_id, c.reason) for c in cancelled) == sorted(
        (t.run_id, "schedule deleted") for t in triggers
    )
    assert {c.fire_id for c in cancelled} == {t.fire_id for t in triggers}
    assert ticker.state.orphans == {}


async def test_a_run_an_executor_claims_at_the_same_moment_is_left_to_it(
    event_log, monkeypatch, caplog
) -> None:
    clock = FakeClock(T0)
    ticker, (first, second) = await fired_then_deleted(event_log, clock)
    await delete(event_log, ticker)
    before = await event_log.load_run(first.name, first.run_id)
    # why: the executor's claim (the same compare-and-set) lands after the leader read the run
    started = RunStarted(
        schedule_id=first.schedule_id, name=first.name, fire_id=first.fire_id,
        fire_time=first.fire_time, run_id=first.run_id, executor="nobody",
    )  # fmt: skip
    envelope = Envelope(id=ids.new_id(), at=T0, actor="executor:nobody", event=started)
    subject = subjects.run_by(first.name, first.run_id, "nobody", "nobody")
    await event_log.append(
        subject, [envelope], expected_last_subject_seq=0,
        expected_subject=subjects.run_events(first.name, first.run_id)[0],
    )  # fmt: skip
    load_run = event_log.load_run

    async def read_before_the_claim(name: str, run_id: str):  # type: ignore[no-untyped-def]
        return before if run_id == first.run_id else await load_run(name, run_id)

    monkeypatch.setattr(event_log, "load_run", read_before_the_claim)

    with caplog.at_level("INFO", logger="jetcron.scheduler.orphans"):
        await ticker.tick()
    assert f"run {first.run_id} of deleted orphan was started meanwhile" in caplog.text
    await ticker.catch_up()

    cancelled = of(await events(event_log), RunCancelled)
    assert [c.run_id for c in cancelled] == [second.run_id]
    assert ticker.state.orphans == {}
