"""Notification commands through the handler against a real nats-server: CAS, retries, where
each event lands."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from jetcron import subjects
from jetcron.domain.commands import AddNotification, RemoveNotification, SendTestNotification
from jetcron.domain.errors import CommandRejected
from jetcron.domain.notifications import Notification, Sink
from jetcron.domain.notify_events import NotificationAdded, NotificationRemoved, NotifyTest
from jetcron.log.stream import EventLog
from jetcron.scheduler.handler import CommandHandler

T0 = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)


def add(cid: str, subject: str = "ops.alerts") -> AddNotification:
    n = Notification(name="ops", sink=Sink(subject=subject))
    return AddNotification(name="ops", command_id=cid, at=T0, actor="alice", notification=n)


async def test_two_replicas_adding_one_name_at_once_store_one(nc, event_log) -> None:
    a, b = CommandHandler(event_log), CommandHandler(await EventLog(nc).open())
    results = await asyncio.gather(
        a.handle(add("a1", "a.x")), b.handle(add("b1", "b.x")), return_exceptions=True
    )
    assert sorted(type(r).__name__ for r in results) == ["CommandRejected", "list"], results
    history, _ = await event_log.load(subjects.notification("ops"))
    assert [type(e.event) for e in history] == [NotificationAdded]


async def test_a_retried_command_applies_once(event_log) -> None:
    handler = CommandHandler(event_log)
    first = await handler.handle(add("c1"))
    assert await handler.handle(add("c1")) == first
    probe = SendTestNotification(name="ops", command_id="t1", at=T0, actor="alice")
    (sent,) = await handler.handle(probe)
    (again,) = await handler.handle(probe)
    # why: the test request goes to the leader's test subject, deduped by the command id
    assert (sent.subject, again.seq) == (subjects.notify_test("ops"), sent.seq)
    assert isinstance(sent.event, NotifyTest) and sent.envelope.causation_id == "t1"
    assert len((await event_log.load(subjects.notify_test("ops")))[0]) == 1
    remove = RemoveNotification(name="ops", command_id="r1", at=T0, actor="bob")
    (removed,) = await handler.handle(remove)
    assert isinstance(removed.event, NotificationRemoved) and removed.envelope.actor == "bob"
    with pytest.raises(CommandRejected, match="no notification 'ops'"):
        await handler.handle(RemoveNotification(name="ops", command_id="r2", at=T0, actor="bob"))
