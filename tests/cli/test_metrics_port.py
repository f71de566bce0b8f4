"""A taken --metrics-port (newcomer17b F6): one line at start naming it, and the rest runs;
before, the replica ran without a word and exited 1 with a bare `[Errno 98]` at Ctrl-C."""

from __future__ import annotations

import asyncio
import socket

import pytest
from nats.aio.client import Client

from conftest import free_port
from jetcron.cli import startup
from jetcron.log.stream import EventLog
from jetcron.projections.service import ProjectionService


@pytest.fixture
def taken() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", free_port()))
    sock.listen()
    yield sock  # type: ignore[misc]
    sock.close()


def test_a_taken_metrics_port_is_said_at_start_and_nothing_stops(
    taken: socket.socket, capsys: pytest.CaptureFixture[str]
) -> None:
    port = taken.getsockname()[1]
    assert startup.metrics(port, "127.0.0.1") is None
    assert capsys.readouterr().err == (
        f"metrics not served: cannot listen on 127.0.0.1:{port} (--metrics-port): Address "
        "already in use; the rest runs without them\n"
    )


async def test_a_service_given_a_taken_port_serves_queries_and_says_why(
    nc: Client, event_log: EventLog, taken: socket.socket, caplog: pytest.LogCaptureFixture
) -> None:
    service = ProjectionService(nc, event_log, metrics_port=taken.getsockname()[1])
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(service.run(stop, ready=ready))
    async with asyncio.timeout(10):
        await ready.wait()
    assert service.metrics is None
    assert "metrics not served: cannot listen on 0.0.0.0:" in caplog.text
    stop.set()
    await task
