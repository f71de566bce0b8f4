"""End to end: `jetcron up` as a real process, driven only through the CLI and NATS."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nats
import psutil

from conftest import freeze, require_nats_server
from jetcron.domain.envelope import StoredEvent
from jetcron.domain.events import RunSucceeded, RunTriggered
from jetcron.log.stream import EventLog
from polling import wait_until

SRC = str(Path(__file__).resolve().parents[1] / "src")
ENV = {**os.environ, "PYTHONPATH": SRC, "JETCRON_LOG_LEVEL": "DEBUG"}


class Up:
    """A `jetcron up` process and a CLI pointed at it."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir, self.port = data_dir, port
        self.url = f"nats://127.0.0.1:{port}"
        self.log = data_dir / "up.out"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Up:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "jetcron",
                    "up",
                    "--data-dir",
                    str(self.data_dir),
                    "--port",
                    str(self.port),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=ENV,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.cli("status").returncode == 0:
                return self
            assert self.proc.poll() is None, self.log.read_text()
            time.sleep(0.3)
        self.stop(signal.SIGKILL)  # why: the fixture's teardown never runs for a failed start
        raise AssertionError(f"jetcron up did not come up:\n{self.log.read_text()}")

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "jetcron", *args, "--server", self.url]
            if args[0] not in ("schedule", "runs")
            else [
                sys.executable,
                "-m",
                "jetcron",
                args[0],
                args[1],
                "--server",
                self.url,
                *args[2:],
            ],
            capture_output=True,
            text=True,
            env=ENV,
            timeout=30,
        )

    def nats_server_pid(self) -> int:
        assert self.proc is not None
        [child] = [c for c in psutil.Process(self.proc.pid).children() if "nats-server" in c.name()]
        return child.pid

    def until_logged(self, text: str, within: float) -> float:
        """When (monotonic) `text` first shows in the log, looked for every 20 ms."""
        wait_until(lambda: text in self.log.read_text(), within, self.log.read_text, every=0.02)
        return time.monotonic()

    def stop(self, sig: int = signal.SIGINT) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


async def read_log(url: str) -> list[StoredEvent]:
    nc = await nats.connect(url)
    log = await EventLog(nc).open(create=False)
    out: list[StoredEvent] = []
    async for batch in log.read():
        out += batch
    await log.close()
    await nc.close()
    return out


def test_every_2s_runs_aligned_and_succeeds(up: Up) -> None:
    added = up.cli("schedule", "add", "hello", "@every 2s", "--", "echo", "hi")
    assert added.returncode == 0, added.stderr
    deadline = time.monotonic() + 30  # why polled: two fires and a result, later under load
    while True:
        events = asyncio.run(read_log(up.url))
        triggers = [e for e in events if isinstance(e.event, RunTriggered)]
        succeeded = [e.event for e in events if isinstance(e.event, RunSucceeded)]
        if len(triggers) >= 2 and len(succeeded) >= max(1, len(triggers) - 1):
            break
        assert time.monotonic() < deadline, up.log.read_text()
        time.sleep(0.3)
    for t in triggers:
        fire = t.event.fire_time
        assert fire.second % 2 == 0 and fire.microsecond == 0
        lateness = t.stored_ns / 1e9 - fire.timestamp()
        assert 0 <= lateness < 0.5, lateness
    assert len({t.event.fire_id for t in triggers}) == len(triggers)
    assert all(s.output.stdout == "hi\n" for s in succeeded)
    assert "lateness" in up.log.read_text()  # the ticker reports lateness at debug level

    runs = json.loads(up.cli("runs", "list", "--schedule", "hello", "--json").stdout)
    assert {r["status"] for r in runs} <= {"succeeded", "running", "triggered"}
    assert any(r["status"] == "succeeded" for r in runs)


