"""The leader's expectation check on a real nats-server with an injected clock: two leaders
store one `expectation.missed`, the views, health and metrics show it."""

from __future__ import annotations

import asyncio
import urllib.request
from datetime import UTC, datetime, timedelta

from nats.aio.client import Client

from conftest import free_port
from jetcron import subjects
from jetcron.client import query
from jetcron.clock import FakeClock
from jetcron.domain.commands import CreateSchedule
from jetcron.domain.definition import Job, ScheduleDefinition
from jetcron.domain.events import ExpectationMissed
from jetcron.log.stream import EventLog
from jetcron.projections.service import ProjectionService
from jetcron.scheduler.handler import CommandHandler

T0 = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)


async def test_two_leaders_store_one_miss_and_metrics_show_it(
    nc: Client, event_log: EventLog
) -> None:
    d = ScheduleDefinition(
        spec="0 0 1 1 *", job=Job(command=["true"]), expect_success_within_s=3600
    )
    await CommandHandler(event_log).handle(
        CreateSchedule(name="yearly", command_id="c1", at=T0, actor="alice", definition=d)
    )
    clock = FakeClock(T0 + timedelta(minutes=59))
    port = free_port()
    one = ProjectionService(nc, event_log, clock=clock, metrics_port=port)
    two = ProjectionService(nc, event_log, clock=clock)
    stop = asyncio.Event()
    readies = [asyncio.Event(), asyncio.Event()]
    tasks = [
        asyncio.create_task(s.run(stop, ready=r)) for s, r in zip((one, two), readies, strict=True)
    ]
    for r in readies:
        await r.wait()
    try:
        assert await one.check_expectations() == 0  # before the deadline
        await clock.advance(timedelta(minutes=2))
        # both decide it (and so do their own once-a-second loops): the msg id keeps one
        await asyncio.gather(one.check_expectations(), two.check_expectations())
        await asyncio.sleep(1.5)
        stored = [
            s async for batch in event_log.read(subjects=[subjects.EXPECTATIONS]) for s in batch
        ]
        [miss] = [s.envelope.event for s in stored]
        assert isinstance(miss, ExpectationMissed)
        assert (miss.cause, miss.deadline) == ("never_triggered", T0 + timedelta(hours=1))
        await one.sync()
        assert await one.check_expectations() == 0  # reported once per deadline
        health = await query(nc, "health", {})
        assert [p["kind"] for p in health["problems"]] == ["expectation_missed"]
        text = await asyncio.to_thread(
            lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
        )
        assert b'jetcron_expectation_missed{kind="success_within",schedule="yearly"} 1.0' in text
    finally:
        stop.set()
        await asyncio.gather(*tasks)
