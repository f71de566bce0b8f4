"""`jetcron fires NAME --follow` against a live scheduler service (no executor: runs stay
triggered): the window, then a line per new fire as its fate lands; Ctrl-C exits 0."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import nats
from served import ok, scheduler_in_thread

from jetcron import subjects
from jetcron.server import NatsServer

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _follow(url: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "jetcron", "fires", "tick", "--follow", "--server", url, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": SRC},
    )


def _lines(proc: subprocess.Popen[str], n: int) -> list[str]:
    """The first n lines of its stdout; killed (and the test failing) after 20 s."""
    guard = threading.Timer(20, proc.kill)
    guard.start()
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(n)]
    finally:
        guard.cancel()
    assert all(lines), f"the follower stopped early: {lines} {proc.stderr and proc.stderr.read()}"
    return lines


def _stop(proc: subprocess.Popen[str]) -> str:
    """Ctrl-C once it follows; its stderr. The lines read may all come from the window
    (printed before it follows, more of them when a loaded machine starts it slowly)."""
    banner = _following(proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    return banner + err


def _following(proc: subprocess.Popen[str]) -> str:
    """Its stderr up to the line saying it follows (killed after 20 s without it)."""
    return _stderr_until(proc, "(Ctrl-C stops)")


def _stderr_until(proc: subprocess.Popen[str], needle: str) -> str:
    """Its stderr up to a line with `needle` (killed, and the test failing, after 20 s)."""
    guard = threading.Timer(20, proc.kill)
    guard.start()
    try:
        assert proc.stderr is not None
        seen = ""
        while needle not in seen and (line := proc.stderr.readline()):
            seen += line
    finally:
        guard.cancel()
    assert needle in seen, seen
    return seen


def test_follow_prints_new_fires_as_they_land_and_ctrl_c_exits_0(scheduler: str) -> None:
    ok(scheduler, "schedule", "add", "tick", "@every 1s", "--overlap", "allow", "--", "true")
    time.sleep(1.5)
    started = datetime.now(UTC)
    proc = _follow(scheduler, "--json")
    try:
        rows = [json.loads(line) for line in _lines(proc, 4)]
    finally:
        err = _stop(proc)
    assert "following the fires of tick (Ctrl-C stops)" in err
    assert "Traceback" not in err and "Aborted" not in err
    times = [r["utc"] for r in rows]
    assert times == sorted(times) and len(set(times)) == 4, rows  # why: each fire once, in order
    assert {r["fate"] for r in rows} == {"triggered"} and all(r["run_id"] for r in rows)
    assert max(times) > started.strftime("%Y-%m-%dT%H:%M:%SZ"), rows  # fires that landed later

    text = _follow(scheduler, "--since", datetime.now(UTC).isoformat())
    try:
        lines = _lines(text, 2)
    finally:
        _stop(text)
    for line in lines:
        assert " triggered " in line and "not started yet" in line, lines


def test_follow_refuses_until() -> None:
    proc = _follow("nats://127.0.0.1:1", "--until", "2026-01-01T00:00:00Z")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "--until goes without --follow" in err


def test_ctrl_c_before_it_follows_exits_0_too() -> None:
    """Ctrl-C while connecting (here: to something that accepts and never speaks NATS).

    Before: a Ctrl-C racing nats-py's 2 s connect timeout could end in a traceback or a death
    by SIGINT. Now it exits 0 if it lands first; if the timeout won (a loaded machine delivered
    it late), the one error line stands, exit 1; never anything else.
    """
    with socket.create_server(("127.0.0.1", 0)) as silent:
        proc = _follow(f"nats://127.0.0.1:{silent.getsockname()[1]}")
        silent.settimeout(20)
        conn, _ = silent.accept()  # why: now it waits for the server's INFO
        with conn:
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=15)
    timed_out = "no answer within 2s" in err
    assert (proc.returncode, err.count("\n")) == ((1, 1) if timed_out else (0, 0)), err
    assert "Traceback" not in err and "Exception ignored" not in err


async def test_ctrl_c_while_the_window_is_asked_for_exits_0(nats_url: str) -> None:
    """Ctrl-C once connected, while the query service has the window's question and says
    nothing (a stalled service): exit 0 at once, not after the query's timeout."""
    asked: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    nc = await nats.connect(nats_url)

    async def stalled(msg: object) -> None:
        if not asked.done():
            asked.set_result(None)

    await nc.subscribe(subjects.query("fires"), cb=stalled)
    proc = _follow(nats_url)
    try:
        await asyncio.wait_for(asked, 20)
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = await asyncio.to_thread(proc.communicate, timeout=15)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
        await nc.close()
    assert (proc.returncode, err) == (0, "")
    assert took < 4  # why: the query would wait 5 s for its answer


def test_follow_rides_out_a_nats_outage(nats_server: NatsServer) -> None:
    url = nats_server.url
    for _ in scheduler_in_thread(url):
        ok(url, "schedule", "add", "tick", "@every 1s", "--overlap", "allow", "--", "true")
        proc = _follow(url, "--since", datetime.now(UTC).isoformat())
        try:
            _following(proc)
            nats_server.stop()
            _stderr_until(proc, "still following (Ctrl-C stops)")
            nats_server.restart()
            _stderr_until(proc, "answered again (unanswered since ")
            _lines(proc, 1)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=15)
        assert proc.returncode == 0


def test_runs_follow_rides_out_a_nats_outage(nats_server: NatsServer) -> None:
    """Before: its fail-fast connection closed with the server and it waited on nothing, silently."""
    url = nats_server.url
    for _ in scheduler_in_thread(url):
        ok(url, "schedule", "add", "tick", "@every 1s", "--overlap", "allow", "--", "true")
        proc = subprocess.Popen(
            [sys.executable, "-m", "jetcron", "runs", "follow", "--server", url, "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": SRC},
        )
        try:
            _stderr_until(proc, "following all schedules (Ctrl-C stops)")
            nats_server.stop()
            _stderr_until(proc, "unreachable since")
            nats_server.restart()
            back = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
            for _ in range(20):  # events stored after the restart still come
                [line] = _lines(proc, 1)
                if json.loads(line)["at"] >= back:
                    break
            else:
                raise AssertionError("no event after the restart")
        finally:
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=15)
        assert proc.returncode == 130 and "Traceback" not in err, err  # its Ctrl-C: 130