def test_operator_workflow_and_bad_input(up: Up) -> None:
    assert (
        up.cli(
            "schedule", "add", "nightly", "0 3 * * *", "--tz", "Europe/Berlin", "--", "true"
        ).returncode
        == 0
    )
    again = up.cli("schedule", "add", "nightly", "0 4 * * *", "--", "true")
    assert again.returncode == 2 and "already exists" in again.stderr
    bad = up.cli("schedule", "add", "x", "0 25 * * *", "--", "true")
    assert bad.returncode == 2 and "hour" in bad.stderr
    missing = up.cli("schedule", "pause", "ghost")
    assert missing.returncode == 2 and "not found" in missing.stderr

    assert up.cli("schedule", "pause", "nightly", "--reason", "disk swap").returncode == 0
    shown = json.loads(up.cli("schedule", "show", "nightly", "--json").stdout)
    assert (
        shown["state"] == "paused"
        and shown["paused_reason"] == "disk swap"
        and shown["next_fire"] is None
    )
    assert up.cli("schedule", "resume", "nightly").returncode == 0
    listed = json.loads(up.cli("schedule", "list", "--json").stdout)
    [row] = listed
    assert {"name", "spec", "tz", "state", "version", "target", "command", "next_fire"} <= set(row)
    assert (
        row["state"] == "active"
        and row["version"] == 3
        and row["next_fire"].endswith(("01:00:00Z", "02:00:00Z"))
    )
    assert up.cli("schedule", "delete", "nightly").returncode == 0
    assert json.loads(up.cli("schedule", "list", "--json").stdout) == []
    audit = json.loads(up.cli("audit", "nightly", "--json").stdout)
    assert [a["type"] for a in audit] == [
        "schedule.created",
        "schedule.paused",
        "schedule.resumed",
        "schedule.deleted",
    ]
    assert audit[1]["reason"] == "disk swap"


def test_sigkill_leaves_no_server_and_restart_keeps_the_log(up: Up) -> None:
    assert up.cli("schedule", "add", "keep", "@hourly", "--", "true").returncode == 0
    server_pid = up.nats_server_pid()
    assert up.proc is not None
    up.proc.send_signal(signal.SIGKILL)
    up.proc.wait()
    deadline = time.monotonic() + 5
    while (
        psutil.pid_exists(server_pid)
        and psutil.Process(server_pid).status() != psutil.STATUS_ZOMBIE
    ):
        assert time.monotonic() < deadline, "nats-server outlived a SIGKILLed jetcron up"
        time.sleep(0.1)
    up.start()
    names = [r["name"] for r in json.loads(up.cli("schedule", "list", "--json").stdout)]
    assert names == ["keep"]


def test_up_on_a_taken_port_says_so(tmp_path: Path) -> None:
    require_nats_server()
    from jetcron.server import NatsServer

    with NatsServer(data_dir=tmp_path / "other") as other:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "jetcron",
                "up",
                "--data-dir",
                str(tmp_path / "mine"),
                "--port",
                str(other.port),
            ],
            capture_output=True,
            text=True,
            env=ENV,
            timeout=30,
        )
    assert result.returncode == 2  # why: a taken --port is the user's to change, like bad input
    assert f"port {other.port} is already in use" in result.stderr
    assert not (tmp_path / "mine").exists()  # nothing of the failed attempt is left behind


def test_ctrl_c_against_a_frozen_nats_exits_within_seconds_and_says_what_it_left(up: Up) -> None:
    server = psutil.Process(up.nats_server_pid())
    freeze(server.pid)  # SIGSTOP: the socket stays open, nothing answers
    assert up.proc is not None
    try:
        started = time.monotonic()
        up.proc.send_signal(signal.SIGINT)
        # why until it says so: the interpreter's teardown that follows (~0.3 s of CPU, seconds
        # on a loaded host) is the same whatever NATS does; the exit is waited for below
        took = up.until_logged("jetcron stopped", 30) - started
        up.proc.wait(30)
    finally:
        if server.is_running() and server.status() != psutil.STATUS_ZOMBIE:
            server.resume()
    out = up.log.read_text()

    assert up.proc is not None and up.proc.returncode == 0, out
    assert took < 8, (took, out)  # each step would wait out its own timeout: ~20 s before
    assert "NATS not answering: checkpoints not stored" in out, out
    assert "lease ticker: not released: NATS not answering; left to expire within 5 s" in out, out
    assert "not removed: NATS not answering; it expires within" in out, out
    assert not server.is_running() or server.status() == psutil.STATUS_ZOMBIE
