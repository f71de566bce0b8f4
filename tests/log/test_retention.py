"""Retention by class: triggers, fires and run events age out (per-message TTL); definitions stay."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from nats.aio.client import Client

from jetcron import ids, subjects
from jetcron.domain.definition import Job, ScheduleDefinition
from jetcron.domain.envelope import Envelope
from jetcron.domain.events import HealthAcknowledged, RunTriggered, ScheduleCreated
from jetcron.log import retention
from jetcron.log.stream import EventLog

NOW = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)


def envelope(event: object) -> Envelope:
    return Envelope(id=ids.new_id(), at=NOW, actor="test", event=event)  # type: ignore[arg-type]


def created() -> ScheduleCreated:
    definition = ScheduleDefinition(spec="@every 1h", job=Job(command=["true"]))
    return ScheduleCreated(schedule_id="s1", name="keep", version=1, definition=definition)


def trigger() -> RunTriggered:
    return RunTriggered(
        schedule_id="s1", name="keep", fire_id="f1", fire_time=NOW, run_id="r1", version=1,
        target="default", job=Job(command=["true"]),
    )  # fmt: skip


async def test_run_events_expire_and_definitions_stay(nc: Client) -> None:
    log = await EventLog(nc).open(create=False)
    await log.ensure_stream(retention_s=1)
    assert log.retention_s == 1
    await log.append(subjects.schedule("keep"), [envelope(created())])
    await log.publish(subjects.trigger("default"), envelope(trigger()))
    await log.publish(subjects.run("keep", "r1"), envelope(trigger()))
    # why: an acknowledged poison event (no TTL: whoever wrote it set none) stays; its ack must too
    await log.publish(subjects.HEALTH_ACKS, envelope(HealthAcknowledged()))
    kept = [subjects.schedule("keep"), subjects.HEALTH_ACKS]
    # why polled: the server expires a 1 s TTL on its own timer, later on a loaded host
    deadline = asyncio.get_running_loop().time() + 15
    while (left := [s.subject async for batch in log.read() for s in batch]) != kept:
        assert asyncio.get_running_loop().time() < deadline, left
        await asyncio.sleep(0.1)
    await log.close()


async def test_only_the_scheduler_sets_the_retention_others_read_it(nc: Client) -> None:
    service = await EventLog(nc).open(create=False)
    await service.ensure_stream(retention_s=30 * 86400)
    executor = await EventLog(nc).open()  # creates nothing new, changes nothing
    assert executor.retention_s == 30 * 86400
    cli = await EventLog(nc).open(create=False)
    assert await cli.load_retention() == 30 * 86400
    await service.ensure_stream(retention_s=0)  # forever
    assert service.retention_s is None
    assert await cli.load_retention() is None
    for log in (service, executor, cli):
        await log.close()


async def test_subjects_are_only_ever_added(nc: Client) -> None:
    old = [s for s in subjects.LOG_SUBJECTS if s != subjects.STATS]  # the previous release's
    await nc.jetstream().add_stream(name=subjects.STREAM, subjects=[*old, "jetcron.extra.>"])
    log = await EventLog(nc).open()
    info = await nc.jetstream().stream_info(subjects.STREAM)
    assert set(info.config.subjects or []) == {*subjects.LOG_SUBJECTS, "jetcron.extra.>"}
    assert log.retention_s is None  # an existing log keeps its retention (forever here)
    await log.close()


async def test_a_new_log_keeps_run_history_30_days(nc: Client) -> None:
    log = await EventLog(nc).open()
    assert log.retention_s == 30 * 86400
    await log.close()


async def test_a_running_appender_follows_a_retention_another_replica_sets(
    nc: Client, caplog: pytest.LogCaptureFixture
) -> None:
    leader = await EventLog(nc).open(create=False)  # a ticker leader, running since before
    await leader.ensure_stream(retention_s=3 * 86400)
    stop = asyncio.Event()
    following = asyncio.create_task(retention.follow(leader, stop, every_s=0.05))
    restarted = await EventLog(nc).open(create=False)  # `serve --retention 0` elsewhere
    await restarted.ensure_stream(retention_s=0)
    async with asyncio.timeout(5):
        while leader.retention_s is not None:
            await asyncio.sleep(0.02)
    ack = await leader.publish(subjects.trigger("default"), envelope(trigger()))
    stored = await nc.jetstream().get_msg(subjects.STREAM, ack.seq)
    assert "Nats-TTL" not in (stored.headers or {})  # forever, as `status` says
    stop.set()
    await following
    assert "run history now kept forever (was 3d)" in caplog.text
    for log in (leader, restarted):
        await log.close()


async def test_the_process_that_changes_the_retention_says_so_and_others_here_once(
    nc: Client, caplog: pytest.LogCaptureFixture
) -> None:
    # newcomer19c #4 and #16: the `serve` that changed it said nothing; `up` said it twice
    first = await EventLog(nc).open()  # a new log: 30 days
    scheduler, executor = EventLog(nc), EventLog(nc)
    for log in (scheduler, executor):
        await log.load_retention()
    stop = asyncio.Event()
    following = [
        asyncio.create_task(retention.follow(log, stop, every_s=0.05))
        for log in (scheduler, executor)
    ]
    await first.ensure_stream(retention_s=4 * 86400)
    said = "stream JETCRON: run history now kept 4d (was 30d), set by this process"
    assert said in caplog.text
    async with asyncio.timeout(5):
        while scheduler.retention_s != 4 * 86400 or executor.retention_s != 4 * 86400:
            await asyncio.sleep(0.02)
    await first.ensure_stream(retention_s=3 * 86400)  # a second change is said again
    async with asyncio.timeout(5):
        while scheduler.retention_s != 3 * 86400 or executor.retention_s != 3 * 86400:
            await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)
    stop.set()
    await asyncio.gather(*following)
    assert caplog.text.count("run history now kept 4d") == 1
    assert caplog.text.count("run history now kept 3d") == 1
    await first.close()


async def test_a_retention_set_beyond_the_maximum_still_keeps_run_events(nc: Client) -> None:
    # newcomer20b F2: from ~86,000 days nats-server's now + TTL overflows and it deletes every
    # run event as soon as it is stored; a log set so (by hand, or an older jetcron) keeps them
    log = await EventLog(nc).open(create=False)
    await log.ensure_stream(retention_s=99999 * 86400)
    await log.publish(subjects.trigger("default"), envelope(trigger()))
    await asyncio.sleep(1.5)  # why: the server deletes such an event within a second
    held = [s.subject async for batch in log.read() for s in batch]
    assert held == [subjects.trigger("default")]
    assert retention.ttl_s(99999 * 86400) == retention.MAX_RETENTION_S == 3650 * 86400
    await log.close()
