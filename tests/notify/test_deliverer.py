"""The leader's delivery against a real nats-server: the ledger makes a second leader (or a
restarted one) send nothing twice, a storm is grouped with its count, a test goes to its sink."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import msgspec
import pytest
from nats.aio.client import Client

from jetcron import ids, subjects
from jetcron.domain.envelope import Envelope, StoredEvent
from jetcron.domain.events import Event, RunFailed
from jetcron.domain.notifications import Notification, Sink
from jetcron.domain.notify_events import (
    NotificationAdded,
    NotifyDelivered,
    NotifyFailed,
    NotifyTest,
)
from jetcron.log.durable import DurableFeed
from jetcron.log.stream import EventLog
from jetcron.notify.deliverer import Deliverer
from jetcron.projections import health, state

AT = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)


@pytest.fixture
async def event_log(nc: Client) -> AsyncIterator[EventLog]:
    log = await EventLog(nc).open()
    # why: the consumer starts at the log's end; create it before the events it must see
    await (await DurableFeed(nc, subjects.NOTIFY_CONSUMER, [subjects.RUNS]).open()).close()
    yield log
    await log.close()


async def append(log: EventLog, subject: str, event: Event) -> int:
    env = Envelope(id=ids.new_id(), at=AT, actor="test", event=event)  # type: ignore[arg-type]
    return (await log.append(subject, [env]))[0]


def failure(run: str) -> RunFailed:
    return RunFailed(schedule_id="s1", name="backup", fire_id=f"f-{run}", fire_time=AT,
                     run_id=run, exit_code=1)  # fmt: skip


async def sink(
    nc: Client, log: EventLog, window_s: float = 0.0
) -> asyncio.Queue[dict[str, object]]:
    got: asyncio.Queue[dict[str, object]] = asyncio.Queue()

    async def on_msg(msg: object) -> None:
        await got.put(msgspec.json.decode(msg.data))  # type: ignore[attr-defined]

    await nc.subscribe("ops.alerts", cb=on_msg)
    n = Notification(name="ops", sink=Sink(subject="ops.alerts"), window_s=window_s)
    await append(log, subjects.notification("ops"), NotificationAdded(name="ops", notification=n))
    return got


async def delivered(log: EventLog) -> list[StoredEvent]:
    out: list[StoredEvent] = []
    async for batch in log.read(subjects=[subjects.DELIVERIES]):
        out += [s for s in batch if isinstance(s.envelope.event, NotifyDelivered)]
    return out


async def running(deliverer: Deliverer) -> tuple[asyncio.Event, asyncio.Task[None]]:
    stop = asyncio.Event()
    return stop, asyncio.create_task(deliverer.run(stop))


async def test_a_new_leader_sends_nothing_the_ledger_has_and_the_rest_once(
    nc: Client, event_log: EventLog
) -> None:
    got = await sink(nc, event_log)
    first = await append(event_log, subjects.run("backup", "r1"), failure("r1"))
    second = await append(event_log, subjects.run("backup", "r2"), failure("r2"))
    # a leader that sent r1 and recorded it, then died before acking: the ledger has it
    ledger = NotifyDelivered(
        name="ops", event_seq=first, kind="failure", delivery_id=f"ops:{first}"
    )
    await append(event_log, subjects.delivery("ops", first), ledger)

    stop, task = await running(Deliverer(nc, event_log))
    body = await asyncio.wait_for(got.get(), 10)
    assert (body["id"], body["count"]) == (f"ops:{second}", 1)
    await asyncio.sleep(0.5)
    stop.set()
    await task
    assert got.empty()

    # a second leader on the same durable consumer: everything is acked, nothing is sent again
    stop, task = await running(Deliverer(nc, event_log))
    await asyncio.sleep(1.0)
    stop.set()
    await task
    assert got.empty()
    assert sorted(s.envelope.event.event_seq for s in await delivered(event_log)) == [first, second]  # type: ignore[union-attr]


async def test_a_storm_is_one_message_then_one_grouped_message_with_the_count(
    nc: Client, event_log: EventLog
) -> None:
    got = await sink(nc, event_log, window_s=1.0)
    stop, task = await running(Deliverer(nc, event_log))
    await asyncio.sleep(0.5)  # why: the deliverer has read the sink before the storm starts
    seqs = [
        await append(event_log, subjects.run("backup", f"r{i}"), failure(f"r{i}")) for i in range(5)
    ]
    one = await asyncio.wait_for(got.get(), 10)
    rest = await asyncio.wait_for(got.get(), 10)
    await asyncio.sleep(0.5)
    stop.set()
    await task
    assert (one["count"], rest["count"]) == (1, 4) and got.empty()
    assert [e["seq"] for e in rest["events"]] == seqs[1:]  # type: ignore[index]
    records = [s.envelope.event for s in await delivered(event_log)]
    assert sorted(e.event_seq for e in records) == seqs  # type: ignore[union-attr]
    assert sorted(e.grouped for e in records) == [1, 4, 4, 4, 4]  # type: ignore[union-attr]


async def test_events_held_for_a_group_go_to_the_next_leader(
    nc: Client, event_log: EventLog
) -> None:
    got = await sink(nc, event_log, window_s=30.0)
    stop, task = await running(Deliverer(nc, event_log))
    await asyncio.sleep(0.5)
    seqs = [
        await append(event_log, subjects.run("backup", f"r{i}"), failure(f"r{i}")) for i in range(2)
    ]
    first = await asyncio.wait_for(got.get(), 10)
    await asyncio.sleep(1.0)  # the second is held for the window
    stop.set()
    await task  # the leader steps down before the window ends
    assert first["count"] == 1 and got.empty()

    stop, task = await running(Deliverer(nc, event_log))
    second = await asyncio.wait_for(got.get(), 10)
    stop.set()
    await task
    assert (second["id"], second["count"]) == (f"ops:{seqs[1]}", 1)


async def test_a_failed_test_message_is_tried_once_and_leaves_the_sink_not_failing(
    nc: Client,
) -> None:
    log = await EventLog(nc).open()
    deliverer = Deliverer(nc, log)
    await deliverer.prepare()
    down = Notification(name="ops", sink=Sink(command=["false"]))
    await append(
        log, subjects.notification("ops"), NotificationAdded(name="ops", notification=down)
    )
    seq = await append(log, subjects.notify_test("ops"), NotifyTest(name="ops"))

    stop, task = await running(deliverer)
    for _ in range(50):
        if await log.last(subjects.delivery("ops", seq)) is not None:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.5)  # why: a retry would come after 1 s
    stop.set()
    await task
    records = [s async for batch in log.read(subjects=[subjects.DELIVERIES]) for s in batch]
    views = state.replay(
        [s async for batch in log.read(subjects=[subjects.NOTIFICATIONS, subjects.DELIVERIES])
         for s in batch]
    )  # fmt: skip
    await log.close()

    [record] = [s.envelope.event for s in records]
    assert isinstance(record, NotifyFailed) and (record.final, record.attempts) == (True, 1)
    row = views.notifications.rows["ops"]
    assert (row.failing, row.failed, row.retrying, row.tested_at is not None) == (
        False,
        0,
        [],
        True,
    )
    assert "exit" in row.test_error
    assert health.evaluate(views, now=AT, executors_online={}).healthy
