"""Services reconnect forever with backoff; the CLI fails fast and names the URL."""

from __future__ import annotations

import logging
import socket
from urllib.parse import urlparse

import pytest
from nats.aio.client import Server

from conftest import free_port
from jetcron.connect import RECONNECT_CAP_S, ConnectOptions, _next_server, connect, reconnect_delay
from jetcron.errors import InfrastructureError


def test_reconnect_waits_grow_to_nats_own_two_seconds_with_jitter() -> None:
    assert [reconnect_delay(n, lambda: 0.0) for n in range(6)] == [0, 0.25, 0.5, 1, 2, 2]
    assert reconnect_delay(50, lambda: 1.0) == pytest.approx(RECONNECT_CAP_S + 0.1)


def test_the_least_tried_server_goes_next() -> None:
    servers = [Server(urlparse(f"nats://n{i}:4222")) for i in range(3)]
    servers[0].reconnects, servers[1].reconnects, servers[2].reconnects = 4, 1, 2
    chosen, delay = _next_server(servers, {})
    assert chosen is servers[1] and 0.25 <= delay <= 0.35


async def test_the_cli_fails_fast_naming_the_url(caplog: pytest.LogCaptureFixture) -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    with pytest.raises(InfrastructureError, match=f"cannot connect to NATS at {url}"):
        await connect(ConnectOptions(servers=url), timeout=0.5)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []  # one line, no trace


async def test_a_server_that_accepts_but_never_answers_is_named_as_such() -> None:
    """What the CLI says while nats-server is stopped (SIGSTOP) or hung: not a bare TimeoutError."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        url = f"nats://127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(InfrastructureError) as info:
            await connect(ConnectOptions(servers=url), timeout=0.5)
    [line] = str(info.value).splitlines()
    assert line.startswith(f"cannot connect to NATS at {url}: no answer within 0.5s"), line
    assert "hung, stopped or overloaded server?" in line
