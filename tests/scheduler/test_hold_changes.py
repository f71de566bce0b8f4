"""A fire held after a take-over (planner.SETTLE) gets exactly one fate whatever ends the hold:
a pause, an update or a delete of its schedule, a new leader, a restart (scheduler/owed.py).

Before, a pause during the hold left the held fire with no event at all (the chaos bench)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from test_ticker import T0, add, burst, events, of, succeed
from test_ticker_outage import _new_leader

from jetcron import ids
from jetcron.clock import FakeClock
from jetcron.domain.commands import DeleteSchedule, PauseSchedule, UpdateSchedule
from jetcron.domain.definition import DefinitionPatch
from jetcron.domain.events import FireEvent, FireMissed, RunSkipped, RunTriggered
from jetcron.log.stream import EventLog
from jetcron.scheduler.handler import CommandHandler
from jetcron.scheduler.owed import DELETED
from jetcron.scheduler.planner import NOT_STARTED
from jetcron.scheduler.ticker import Ticker

FIRE = T0 + timedelta(minutes=2)
"""The fire held: due while the run of 12:01 (fired by the last leader) is in flight."""
FATES = (RunTriggered, RunSkipped, FireMissed)


async def fates(event_log: EventLog) -> list[FireEvent]:
    """The fates the log holds for FIRE."""
    return [e for e in of(await events(event_log), FATES) if e.fire_time == FIRE]


async def change(event_log: EventLog, clock: FakeClock, kind: str) -> None:
    """Pause, update (a new spec) or delete schedule `o` at the clock's time."""
    meta = {"name": "o", "command_id": ids.new_id(), "at": clock.now(), "actor": "test"}
    command = {
        "pause": lambda: PauseSchedule(**meta),
        "update": lambda: UpdateSchedule(**meta, patch=DefinitionPatch(spec="*/5 * * * *")),
        "delete": lambda: DeleteSchedule(**meta),
    }[kind]()
    await CommandHandler(event_log, clock).handle(command)


async def setup(event_log: EventLog) -> tuple[FakeClock, RunTriggered]:
    """Schedule `o` (overlap skip), its 12:01 run triggered by a first leader, still in flight;
    the clock at 12:02:05, when a new leader takes over."""
    await add(event_log, "o", timeout_s=3600, overlap="skip")
    clock = FakeClock(T0)
    await burst(Ticker(event_log, clock=clock), clock, T0 + timedelta(minutes=1, seconds=1))
    [first] = of(await events(event_log), RunTriggered)
    await clock.set(FIRE + timedelta(seconds=5))
    return clock, first


async def settled(event_log: EventLog) -> list[FireEvent]:
    async with asyncio.timeout(10):
        while not (found := await fates(event_log)):
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # a second fate would come now
    return found


@pytest.mark.parametrize("kind", ["pause", "update", "delete"])
async def test_a_change_during_the_hold_skips_the_held_fire_once(
    event_log: EventLog, kind: str
) -> None:
    """The run it waits for is still in flight when the schedule changes: skipped for overlap,
    as without the hold, once, under the fire id of the version it was due under."""
    clock, first = await setup(event_log)
    stop, task = await _new_leader(event_log, clock)
    try:
        assert await fates(event_log) == []  # held
        await clock.advance(3)
        await change(event_log, clock, kind)
        found = await settled(event_log)
        await clock.advance(30)  # past the hold and the fire's grace: nothing more
        await asyncio.sleep(0.5)
        found = await fates(event_log)
    finally:
        stop.set()
        await task
    assert [(type(f), f.reason, f.blocking_run_id) for f in found] == [  # type: ignore[attr-defined]
        (RunSkipped, NOT_STARTED, first.run_id)  # why: no executor took it
    ]
    assert found[0].fire_id == ids.fire_id(first.schedule_id, first.version, FIRE)


