"""A replica that starts after the log's tail aged out is current, not "behind" for good: the
stream's last sequence stays that of the expired events, which no reader can ever read."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from nats.aio.client import Client

from jetcron import ids, subjects
from jetcron.domain.commands import CreateSchedule
from jetcron.domain.definition import Job, ScheduleDefinition
from jetcron.domain.envelope import Envelope
from jetcron.domain.events import RunTriggered
from jetcron.log.stream import EventLog
from jetcron.projections.service import ProjectionService
from jetcron.scheduler.handler import CommandHandler


async def test_a_replica_started_after_the_tail_aged_out_answers_current(nc: Client) -> None:
    log = await EventLog(nc).open()
    await log.ensure_stream(retention_s=1)  # why: a log set short before the minimum existed
    job = Job(command=["true"])
    definition = ScheduleDefinition(spec="@hourly", job=job)
    now = datetime.now(UTC)
    created = CreateSchedule(name="a", command_id="c", at=now, actor="t", definition=definition)
    await CommandHandler(log).handle(created)
    trigger = RunTriggered(
        schedule_id="s", name="a", fire_id="f", fire_time=now, run_id="r", version=1,
        target="default", job=job,
    )  # fmt: skip
    await log.publish(
        subjects.trigger("default"), Envelope(id=ids.new_id(), at=now, actor="t", event=trigger)
    )
    async with asyncio.timeout(10):  # TTL plus the server's expiry sweep
        while await log.holds_after(1):
            await asyncio.sleep(0.2)
    assert await log.last_seq() == 2

    service = ProjectionService(nc, log)
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(service.run(stop, ready=ready))
    try:
        await ready.wait()
        assert service.staleness(await service.sync()) is None
        assert service.views.position == 2
    finally:
        stop.set()
        await task
        await log.close()
