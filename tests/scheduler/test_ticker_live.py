"""Ticker + executor with the real clock, briefly: overlap policies that need a running job."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from jetcron.domain.commands import CreateSchedule
from jetcron.domain.definition import Job, ScheduleDefinition
from jetcron.domain.envelope import StoredEvent
from jetcron.domain.events import RunCancelled, RunCancelRequested, RunStarted, RunTriggered
from jetcron.executors.agent import Executor, ExecutorConfig
from jetcron.log.stream import EventLog
from jetcron.scheduler.handler import CommandHandler
from jetcron.scheduler.ticker import Ticker


async def all_events(log: EventLog) -> list[StoredEvent]:
    out: list[StoredEvent] = []
    async for batch in log.read():
        out += batch
    return out


async def test_cancel_previous_stops_the_running_job(nc) -> None:
    log = await EventLog(nc).open()
    definition = ScheduleDefinition(
        spec="@every 2s", job=Job(command=["sleep", "30"]), overlap="cancel_previous", timeout_s=60
    )
    await CommandHandler(log).handle(
        CreateSchedule(
            name="long", command_id="c", at=datetime.now(UTC), actor="t", definition=definition
        )
    )
    stop = asyncio.Event()
    executor = Executor(
        nc,
        ExecutorConfig(
            name="e1",
            targets=["e1", "default"],
            ack_wait_s=5,
            kill_grace_s=0.5,
            heartbeat_s=1,
            drain_timeout_s=1,
        ),
    )
    tasks = [asyncio.create_task(Ticker(log).run(stop)), asyncio.create_task(executor.run(stop))]
    # why polled: the second fire (2-4 s in) and the cancel it causes come later on a loaded host
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        events = [e.event for e in await all_events(log)]
        triggers = [e for e in events if isinstance(e, RunTriggered)]
        cancel_requests = [e for e in events if isinstance(e, RunCancelRequested)]
        cancelled = [e for e in events if isinstance(e, RunCancelled)]
        started = [e for e in events if isinstance(e, RunStarted)]
        if len(triggers) >= 2 and {s.run_id for s in started} >= {t.run_id for t in triggers[:2]}:
            if any(c.run_id == triggers[0].run_id for c in cancelled):
                break
        assert asyncio.get_running_loop().time() < deadline, [type(e).__name__ for e in events]
        await asyncio.sleep(0.2)
    stop.set()
    await asyncio.gather(*tasks)
    assert cancel_requests and cancel_requests[0].run_id == triggers[0].run_id
    await log.close()