@pytest.mark.parametrize(
    ("kind", "fate"),
    [("pause", RunTriggered), ("update", RunTriggered), ("delete", RunSkipped)],
    ids=["pause-runs-it", "update-runs-it", "delete-skips-it"],
)
async def test_a_fire_held_by_a_leader_that_died_is_decided_by_the_next_one_once(
    event_log: EventLog, kind: str, fate: type
) -> None:
    """The leader holding the fire stops (its lease lost, or the process gone); the run's
    result lands, then the schedule changes while no leader runs. The next leader decides the
    fire as of the change: it runs (it was due while the schedule was active, and nothing
    blocked it by then), or after a delete it is skipped; a restart after that adds nothing."""
    clock, first = await setup(event_log)
    stop, task = await _new_leader(event_log, clock)
    stop.set()
    await task
    assert await fates(event_log) == []  # it held the fire, then went away
    await succeed(event_log, first, T0 + timedelta(minutes=1, seconds=50))
    await clock.advance(3)
    await change(event_log, clock, kind)
    await clock.advance(2)
    stop, task = await _new_leader(event_log, clock)
    try:
        found = await settled(event_log)
    finally:
        stop.set()
        await task
    again = Ticker(event_log, clock=clock)
    await again.catch_up()
    assert await again.tick() == 0
    assert [type(f) for f in await fates(event_log)] == [fate]
    if fate is RunSkipped:
        assert found[0].reason == DELETED  # type: ignore[attr-defined]
    assert found[0].fire_id == ids.fire_id(first.schedule_id, first.version, FIRE)


async def test_an_owed_fate_found_more_than_a_minute_late_is_missed_not_run(
    event_log: EventLog,
) -> None:
    """The schedule paused while its fire was held; no leader for two minutes after: the fire
    is recorded missed, not run two minutes late into a paused schedule."""
    clock, first = await setup(event_log)
    stop, task = await _new_leader(event_log, clock)
    stop.set()
    await task
    await succeed(event_log, first, T0 + timedelta(minutes=1, seconds=50))
    await clock.advance(3)
    await change(event_log, clock, "pause")
    await clock.advance(120)
    stop, task = await _new_leader(event_log, clock)
    try:
        found = await settled(event_log)
    finally:
        stop.set()
        await task
    assert [type(f) for f in found] == [FireMissed]
    assert "more than 60 s late, the schedule paused" in found[0].reason  # type: ignore[attr-defined]


async def test_a_fire_held_across_a_failover_runs_once_when_the_result_lands(
    event_log: EventLog,
) -> None:
    """The leader holding the fire goes away; the next one, taking over 2 s later, holds it
    again (the run was fired before its take-over) and runs it once the result lands."""
    clock, first = await setup(event_log)
    stop, task = await _new_leader(event_log, clock)
    stop.set()
    await task
    await clock.advance(2)
    stop, task = await _new_leader(event_log, clock)
    try:
        assert await fates(event_log) == []  # held again
        await succeed(event_log, first, T0 + timedelta(minutes=1, seconds=50))
        found = await settled(event_log)
    finally:
        stop.set()
        await task
    assert [type(f) for f in found] == [RunTriggered]


async def test_a_fire_behind_a_run_this_leader_triggered_is_skipped_at_once(
    event_log: EventLog,
) -> None:
    """Only a run last heard of before the take-over holds a fire: the catch-up run a new
    leader triggers itself (for a fire before its take-over) blocks the next fire as always."""
    await add(event_log, "o", timeout_s=3600, overlap="skip")
    clock = FakeClock(T0 + timedelta(minutes=1, seconds=50))
    stop, task = await _new_leader(event_log, clock)  # triggers 12:01, 50 s late
    try:
        await clock.set(FIRE + timedelta(seconds=1))
        found = await settled(event_log)
    finally:
        stop.set()
        await task
    assert [(type(f), f.reason) for f in found] == [(RunSkipped, NOT_STARTED)]  # type: ignore[attr-defined]
