"""Each role against a real secured nats-server: what it may do, and each denial it meets."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from nats.aio.client import Client
from secured import Secured, secured_server

from conftest import require_nats_server
from jetcron import subjects
from jetcron.errors import InfrastructureError
from jetcron.log.api import js_api
from jetcron.log.stream import EventLog


@pytest.fixture
def sec(tmp_path: Path) -> Iterator[Secured]:
    require_nats_server()
    with secured_server(tmp_path) as s:
        yield s


@pytest.fixture
async def admin(sec: Secured) -> AsyncIterator[Client]:
    nc = await sec.client("admin")
    await EventLog(nc).open(create=True)
    yield nc
    await nc.close()


def denied_publish(error: str, subject: str) -> bool:
    """The server's violation names this subject (nats-py lowercases its message)."""
    return f'publish to "{subject.lower()}"' in error.lower()


async def last_seq(admin: Client) -> int:
    return int((await admin.jetstream().stream_info(subjects.STREAM)).state.last_seq)


async def test_no_credentials_are_refused(sec: Secured) -> None:
    with pytest.raises(InfrastructureError, match="Authorization Violation.*--creds"):
        await sec.client(None)


async def test_the_auditor_cannot_send_a_command(sec: Secured, admin: Client) -> None:
    nc = await sec.client("audrey")
    subject = subjects.command("pause")
    error = await sec.violation("audrey", lambda: nc.request(subject, b"{}", timeout=0.3))
    assert denied_publish(error, subject)
    await nc.close()


async def test_an_operator_sends_commands_only_under_its_own_name(
    sec: Secured, admin: Client
) -> None:
    nc = await sec.client("alice")
    for subject in (subjects.command("create"), subjects.command_as("bob", "create")):
        error = await sec.violation("alice", lambda s=subject: nc.request(s, b"{}", timeout=0.3))
        assert denied_publish(error, subject)
    await nc.close()


def test_a_command_subject_names_its_sender() -> None:
    assert subjects.command_sender(subjects.command_as("pi.lab", "pause")) == "pi.lab"
    assert subjects.command_sender(subjects.command("pause")) is None


async def test_the_operator_cannot_append_to_the_log(sec: Secured, admin: Client) -> None:
    nc = await sec.client("alice")
    js = nc.jetstream()
    before = await last_seq(admin)
    for subject in (
        subjects.schedule("x"),
        subjects.trigger("host-a"),
        subjects.run("x", "r1"),
        subjects.fire("x"),
    ):
        error = await sec.violation("alice", lambda s=subject: js.publish(s, b"{}", timeout=0.3))
        assert denied_publish(error, subject)
    assert await last_seq(admin) == before
    await nc.close()


async def test_an_executor_is_refused_everything_of_another_host(
    sec: Secured, admin: Client
) -> None:
    nc = await sec.client("host-a")
    before = await last_seq(admin)
    js = nc.jetstream()
    pool_b = subjects.pool_consumer("host-b")
    steal = js_api("CONSUMER.CREATE", subjects.STREAM, subjects.pool_consumer("host-a"))
    attempts = {
        subjects.command("create"): lambda s: nc.request(s, b"{}", timeout=0.3),
        subjects.schedule("x"): lambda s: js.publish(s, b"{}", timeout=0.3),
        subjects.trigger("host-b"): lambda s: js.publish(s, b"{}", timeout=0.3),
        subjects.heartbeat_key("host-b"): lambda s: js.publish(s, b"{}", timeout=0.3),
        js_api("CONSUMER.MSG.NEXT", subjects.STREAM, pool_b): lambda s: nc.request(
            s, b'{"batch": 1}', timeout=0.3
        ),
        js_api("CONSUMER.INFO", subjects.STREAM, pool_b): lambda s: nc.request(s, b"", timeout=0.3),
        f"{steal}.{subjects.trigger('host-b')}": lambda s: nc.request(s, b"{}", timeout=0.3),
        f"{subjects.inbox_prefix('alice')}.>": lambda s: nc.subscribe(s),
    }
    for subject, attempt in attempts.items():
        error = await sec.violation("host-a", lambda a=attempt, s=subject: a(s))
        assert f'"{subject.lower()}"' in error.lower(), subject
    assert await last_seq(admin) == before
    await nc.close()


async def test_an_executor_may_bind_its_own_consumers_and_heartbeat(
    sec: Secured, admin: Client
) -> None:
    from datetime import UTC, datetime

    from jetcron.executors.consumers import Consumer, bindings, consumer_config

    nc = await sec.client("host-a")
    js = nc.jetstream()
    (binding,) = bindings("host-a", ["host-a"], [])
    config = consumer_config(binding, ack_wait=5, concurrency=1, now=datetime.now(UTC))
    consumer = await Consumer(js, subjects.STREAM, binding, config).open()
    assert await consumer.fetch(1) == []
    await consumer.close()
    assert sec.errors["host-a"] == []
    await nc.close()


async def test_a_reader_reaches_a_live_replica_past_a_frozen_one(sec: Secured) -> None:
    """The hedge of a query (discovery, then one replica's own subject) is within an auditor's
    permissions and a scheduler's (log/replicas.py)."""
    from nats.micro import add_service
    from nats.micro.request import Request
    from nats.micro.service import ServiceConfig

    from jetcron.log.replicas import ask

    async def ignore(msg: object) -> None:
        """A frozen replica's share: taken, never answered."""

    async def answer(req: Request) -> None:
        await req.respond(b'"answered"')

    replica = await sec.client("scheduler")
    await replica.subscribe(subjects.query("runs"), queue=subjects.QUERY_SERVICE, cb=ignore)
    service = await add_service(
        replica, ServiceConfig(name=subjects.QUERY_SERVICE, version="1.0.0", queue_group="own")
    )
    own = service.add_group(name=f"{subjects.REPLICA_QUERIES}.{service.id}")
    await own.add_endpoint(name="runs", handler=answer)
    nc = await sec.client("audrey")
    msg = await ask(nc, "runs", b"{}", "query `runs`", 3.0)
    assert msg.data == b'"answered"'
    await nc.close()
    await replica.close()
