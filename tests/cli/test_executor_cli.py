"""`jetcron executor` at startup: a missing --work-dir and a name already online are refused
(one line, exit 2); a started executor says who it is, and takes over a crash leftover here."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nats
import pytest
from typer.testing import CliRunner

from jetcron.cli import executing
from jetcron.cli.executing import already_online
from jetcron.cli.main import app
from jetcron.executors.naming import crashed_here
from jetcron.log import heartbeats
from jetcron.log.heartbeats import ExecutorInfo

runner = CliRunner()
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


def _beat(url: str, info: ExecutorInfo) -> None:
    async def main() -> None:
        nc = await nats.connect(url)
        await heartbeats.ensure_bucket(nc)
        await heartbeats.put(nc, info, 30)
        await nc.close()

    asyncio.run(main())


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_a_missing_work_dir_is_refused_before_connecting(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent" / "dir"
    result = runner.invoke(
        app, ["executor", "--work-dir", str(missing), "-s", "nats://127.0.0.1:1"]
    )
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == f"error: --work-dir {missing}: no such directory"

    a_file = tmp_path / "file"
    a_file.write_text("")
    result = runner.invoke(app, ["executor", "--work-dir", str(a_file), "-s", "nats://127.0.0.1:1"])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == f"error: --work-dir {a_file}: not a directory"


def test_a_journal_in_use_is_refused_before_connecting_or_saying_hello(tmp_path: Path) -> None:
    from jetcron.executors.journal import Journal

    held = Journal(tmp_path / "journal").open()
    try:
        result = runner.invoke(
            app, ["executor", "--journal-dir", str(held.root), "-s", "nats://127.0.0.1:1"]
        )
    finally:
        held.close()
    assert result.exit_code == 2, result.output
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: journal {held.root} is in use by another executor (pid ")
    assert result.stdout == ""


def test_a_name_already_online_is_refused_with_who_holds_it(nats_url: str) -> None:
    started = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    _beat(nats_url, ExecutorInfo(name="vm", hostname="otherhost", pid=4242, started_at=started))

    result = runner.invoke(app, ["executor", "--name", "vm", "-s", nats_url])

    assert result.exit_code == 2, result.output
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(
        "error: executor 'vm' is already online on otherhost pid 4242 since 2026-12-02T12:00:00Z"
    ), line
    assert "expires within" in line and "--replace" in line, line


def test_the_refusal_says_how_long_a_crashed_holder_keeps_the_name() -> None:
    now = datetime(2026, 12, 2, 12, 0, 10, tzinfo=UTC)
    info = ExecutorInfo(
        name="vm", hostname="h", pid=7, interval_s=5.0, seen_at=now - timedelta(seconds=4)
    )
    assert already_online(info, "vm", now) == (
        "executor 'vm' is already online on h pid 7 (last heartbeat 4s ago): stop it or choose "
        "another --name; if it crashed, its heartbeat expires within 11s, or pass --replace"
    )


def test_a_heartbeat_older_than_its_ttl_is_not_promised_to_expire() -> None:
    now = datetime(2026, 12, 2, 12, 7, 32, tzinfo=UTC)
    info = ExecutorInfo(name="pi-7", interval_s=5.0, seen_at=now - timedelta(minutes=7, seconds=32))
    line = already_online(info, "pi-7", now)
    assert "expires within" not in line, line
    assert "outlived its 15s TTL" in line and line.endswith("runs there, pass --replace"), line


def test_only_a_gone_pid_on_this_host_is_a_crash_leftover() -> None:
    info = ExecutorInfo(name="vm", hostname="here", pid=7)
    assert crashed_here(info, "here", lambda pid: False)
    assert not crashed_here(info, "here", lambda pid: True)
    # a restarted container: the same host name and pid 1 again, which is now ourselves
    assert crashed_here(info, "here", lambda pid: True, me=info.pid)
    assert not crashed_here(info, "elsewhere", lambda pid: False)
    assert not crashed_here(ExecutorInfo(name="vm"), "", lambda pid: False)


def test_a_started_executor_says_who_it_is_and_takes_over_a_leftover(
    nats_url: str, tmp_path: Path
) -> None:
    leftover = ExecutorInfo(name="pi3", hostname=socket.gethostname(), pid=_dead_pid())
    _beat(nats_url, leftover)
    cmd = [sys.executable, "-m", "jetcron", "executor", "--name", "pi3", "--tags", "gpu",
           "--work-dir", str(tmp_path), "--journal-dir", str(tmp_path / "journal"), "-s", nats_url]  # fmt: skip
    proc = subprocess.Popen(cmd, env=ENV, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        lines = [proc.stderr.readline().strip(), proc.stderr.readline().strip()]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    assert lines == [
        f"executor 'pi3': its last holder (pid {leftover.pid} on this host) is gone; taking over",
        f"executor 'pi3' (targets pi3, default; tags gpu; work dir {os.path.realpath(tmp_path)}) "
        f"on {nats_url}",
    ], lines


def test_replace_starts_over_a_live_heartbeat_and_takes_the_name(
    nats_url: str, tmp_path: Path
) -> None:
    _beat(nats_url, ExecutorInfo(name="vm", hostname="otherhost", pid=4242))
    cmd = [sys.executable, "-m", "jetcron", "executor", "--name", "vm", "--replace",
           "--journal-dir", str(tmp_path / "journal"), "-s", nats_url]  # fmt: skip
    proc = subprocess.Popen(cmd, env=ENV, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        lines = [proc.stderr.readline().strip(), proc.stderr.readline().strip()]
        deadline = time.monotonic() + 15
        while (held := _holder(nats_url)) != socket.gethostname() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    assert lines == [
        "executor 'vm': replacing the one on otherhost pid 4242 (--replace); "
        "it stops at its next heartbeat",
        f"executor 'vm' (targets vm, default) on {nats_url}",
    ], lines
    assert held == socket.gethostname()


def _holder(url: str, name: str = "vm") -> str | None:
    async def main() -> str | None:
        nc = await nats.connect(url)
        try:
            info = await heartbeats.get(nc, name)
            return info.hostname if info else None
        finally:
            await nc.close()

    return asyncio.run(main())


def test_up_refuses_when_its_executors_name_is_held_and_says_how_to_go_on(
    nats_url: str, tmp_path: Path
) -> None:
    host = socket.gethostname()
    _beat(nats_url, ExecutorInfo(name=host, hostname="otherhost", pid=4242))
    cmd = [sys.executable, "-m", "jetcron", "up", "-s", nats_url, "--http-port", "0",
           "--data-dir", str(tmp_path / "data")]  # fmt: skip
    done = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=60)

    assert done.returncode == 2, done.stderr
    [line] = [x for x in done.stderr.splitlines() if x.startswith("error:")]
    assert line.startswith(f"error: executor {host!r} is already online on otherhost pid 4242 ("), (
        line
    )
    assert re.search(
        r": stop it, or start `jetcron up --no-executor`; if it crashed, its heartbeat expires "
        r"within \d+s$",  # why: the beat ages while a loaded machine starts up
        line,
    ), line
    assert "jetcron is up" not in done.stderr, done.stderr
    assert _holder(nats_url, host) == "otherhost"  # nothing written under the name


def test_up_without_its_executor_starts_beside_a_held_name(nats_url: str, tmp_path: Path) -> None:
    host = socket.gethostname()
    _beat(nats_url, ExecutorInfo(name=host, hostname="otherhost", pid=4242))
    cmd = [sys.executable, "-m", "jetcron", "up", "-s", nats_url, "--http-port", "0",
           "--no-executor", "--data-dir", str(tmp_path / "data")]  # fmt: skip
    proc = subprocess.Popen(cmd, env=ENV, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        lines: list[str] = []
        while not lines or "jetcron is up" not in lines[-1] and lines[-1]:
            lines.append(proc.stderr.readline())  # why: "" once it exited
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        assert proc.stderr is not None
        proc.stderr.close()
    assert any("jetcron is up" in x for x in lines), lines


def test_two_executors_started_at_once_under_one_name_one_runs(
    nats_url: str, tmp_path: Path
) -> None:
    def start(i: int) -> subprocess.Popen[str]:
        cmd = [sys.executable, "-m", "jetcron", "executor", "--name", "twin",
               "--journal-dir", str(tmp_path / f"journal{i}"), "-s", nats_url]  # fmt: skip
        return subprocess.Popen(cmd, env=ENV, stderr=subprocess.PIPE, text=True)

    procs = [start(0), start(1)]
    try:
        deadline = time.monotonic() + 30
        while all(p.poll() is None for p in procs) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)  # why: had both been let in, the second would still be running now
        codes = [p.poll() for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
            p.wait(20)
    assert sorted(codes, key=str) == [2, None], codes
    [loser] = [p for p, code in zip(procs, codes, strict=True) if code == 2]
    [winner] = [p for p in procs if p is not loser]
    assert loser.stderr is not None and winner.stderr is not None
    [line] = loser.stderr.read().strip().splitlines()
    winner.stderr.close()
    loser.stderr.close()
    here = socket.gethostname()
    assert line.startswith(
        f"error: executor 'twin' is already online on {here} pid {winner.pid} since "
    ), line


def test_up_refuses_a_name_taken_between_its_check_and_its_executors_start(
    nats_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def taken_after_the_check(nc: nats.NATS, config: object) -> None:
        await heartbeats.ensure_bucket(nc)
        await heartbeats.put(nc, ExecutorInfo(name=host, hostname="otherhost", pid=4242), 30)

    host = socket.gethostname()
    monkeypatch.setattr(executing, "check_name", taken_after_the_check)
    args = ["up", "-s", nats_url, "--http-port", "0", "--data-dir", str(tmp_path / "data")]
    result = runner.invoke(app, args)

    assert result.exit_code == 2, result.output
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: executor {host!r} is already online on otherhost pid 4242 ")
    assert _holder(nats_url, host) == "otherhost"
