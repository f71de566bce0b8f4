"""Runs declared lost at one instant: what one tick costs now that each `run.lost` is a read of
the run and a conditional append (scheduler/lost.py), no longer one pipelined publish.

N schedules fire at once on a target no executor serves, their runs are claimed (attempt 1) as
an executor would, and past the deadline one tick of the real ticker (fake clock) declares them
lost (up to LOSSES_PER_TICK). Figures: `lost_tick_seconds` (that tick's wall time),
`lost_client_us_per_run` and `lost_server_us_per_run` (CPU of this process and the nats-server).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bench.common import CpuMeter, event_log, load_average, rnd
from jetcron import ids, subjects
from jetcron.clock import FakeClock
from jetcron.domain.commands import CreateSchedule
from jetcron.domain.definition import Job, ScheduleDefinition
from jetcron.domain.envelope import Envelope
from jetcron.domain.events import RunLost, RunStarted, RunTriggered
from jetcron.log.stream import EventLog
from jetcron.scheduler.firing import LOSSES_PER_TICK
from jetcron.scheduler.handler import CommandHandler
from jetcron.scheduler.state import LOST_GRACE
from jetcron.scheduler.ticker import Ticker

T0 = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
FIRE = T0 + timedelta(hours=1)
TIMEOUT_S = 30.0


async def run(quick: bool) -> dict[str, Any]:
    """The figures for a tick that loses 200 (quick) or LOSSES_PER_TICK runs."""
    return await measure(200 if quick else LOSSES_PER_TICK)


async def measure(n: int) -> dict[str, Any]:
    """One tick that declares n runs lost, measured."""
    async with event_log("lost") as (server, _, log):
        clock = FakeClock(T0)
        ticker = await _started(log, clock, n)
        await clock.set(FIRE + timedelta(seconds=TIMEOUT_S) + LOST_GRACE)
        with CpuMeter(server) as cpu:
            appended = await ticker.tick()
        lost = await _count_lost(log)
    assert appended == lost == n, (appended, lost, n)
    client, server_us = cpu.us_per(n)
    return {
        "lost_runs": n,
        "lost_tick_seconds": rnd(cpu.wall_s, 3),
        "lost_client_us_per_run": client,
        "lost_server_us_per_run": server_us,
        "lost_load_average": load_average(),
    }


async def _count_lost(log: EventLog) -> int:
    lost = 0
    async for batch in log.read():
        lost += sum(isinstance(s.envelope.event, RunLost) for s in batch)
    return lost


async def _started(log: EventLog, clock: FakeClock, n: int) -> Ticker:
    """n schedules fired at FIRE, each run started by `pi`; a ticker that has read it all."""
    handler = CommandHandler(log)
    definition = ScheduleDefinition(
        spec="@every 1h", job=Job(command=["true"]), target="pi", timeout_s=TIMEOUT_S
    )
    for i in range(n):
        await handler.handle(
            CreateSchedule(
                name=f"l{i}", command_id=f"c{i}", at=T0, actor="b", definition=definition
            )
        )
    ticker = Ticker(log, clock=clock)
    await ticker.catch_up()
    await clock.set(FIRE)
    await ticker.tick()
    async for batch in log.read():
        for stored in batch:
            if isinstance(t := stored.envelope.event, RunTriggered):
                await _start(log, t)
    await ticker.catch_up()
    return ticker


async def _start(log: EventLog, t: RunTriggered) -> None:
    event = RunStarted(
        schedule_id=t.schedule_id, name=t.name, fire_id=t.fire_id, fire_time=t.fire_time,
        run_id=t.run_id, executor="pi",
    )  # fmt: skip
    envelope = Envelope(id=ids.new_id(), at=FIRE, actor="executor:pi", event=event)
    await log.publish(subjects.run_by(t.name, t.run_id, "pi", "pi"), envelope)
