"""The command path against a real nats-server: CAS, retries, idempotency, rejections."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from jetcron import subjects
from jetcron.client import send_command
from jetcron.domain.commands import (
    CreateSchedule,
    DeleteSchedule,
    TriggerSchedule,
    UpdateSchedule,
)
from jetcron.domain.definition import DefinitionPatch, Job, ScheduleDefinition
from jetcron.domain.errors import CommandRejected, ScheduleNotFound
from jetcron.domain.events import RunTriggered, ScheduleCreated, ScheduleUpdated
from jetcron.log.stream import EventLog
from jetcron.scheduler.handler import CommandHandler

T0 = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)


def create(
    name: str, cid: str = "c1", spec: str = "*/5 * * * *", tz: str = "UTC"
) -> CreateSchedule:
    definition = ScheduleDefinition(spec=spec, tz=tz, job=Job(command=["echo", "hi"]))
    return CreateSchedule(name=name, command_id=cid, at=T0, actor="alice", definition=definition)


def update(name: str, cid: str, **patch: object) -> UpdateSchedule:
    return UpdateSchedule(
        name=name, command_id=cid, at=T0, actor="bob", patch=DefinitionPatch(**patch)
    )  # type: ignore[arg-type]


async def test_concurrent_updates_from_two_replicas_are_both_applied_in_order(
    nc, event_log
) -> None:
    a, b = CommandHandler(event_log), CommandHandler(await EventLog(nc).open())
    await a.handle(create("x"))
    results = await asyncio.gather(
        *(
            h.handle(update("x", f"u{i}", description=f"d{i}", tags=[f"t{i}"]))
            for i, h in enumerate([a, b] * 5)
        )
    )
    assert all(len(r) == 1 for r in results)
    history, _ = await event_log.load(subjects.schedule("x"))
    versions = [e.event.version for e in history]  # type: ignore[union-attr]
    assert versions == list(range(1, 12))
    assert sum(isinstance(e.event, ScheduleUpdated) for e in history) == 10


async def test_same_command_id_appends_once(event_log) -> None:
    h = CommandHandler(event_log)
    first = await h.handle(create("once", cid="same"))
    again = await h.handle(create("once", cid="same"))
    assert [e.seq for e in first] == [e.seq for e in again]
    history, _ = await event_log.load(subjects.schedule("once"))
    assert len(history) == 1


async def test_deleted_name_can_be_reused_with_a_new_identity(event_log) -> None:
    h = CommandHandler(event_log)
    [old] = await h.handle(create("reuse", cid="c1"))
    await h.handle(DeleteSchedule(name="reuse", command_id="d1", at=T0, actor="a"))
    [new] = await h.handle(create("reuse", cid="c2"))
    assert isinstance(old.event, ScheduleCreated) and isinstance(new.event, ScheduleCreated)
    assert new.event.schedule_id != old.event.schedule_id and new.event.version == 1


@pytest.mark.parametrize(
    ("command", "error", "match"),
    [
        (create("bad", spec="61 * * * *"), CommandRejected, "minute"),
        (create("bad", tz="Europe/Berln"), CommandRejected, "Europe/Berlin"),
        (create("bad name"), CommandRejected, "invalid schedule name"),
        (update("ghost", "u1", description="x"), ScheduleNotFound, "ghost"),
    ],
    ids=["bad-spec", "bad-tz", "bad-name", "unknown-schedule"],
)
async def test_bad_input_never_appends(event_log, command, error, match) -> None:
    h = CommandHandler(event_log)
    before = await event_log.last_seq()
    with pytest.raises(error, match=match):
        await h.handle(command)
    assert await event_log.last_seq() == before


async def test_commands_over_nats_and_forced_trigger(nc, event_log) -> None:
    h = CommandHandler(event_log)
    sub = await h.subscribe(nc)
    reply = await send_command(nc, create("remote"))
    assert reply.ok and isinstance(reply.events[0].event, ScheduleCreated)
    with pytest.raises(CommandRejected, match="already exists"):
        await send_command(nc, create("remote", cid="other"))
    reply = await send_command(
        nc, TriggerSchedule(name="remote", command_id="t1", at=T0, actor="ops")
    )
    trigger = reply.events[0]
    assert isinstance(trigger.event, RunTriggered) and trigger.event.manual
    assert trigger.subject == subjects.trigger("default")
    await sub.unsubscribe()


async def test_no_service_is_reported_quickly(nc) -> None:
    from jetcron.errors import ServiceUnavailable

    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(ServiceUnavailable, match="jetcron up"):
        await send_command(nc, create("nobody"))
    assert loop.time() - start < 3.5


async def test_a_command_that_fails_unexpectedly_is_answered_not_left_waiting(
    nc, event_log, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jetcron.errors import InfrastructureError
    from jetcron.scheduler import handler

    def overflow(*_: object) -> list[object]:
        raise OverflowError("date value out of range")  # what an @at past 9999 once raised

    monkeypatch.setattr(handler, "decide_on", overflow)
    h = CommandHandler(event_log)
    sub = await h.subscribe(nc)
    loop = asyncio.get_running_loop()
    start, before = loop.time(), await event_log.last_seq()
    with pytest.raises(InfrastructureError, match=r"failed on `create` \(OverflowError: date"):
        await send_command(nc, create("boom"))
    assert loop.time() - start < 2.5, "answered, not timed out"
    assert await event_log.last_seq() == before
    await sub.unsubscribe()
