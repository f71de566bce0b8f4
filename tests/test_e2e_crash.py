"""kill -9 of `jetcron up` with a job running: after a restart the job is adopted, not run twice."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nats
import psutil

from conftest import alive, free_port, require_nats_server
from jetcron.domain.events import RunStarted, RunSucceeded, RunTriggered
from jetcron.log import heartbeats
from polling import wait_until
from test_e2e import ENV, Up, read_log


def _now_minus(seconds: float) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds)


def started_job(up: Up, name: str, script: str, witness: Path) -> int:
    """Add an hourly schedule running `script`, trigger it, wait until the job wrote its pid."""
    added = up.cli("schedule", "add", name, "@every 1h", "--", "sh", "-c", script)
    assert added.returncode == 0, added.stderr
    assert up.cli("schedule", "trigger", name).returncode == 0
    deadline = time.monotonic() + 20
    while not (witness.exists() and witness.read_text().strip()):
        assert time.monotonic() < deadline, up.log.read_text()
        time.sleep(0.1)
    return int(witness.read_text().split()[0])


def test_kill_9_of_up_with_a_job_running_keeps_one_copy_and_records_its_fate(
    up: Up, tmp_path: Path
) -> None:
    witness = tmp_path / "witness"
    script = f"echo $$ >> {witness}; sleep 4; echo end >> {witness}"
    pid = started_job(up, "long", script, witness)

    assert up.proc is not None
    up.proc.kill()  # SIGKILL: the executor, the scheduler and (with them) nats-server die
    up.proc.wait()
    assert alive(pid), "the job runs on under its supervisor, waiting to be adopted"
    up.start()

    deadline = time.monotonic() + 30
    while True:
        events = [e.event for e in asyncio.run(read_log(up.url))]
        if any(isinstance(e, RunSucceeded) for e in events):
            break
        assert time.monotonic() < deadline, up.log.read_text()
        time.sleep(0.5)
    assert witness.read_text().split() == [str(pid), "end"]
    assert sum(isinstance(e, RunStarted) for e in events) == 1
    assert sum(isinstance(e, RunSucceeded) for e in events) == 1
    assert not alive(pid)


def test_ctrl_c_waits_for_a_running_job_and_a_second_ctrl_c_stops_it_now(
    up: Up, tmp_path: Path
) -> None:
    import signal

    witness = tmp_path / "witness"
    script = f"echo $$ >> {witness}; sleep 60"
    pid = started_job(up, "slow", script, witness)
    assert up.proc is not None
    up.proc.send_signal(signal.SIGINT)
    time.sleep(1.5)
    assert up.proc.poll() is None, "the first Ctrl-C lets running jobs finish"
    assert "Ctrl-C again" in up.log.read_text()
    up.proc.send_signal(signal.SIGINT)
    up.proc.wait(15)
    assert not alive(pid)


def test_up_starts_its_own_server_even_with_nats_url_exported(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    from test_e2e import ENV

    require_nats_server()
    port = free_port()
    env = {**ENV, "NATS_URL": "nats://127.0.0.1:1"}  # exported for the other commands
    cmd = [sys.executable, "-m", "jetcron", "up", "--data-dir", str(tmp_path), "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            status = subprocess.run(
                [sys.executable, "-m", "jetcron", "status", "-s", f"nats://127.0.0.1:{port}"],
                env=ENV, capture_output=True, text=True, timeout=20,
            )  # fmt: skip
            if status.returncode == 0:
                break
            assert time.monotonic() < deadline, status.stderr
            time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(20)


def test_up_restarts_its_nats_server_when_it_dies_and_keeps_every_run(up: Up) -> None:
    added = up.cli("schedule", "add", "tick", "@every 1s", "--", "true")
    assert added.returncode == 0, added.stderr
    server = up.nats_server_pid()
    time.sleep(2)

    psutil.Process(server).kill()  # the OOM killer, a stray kill -9

    deadline = time.monotonic() + 30
    while "nats-server is back on" not in up.log.read_text():
        assert time.monotonic() < deadline, up.log.read_text()
        time.sleep(0.2)
    assert (
        f"nats-server exited (killed by SIGKILL); restarting it on {up.url}" in up.log.read_text()
    )
    assert up.nats_server_pid() != server
    back = _now_minus(0)
    # why: the services reconnect and the ticker fires again, as soon as each sees NATS back
    deadline = time.monotonic() + 30
    while True:
        events = [e.envelope for e in asyncio.run(read_log(up.url))]
        if any(isinstance(e.event, RunSucceeded) and e.at > back for e in events):
            break
        assert time.monotonic() < deadline, up.log.read_text()
        time.sleep(0.5)
    listed = up.cli("runs", "list", "--schedule", "tick", "--json")
    assert listed.returncode == 0, listed.stderr
    fires = [e.event.fire_time for e in events if isinstance(e.event, RunTriggered)]
    assert len(fires) == len(set(fires)), "no fire triggered twice"


def _holder_pid(url: str, name: str) -> int | None:
    async def main() -> int | None:
        nc = await nats.connect(url)
        try:
            info = await heartbeats.get(nc, name)
            return info.pid if info else None
        finally:
            await nc.close()

    return asyncio.run(main())


def _until_held_by(up: Up, pid: int) -> None:
    wait_until(lambda: _holder_pid(up.url, socket.gethostname()) == pid, 20, up.log.read_text)


def test_up_restarted_right_after_kill_9_takes_over_its_own_executors_name(up: Up) -> None:
    assert up.proc is not None
    before = up.proc.pid
    _until_held_by(up, before)

    up.proc.kill()  # SIGKILL: its heartbeat stays in the store until its TTL (15 s)
    up.proc.wait()
    killed = time.monotonic()
    up.start()

    assert up.proc.pid != before
    _until_held_by(up, up.proc.pid)  # at once, not after the 15 s TTL
    host = socket.gethostname()
    note = f"executor {host!r}: its last holder (pid {before} on this host) is gone; taking over"
    # why: a restart slower than the TTL (a loaded machine) finds the name free, and says nothing
    if time.monotonic() - killed < 14:
        wait_until(lambda: note in up.log.read_text(), 5, up.log.read_text)


def test_up_goes_on_without_its_executor_when_its_name_is_replaced(up: Up, tmp_path: Path) -> None:
    assert up.proc is not None
    _until_held_by(up, up.proc.pid)
    host = socket.gethostname()
    cmd = [sys.executable, "-m", "jetcron", "executor", "--name", host, "--replace",
           "--journal-dir", str(tmp_path / "journal"), "-s", up.url]  # fmt: skip
    other = subprocess.Popen(cmd, env=ENV, stderr=subprocess.DEVNULL)
    try:
        _until_held_by(up, other.pid)
        deadline = time.monotonic() + 20
        while "`up` goes on without its executor" not in up.log.read_text():
            assert time.monotonic() < deadline, up.log.read_text()
            time.sleep(0.2)
        # why: that line comes once up's executor has stopped: its heartbeat loop is over
        assert _holder_pid(up.url, host) == other.pid
        assert up.proc.poll() is None and up.cli("status").returncode == 0
    finally:
        other.send_signal(signal.SIGTERM)
        other.wait(20)
