"""Services reconnect forever with backoff; the CLI fails fast and names the URL."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from nats.aio.client import Server

from conftest import free_port, freeze, require_nats_server
from jetcron.connect import (
    RECONNECT_CAP_S,
    ConnectOptions,
    ServerRotation,
    close,
    connect,
    reconnect_delay,
)
from jetcron.connect.reconnect import _probes
from jetcron.errors import InfrastructureError
from jetcron.log.connection import ConnectionWatch
from jetcron.log.follow import iso
from jetcron.server import NatsServer
from polling import until


def test_reconnect_waits_grow_to_nats_own_two_seconds_with_jitter() -> None:
    assert [reconnect_delay(n, lambda: 0.0) for n in range(6)] == [0, 0.25, 0.5, 1, 2, 2]
    assert reconnect_delay(50, lambda: 1.0) == pytest.approx(RECONNECT_CAP_S + 0.1)


def _pool(n: int) -> list[Server]:
    return [Server(urlparse(f"nats://n{i}:4222")) for i in range(n)]


def test_a_hung_server_is_left_for_the_others_whatever_an_earlier_outage_counted() -> None:
    # newcomer17b #6: after an outage that tried every server, nats-py's counts are 0 for the
    # server connected to and N for the others; least-tried picked the hung one again and again
    now = [100.0]
    rotation = ServerRotation(clock=lambda: now[0])
    servers = _pool(3)
    for _ in range(5):  # a full outage: every server tried in turn
        for _server in servers:
            rotation(servers, {})
            now[0] += 1.0
    rotation.connected("nats://n1:4222")  # back, on n1
    servers[0].reconnects, servers[1].reconnects, servers[2].reconnects = 5, 0, 5
    now[0] += 60.0  # n1 hangs
    first, delay = rotation(servers, {})
    assert first is not None and first.uri.netloc != "n1:4222" and delay == 0.0
    now[0] += 2.0  # that one answers neither (a connect timeout)
    second, delay = rotation(servers, {})
    assert second is not None and {first.uri.netloc, second.uri.netloc} == {"n0:4222", "n2:4222"}
    assert delay == 0.0
    third, delay = rotation(servers, {})
    assert third is not None and third.uri.netloc == "n1:4222", "only then the hung one"


def test_with_every_server_down_each_is_tried_in_turn_with_its_own_backoff() -> None:
    now = [0.0]
    rotation = ServerRotation(clock=lambda: now[0])
    servers = _pool(2)
    picks = []
    for _ in range(6):
        chosen, delay = rotation(servers, {})
        assert chosen is not None
        picks.append((chosen.uri.netloc, delay))
        now[0] += 0.5
    assert [netloc for netloc, _ in picks] == ["n0:4222", "n1:4222"] * 3
    assert picks[0][1] == picks[1][1] == 0.0, "a first try of a server waits for nothing"
    assert 0.25 <= picks[2][1] <= 0.35 and 0.5 <= picks[4][1] <= 0.6


async def test_the_cli_fails_fast_naming_the_url(caplog: pytest.LogCaptureFixture) -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    with pytest.raises(InfrastructureError, match=f"cannot connect to NATS at {url}") as info:
        await connect(ConnectOptions(servers=url), timeout=0.5)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []  # one line, no trace
    # newcomer20b F10: not only `up` runs NATS (a cluster operator's own nats-server)
    assert str(info.value).endswith(
        "Is NATS (or `jetcron up`) running? (or pass --server / set NATS_URL)"
    )


async def test_a_server_that_accepts_but_never_answers_is_named_as_such() -> None:
    """What the CLI says while nats-server is stopped (SIGSTOP) or hung: not a bare TimeoutError."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        url = f"nats://127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(InfrastructureError) as info:
            await connect(ConnectOptions(servers=url), timeout=0.5)
    [line] = str(info.value).splitlines()
    assert line.startswith(f"cannot connect to NATS at {url}: no answer within 0.5s"), line
    assert "hung, stopped or overloaded server?" in line


async def test_an_outage_after_a_reconnect_dates_from_the_last_answer(tmp_path: Path) -> None:
    # newcomer16b F1: after a reconnect the probe waited on a PING the client had dropped, so
    # the next outage dated from that reconnect (27 s) instead of NATS's last answer (~1 s)
    require_nats_server()
    server = NatsServer(data_dir=tmp_path / "nats", port=free_port()).start()
    watch = ConnectionWatch("NATS")
    nc = await connect(ConnectOptions(servers=server.url), persistent=True, watch=watch)
    try:
        await asyncio.sleep(2.5)  # a probe answered
        freeze(server)
        await asyncio.sleep(1.5)  # a probe's PING is in flight...
        server.kill()  # ...when the connection drops
        server.restart()
        await until(lambda: watch.reconnects == 1, what="the first reconnect")
        await asyncio.sleep(6)  # probes on the new connection: a late outage would date from here
        killed = time.time()
        server.kill()
        server.restart()
        await until(lambda: watch.reconnects == 2, what="the second reconnect")
        outage = watch.report()["last_outage"]
        # probes every 2 s with a 1 s timeout, ISO seconds: the last answer is < 3.5 s old
        assert iso(killed - 3.5) <= outage["from"] <= iso(killed), (iso(killed), outage)
        assert outage["seconds"] <= 6, outage
    finally:
        await close(nc)
        server.stop()
    await until(lambda: not _probes, 1, "the probe ends with the connection")


async def test_the_cli_goes_on_to_the_next_server_when_one_hangs(tmp_path: Path) -> None:
    """newcomer17b: with one of three servers frozen, half the CLI commands failed: nats-py gave
    its first pick the whole connect timeout and, without reconnects, never tried another."""
    require_nats_server()
    healthy = NatsServer(data_dir=tmp_path / "a", port=free_port()).start()
    frozen = NatsServer(data_dir=tmp_path / "b", port=free_port()).start()
    try:
        freeze(frozen)
        for order in ([frozen.url, healthy.url], [healthy.url, frozen.url]):
            servers = ",".join(order)
            for _ in range(3):  # why: nats-py's order is random; ours too
                started = time.monotonic()
                nc = await connect(ConnectOptions(servers=servers), timeout=2.0)
                took = time.monotonic() - started
                try:
                    assert nc.connected_url is not None
                    assert nc.connected_url.port == urlparse(healthy.url).port
                finally:
                    await close(nc)
                assert took < 3.0, took  # within the CLI's budget (timeout + 1 s)
    finally:
        frozen.kill()
        healthy.stop()


async def test_the_cli_line_names_each_server_tried_and_what_it_did() -> None:
    refused = f"nats://127.0.0.1:{free_port()}"
    with socket.create_server(("127.0.0.1", 0)) as silent:
        hung = f"nats://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        with pytest.raises(InfrastructureError) as info:
            await connect(ConnectOptions(servers=f"{hung},{refused}"), timeout=2.0)
        took = time.monotonic() - started
    [line] = str(info.value).splitlines()
    assert line.startswith("cannot connect to NATS at any of its 2 servers: "), line
    assert f"{hung}: no answer within 1s (something accepts connections" in line, line
    assert f"{refused}: connection refused (nothing listens there)" in line, line
    assert "jetcron up" not in line and "Are those NATS servers running?" in line, line
    assert took < 3.5, took
