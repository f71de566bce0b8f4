"""Request/reply errors say what happened: nobody listening, or no answer in time."""

from __future__ import annotations

import asyncio

import pytest
from nats.aio.client import Client

from jetcron import subjects
from jetcron.errors import NatsUnreachable, NoAnswerInTime, ServiceUnavailable
from jetcron.log.requests import request
from jetcron.server import NatsServer


async def test_nobody_listening_says_start_a_service(nc: Client) -> None:
    with pytest.raises(ServiceUnavailable, match="start one with `jetcron up`"):
        await request(nc, subjects.command("pause"), b"{}", "`pause`", 0.5)


async def test_a_stalled_service_may_have_applied_the_command(nc: Client) -> None:
    # a service that takes the request and never answers (stopped, overloaded)
    await nc.subscribe(subjects.command("*"), queue=subjects.COMMAND_QUEUE, cb=_ignore)
    await nc.subscribe(subjects.query("*"), cb=_ignore)
    with pytest.raises(NoAnswerInTime, match="may still be applied, now or when a stalled"):
        await request(nc, subjects.command("pause"), b"{}", "`pause`", 0.3)
    with pytest.raises(NoAnswerInTime, match="busy or stalled") as err:
        await request(nc, subjects.query("runs"), b"{}", "query `runs`", 0.3)
    assert "start one" not in str(err.value)


async def test_a_lost_connection_says_nats_is_unreachable_at_once(
    nc: Client, nats_server: NatsServer
) -> None:
    nats_server.kill()
    for _ in range(50):
        if nc.is_reconnecting:
            break
        await asyncio.sleep(0.05)
    with pytest.raises(NatsUnreachable, match="NATS is unreachable .* nothing was sent"):
        async with asyncio.timeout(1):  # why: not the 5 s a buffered request would wait
            await request(nc, subjects.query("runs"), b"{}", "query `runs`", 5)


async def _ignore(msg: object) -> None:
    """Take the request, answer nothing."""


def test_a_large_answer_is_packed_and_one_too_large_even_so_is_named() -> None:
    import os

    from nats.aio.msg import Msg

    from jetcron.log.requests import packed, payload_of

    big = b'{"rows":[' + b",".join(b'"row"' for _ in range(100_000)) + b"]}"
    data, headers = packed(big, 1024 * 1024)
    noise = os.urandom(2 * 1024 * 1024)

    assert len(data) < len(big) // 10
    assert payload_of(Msg(None, data=data, headers=headers)) == big  # type: ignore[arg-type]
    assert packed(b"{}", 1024) == (b"{}", {})
    with pytest.raises(ValueError, match="more than NATS carries in one message"):
        packed(noise, 1024 * 1024)


async def test_a_request_between_reconnect_attempts_is_not_buffered(
    nats_server: NatsServer,
) -> None:
    """newcomer21c #5: while nats-py waits for a frozen server's INFO between its reconnect
    attempts it says CONNECTING, not RECONNECTING; a request then was buffered, waited 5 s and
    said "it was sent … may still be applied"."""
    import os
    import signal

    from conftest import freeze
    from jetcron.connect import ConnectOptions, close, connect
    from jetcron.log.replicas import ask

    nc = await connect(ConnectOptions(servers=nats_server.url), persistent=True)
    freeze(nats_server)
    try:
        async with asyncio.timeout(20):
            while not nc.is_connecting:  # the client gave the hung server up and tries again
                await asyncio.sleep(0.01)
        with pytest.raises(NatsUnreachable, match="NATS is unreachable .* nothing was sent"):
            async with asyncio.timeout(0.5):
                await request(nc, subjects.command("pause"), b"{}", "`pause`", 3)
        with pytest.raises(NatsUnreachable, match="nothing was sent"):
            async with asyncio.timeout(0.5):
                await ask(nc, "runs", b"{}", "query `runs`", 5)
    finally:
        assert nats_server.pid is not None
        os.kill(nats_server.pid, signal.SIGCONT)
        await close(nc)
