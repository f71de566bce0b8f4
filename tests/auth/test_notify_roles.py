"""Notification changes under roles, against a real secured nats-server and a real command
handler running as the scheduler: the operator sends them, the auditor cannot, no one appends."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest
from nats.aio.client import Client
from secured import Secured, started

from jetcron import subjects
from jetcron.client import send_command
from jetcron.domain.commands import AddNotification, RemoveNotification, SendTestNotification
from jetcron.domain.notifications import Notification, Sink
from jetcron.domain.notify_events import (
    NotificationAdded,
    NotificationRemoved,
    NotificationUpdated,
    NotifyTest,
)
from jetcron.errors import NotPermitted
from jetcron.log.stream import EventLog
from jetcron.scheduler.handler import CommandHandler
from jetcron.service_steps import ensure_buckets


@pytest.fixture
def sec(tmp_path: Path) -> Iterator[Secured]:
    yield from started(tmp_path)


@pytest.fixture
async def scheduler(sec: Secured) -> AsyncIterator[EventLog]:
    """The command path as `serve` runs it, connected as the scheduler; its log for reading."""
    admin = await sec.client("admin")
    await (await EventLog(admin).open(create=True)).close()
    await admin.close()
    nc = await sec.client("scheduler")
    await ensure_buckets(nc)
    event_log = await EventLog(nc).open(create=False)
    await CommandHandler(event_log).subscribe(nc)
    yield event_log
    await event_log.close()
    await nc.close()


def meta(actor: str = "") -> dict[str, object]:
    from jetcron import ids

    return {"name": "ops", "command_id": ids.new_id(), "at": datetime.now(UTC), "actor": actor}


def add(actor: str = "") -> AddNotification:
    n = Notification(name="ops", sink=Sink(subject="ops.alerts"))
    return AddNotification(**meta(actor), notification=n)  # type: ignore[arg-type]


async def test_the_operator_changes_notifications_as_itself(
    sec: Secured, scheduler: EventLog
) -> None:
    nc = await sec.client("alice")
    (added,) = (await send_command(nc, add(actor="mallory"))).events
    (probe,) = (await send_command(nc, SendTestNotification(**meta()))).events  # type: ignore[arg-type]
    (removed,) = (await send_command(nc, RemoveNotification(**meta()))).events  # type: ignore[arg-type]
    await nc.close()
    stored = [
        *(await scheduler.load(subjects.notification("ops")))[0],
        *(await scheduler.load(subjects.notify_test("ops")))[0],
    ]
    assert [type(e.event) for e in stored] == [NotificationAdded, NotificationRemoved, NotifyTest]
    assert [e.seq for e in stored] == [added.seq, removed.seq, probe.seq]
    # the actor is the authenticated sender; the --actor she claimed is only a note
    assert [(e.envelope.actor, e.envelope.on_behalf_of) for e in stored] == [
        ("alice", "mallory"),
        ("alice", None),
        ("alice", None),
    ]
    assert sec.errors["alice"] == []


async def test_the_auditor_cannot_change_or_test_notifications(
    sec: Secured, scheduler: EventLog
) -> None:
    before = await scheduler.last_seq()
    nc = await sec.client("audrey")
    for command in (add(), RemoveNotification(**meta()), SendTestNotification(**meta())):  # type: ignore[arg-type]
        subject = subjects.command_as("audrey", str(command.__struct_config__.tag))
        with pytest.raises(NotPermitted, match=f"may not publish to {subject}"):
            await send_command(nc, command, timeout=0.5)
    assert len([e for e in sec.errors["audrey"] if "permissions violation" in e.lower()]) == 3
    await nc.close()
    assert await scheduler.last_seq() == before


async def test_no_one_but_the_scheduler_appends_notification_events(
    sec: Secured, scheduler: EventLog
) -> None:
    before = await scheduler.last_seq()
    for user in ("alice", "audrey"):
        nc: Client = await sec.client(user)
        js = nc.jetstream()
        for subject in (subjects.notification("ops"), subjects.notify_test("ops")):
            error = await sec.violation(
                user, lambda s=subject, j=js: j.publish(s, b"{}", timeout=0.3)
            )
            assert f'publish to "{subject}"' in error.lower()
        await nc.close()
    assert await scheduler.last_seq() == before


async def test_a_removal_purges_the_webhook_secret_as_the_scheduler(
    sec: Secured, scheduler: EventLog
) -> None:
    from jetcron.client import add_notification
    from jetcron.domain.errors import CommandRejected
    from jetcron.log.secrets import get_hook_secret

    nc = await sec.client("alice")
    hook = Notification(name="ops", sink=Sink(webhook="https://hooks.example/x", secret="s3"))
    (added,) = (await add_notification(nc, AddNotification(**meta(), notification=hook))).events  # type: ignore[arg-type]
    key = added.envelope.event.notification.sink.secret.removeprefix("kv:")  # type: ignore[union-attr]
    again = AddNotification(**meta(), notification=hook)  # type: ignore[arg-type]
    with pytest.raises(CommandRejected, match="exists"):
        await add_notification(nc, again)
    admin = await sec.client("admin")
    refused = await get_hook_secret(admin, f"ops.{again.command_id}")
    before = await get_hook_secret(admin, key)
    await send_command(nc, RemoveNotification(**meta()))  # type: ignore[arg-type]
    after = await get_hook_secret(admin, key)
    await admin.close()
    await nc.close()

    assert (refused, before, after) == (None, "s3", None)
    assert sec.errors["scheduler"] == [] and sec.errors["alice"] == []


def command_sink() -> AddNotification:
    n = Notification(name="ops", sink=Sink(command=["sh", "-c", "cat scheduler.nk"]))
    return AddNotification(**meta(), notification=n)  # type: ignore[arg-type]


async def test_only_the_admin_adds_a_command_sink(sec: Secured, scheduler: EventLog) -> None:
    """A command sink runs as the scheduler's OS user, who can read its identity: an operator
    adding one could become the scheduler (or, under `up --secure`, the admin)."""
    from jetcron.domain.commands import reply_decoder

    before = await scheduler.last_seq()
    alice = await sec.client("alice")
    subject = subjects.command_as("alice", "notify-add-command")
    with pytest.raises(NotPermitted, match=f"may not publish to {subject}"):
        await send_command(alice, command_sink(), timeout=0.5)
    # the same body under a verb she may send is refused by the scheduler
    body = msgspec.json.encode(command_sink())
    sent = await alice.request(subjects.command_as("alice", "notify-add"), body, timeout=3)
    reply = reply_decoder.decode(sent.data)
    assert (reply.ok, reply.error) == (False, "a `notify-add-command` command sent as `notify-add`")
    assert await scheduler.last_seq() == before
    admin = await sec.client("admin")
    (added,) = (await send_command(admin, command_sink())).events
    assert added.envelope.actor == "admin"
    for nc in (alice, admin):
        await nc.close()


async def test_only_the_admin_updates_a_sink_into_a_command_sink(
    sec: Secured, scheduler: EventLog
) -> None:
    """`apply`'s notify-update is an add for permissions when its sink is a command."""
    from jetcron.domain.commands import UpdateNotification, reply_decoder

    alice = await sec.client("alice")
    await send_command(alice, add())
    into = UpdateNotification(**meta(), notification=command_sink().notification)  # type: ignore[arg-type]
    before = await scheduler.last_seq()
    subject = subjects.command_as("alice", "notify-add-command")
    with pytest.raises(NotPermitted, match=f"may not publish to {subject}"):
        await send_command(alice, into, timeout=0.5)
    body = msgspec.json.encode(into)
    sent = await alice.request(subjects.command_as("alice", "notify-update"), body, timeout=3)
    reply = reply_decoder.decode(sent.data)
    assert (reply.ok, reply.error) == (
        False,
        "a `notify-add-command` command sent as `notify-update`",
    )
    assert await scheduler.last_seq() == before
    rules = Notification(name="ops", sink=Sink(subject="ops.alerts"), on=["failure"])
    (updated,) = (
        await send_command(alice, UpdateNotification(**meta(), notification=rules))  # type: ignore[arg-type]
    ).events
    assert (updated.envelope.actor, updated.envelope.event) == (
        "alice",
        NotificationUpdated(name="ops", notification=rules),
    )
    await alice.close()
