"""Shared fixtures: a real nats-server per test, and the chain nats_url -> nc -> js."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import nats
import psutil
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import BadRequestError, ServiceUnavailableError

from jetcron.log.stream import EventLog
from jetcron.server import NatsServer, start_cluster
from jetcron.serverproc import NatsServerNotFound, find_nats_server, free_ports
from polling import until

_FALSY = {"", "0", "false", "no", "off"}

if os.environ.get("PYTEST_XDIST_WORKER"):
    # why: xdist's workers inherit COLUMNS=80/LINES=24 from execnet; the CLI tables would then
    # cut at 80 columns where a serial run (no tty, no COLUMNS) prints them whole
    os.environ.pop("COLUMNS", None)
    os.environ.pop("LINES", None)
_PROBE = "jetcron_placement_probe"


def free_port() -> int:
    """A port that was free a moment ago, for tests that need a fixed one."""
    return free_ports(1)[0]


def alive(pid: int) -> bool:
    """The process runs (a zombie has finished: PID 1 here reaps orphans late)."""
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def freeze(server: NatsServer | int) -> None:
    """SIGSTOP the server (or the process `pid`) and wait until every thread of it is stopped.

    why every thread: the signal lands asynchronously; until the thread that takes it runs (late
    on a loaded host), another one, woken by a PING, still answers it.
    """
    pid = server if isinstance(server, int) else server.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + 10
    while not _stopped(pid):
        assert time.monotonic() < deadline, f"pid {pid} not stopped 10 s after SIGSTOP"
        time.sleep(0.01)


def _stopped(pid: int) -> bool:
    """Whether every thread of `pid` is stopped (state T in /proc/PID/task/*/stat)."""
    states = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue  # why: a thread that exited meanwhile
        states.append(stat[stat.rindex(")") + 2])
    return bool(states) and all(state in "tT" for state in states)


def in_ci() -> bool:
    """True when $CI is set to something truthy."""
    return os.environ.get("CI", "").strip().lower() not in _FALSY


def require_nats_server() -> str:
    """The nats-server binary; a missing one fails the test in CI and skips it elsewhere."""
    try:
        return find_nats_server()
    except NatsServerNotFound as err:
        if in_ci():
            pytest.fail(str(err))
        pytest.skip(str(err))


# --- nats-server -----------------------------------------------------------------------


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A nats-server with JetStream on a random port, its store in tmp_path; stopped after."""
    require_nats_server()
    with NatsServer(data_dir=tmp_path / "nats") as server:
        yield server


@pytest.fixture
def nats_url(nats_server: NatsServer) -> str:
    """The client URL of this test's nats-server."""
    return nats_server.url


@pytest.fixture
def scheduler(nats_url: str) -> Iterator[str]:
    """`nats_url` while a scheduler service runs on it in a thread (tests/cli/served.py), for
    the CLI tests; a module that needs another config defines its own `scheduler`."""
    # why: here, not in tests/cli/conftest.py: a second conftest.py takes the module name
    # `conftest` from this one, and every `from conftest import ...` collected after it breaks
    from served import scheduler_in_thread

    yield from scheduler_in_thread(nats_url)


@pytest.fixture
async def nats_cluster(tmp_path: Path) -> AsyncIterator[list[NatsServer]]:
    """A 3-node JetStream cluster that can already place R3 streams; stopped after."""
    require_nats_server()
    nodes = start_cluster(tmp_path / "cluster", 3)
    try:
        await wait_for_placement([node.url for node in nodes], replicas=3)
        yield nodes
    finally:
        for node in nodes:
            node.stop()


async def wait_for_placement(servers: list[str], replicas: int) -> None:
    """Wait (up to 15 s) until the cluster can place a stream with `replicas` replicas."""
    # why: a fresh metadata leader may not know its peers yet: 10005 "no suitable peers".
    nc = await nats.connect(servers=servers)
    try:
        await until(lambda: _placed(nc.jetstream(), replicas), 15, f"{replicas} replicas placed")
    finally:
        await nc.close()


async def _placed(js: JetStreamContext, replicas: int) -> bool:
    """Try to create and delete a probe stream; True if it could be placed."""
    try:
        await js.add_stream(name=_PROBE, subjects=[f"{_PROBE}.>"], num_replicas=replicas)
    except BadRequestError as err:
        if err.err_code != 10005:
            raise
        return False
    await js.delete_stream(_PROBE)
    return True


# --- clients ---------------------------------------------------------------------------


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Client]:
    """A connected client, drained at the end (closed if the test took the server down)."""
    client = await nats.connect(nats_url, pending_size=64 * 1024 * 1024, max_reconnect_attempts=2)
    yield client
    if client.is_connected:
        await client.drain()
    elif not client.is_closed:
        await client.close()


@pytest.fixture
def js(nc: Client) -> JetStreamContext:
    """A JetStream context on `nc`."""
    return nc.jetstream()


@pytest.fixture
async def event_log(nc: Client) -> AsyncIterator[EventLog]:
    """The jetcron log (stream created) on `nc`, closed at the end."""
    log = await EventLog(nc).open()
    yield log
    await log.close()


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Any]:
    """A real `jetcron up` (tests/test_e2e.py's Up) on a free port, stopped after."""
    from test_e2e import Up

    require_nats_server()
    instance = Up(tmp_path / "jetcron", free_port()).start()
    yield instance
    instance.stop()


async def fill_storage(nc: Client) -> None:
    """Another stream takes what JetStream storage is left (a server with a small max_file_store)."""
    from jetcron.log.errors import STORAGE_FULL

    js = nc.jetstream()
    await js.add_stream(name="FILLER", subjects=["filler"])
    try:
        for _ in range(1000):
            await js.publish("filler", b"x" * 16_384)
    except ServiceUnavailableError as err:
        assert err.err_code == STORAGE_FULL


@contextlib.contextmanager
def small_disk(path: Path, size: str = "8m") -> Iterator[Path]:
    """A tmpfs of `size` mounted at `path` (a disk that really fills), unmounted after.

    Skips where mounting is impossible (not root, no tmpfs): the test needs a real ENOSPC."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs (a disk that really fills) needs root")
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs at {path}: {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill_disk(path: Path) -> Path:
    """Write a file under `path` until its disk says ENOSPC; return it (delete it to free)."""
    filler = path / "FILLER"
    with filler.open("wb") as f:
        try:
            while True:
                f.write(b"\0" * (1 << 20))
                f.flush()
        except OSError as err:
            assert err.errno == errno.ENOSPC, err
    return filler
