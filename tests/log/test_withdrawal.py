"""One KV create decides who settles a command nobody answered in time (log/withdrawal.py),
against a real nats-server: the replica that applies it, or the sender that withdraws it."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg

from jetcron import subjects
from jetcron.client import send_command
from jetcron.domain.commands import CommandReply, CreateSchedule
from jetcron.domain.definition import Job, ScheduleDefinition
from jetcron.errors import CommandWithdrawn, NatsUnreachable, NoAnswerInTime
from jetcron.log import withdrawal
from jetcron.log.stream import EventLog
from jetcron.scheduler.handler import CommandHandler
from jetcron.server import NatsServer


async def test_the_first_create_wins_and_the_other_side_sees_it(nc: Client) -> None:
    await withdrawal.ensure_bucket(nc)
    await withdrawal.ensure_bucket(nc)  # why: idempotent, as every replica calls it

    assert await withdrawal.take(nc, "ann", "c1", withdrawal.WITHDRAWN) is True
    assert await withdrawal.take(nc, "ann", "c1", withdrawal.APPLYING) is False
    assert await withdrawal.withdrawn(nc, "ann", "c1")
    assert await withdrawal.take(nc, None, "c2", withdrawal.APPLYING) is True
    assert await withdrawal.take(nc, None, "c2", withdrawal.WITHDRAWN) is False
    assert not await withdrawal.withdrawn(nc, None, "c2")
    # why: the id is the sender's text; a wildcard in it must not reach a subject
    assert "*" not in withdrawal.key("bob", "a.*.>") and ">" not in withdrawal.key("bob", "a.>")


async def test_without_the_bucket_nobody_can_tell(nc: Client) -> None:
    assert await withdrawal.take(nc, "ann", "c1", withdrawal.WITHDRAWN) is None
    assert not await withdrawal.withdrawn(nc, "ann", "c1")


@pytest.fixture
async def slow_replica(nc: Client, event_log: EventLog) -> AsyncIterator[list[CommandReply]]:
    """A scheduler replica that takes 1.5 s to get to each command (a frozen one, thawing)."""
    await withdrawal.ensure_bucket(nc)
    handler, replies = CommandHandler(event_log), []

    async def late(msg: Msg) -> None:
        await asyncio.sleep(1.5)
        replies.append(await handler._reply_for(msg.data, subjects.command_sender(msg.subject)))

    sub = await nc.subscribe(subjects.command(">"), queue=subjects.COMMAND_QUEUE, cb=late)
    yield replies
    await sub.unsubscribe()


def _create(name: str) -> CreateSchedule:
    definition = ScheduleDefinition(spec="@daily", job=Job(command=["true"]))
    return CreateSchedule(
        name=name, command_id=f"id-{name}", at=datetime.now(UTC), actor="ann",
        definition=definition,
    )  # fmt: skip


async def test_a_command_its_sender_gave_up_on_is_withdrawn_and_never_applied(
    nc: Client, event_log: EventLog, slow_replica: list[CommandReply]
) -> None:
    with pytest.raises(CommandWithdrawn, match="withdrawn: no scheduler replica had begun it"):
        await send_command(nc, _create("late"), timeout=0.5)
    # why polled: the replica gets to it 1.5 s after it came, and answers later under load
    deadline = asyncio.get_running_loop().time() + 15
    while not slow_replica:
        assert asyncio.get_running_loop().time() < deadline, "the replica never got to it"
        await asyncio.sleep(0.05)

    [reply] = slow_replica
    assert (reply.ok, reply.code) == (False, "withdrawn")
    assert await event_log.last_seq() == 0  # nothing appended


async def test_a_sender_that_gives_up_after_a_replica_began_is_told_so(nc: Client) -> None:
    await withdrawal.ensure_bucket(nc)

    async def begun(msg: Msg) -> None:  # why: it takes the command, then stalls before replying
        await withdrawal.take(nc, None, "id-busy", withdrawal.APPLYING)
        await asyncio.sleep(1.0)
        await msg.respond(b"")

    sub = await nc.subscribe(subjects.command(">"), queue=subjects.COMMAND_QUEUE, cb=begun)
    try:
        with pytest.raises(NoAnswerInTime, match="a scheduler replica has begun applying it"):
            await send_command(nc, _create("busy"), timeout=0.3)
    finally:
        await sub.unsubscribe()


async def test_a_command_sent_into_a_stalled_nats_names_nats_not_a_replica(
    nc: Client, nats_server: NatsServer
) -> None:
    """newcomer19b F7: during a NATS freeze a command read "… when a stalled scheduler replica
    resumes"; NATS was the one stalled, and the withdrawal needs NATS too."""
    from conftest import freeze

    await withdrawal.ensure_bucket(nc)
    freeze(nats_server)
    try:
        with pytest.raises(NatsUnreachable) as raised:
            await send_command(nc, _create("frozen"), timeout=0.5)
    finally:
        assert nats_server.pid is not None
        os.kill(nats_server.pid, signal.SIGCONT)
    said = str(raised.value)
    assert said.startswith("no answer to `create`: NATS is unreachable"), said
    assert "it could not be withdrawn: it may still be applied once NATS is back" in said
    assert "scheduler replica" not in said
