"""A frozen executor (SIGSTOP, not killed) never lets two copies of one run overlap (newcomer16b F0).

Two real `jetcron executor` processes share a pool on one host and a real nats-server. The
executor holding a run is SIGSTOPped for longer than its peer needs to take the run over
(redelivery at ack-wait, then the hold-off on its heartbeat), and SIGCONTed once the peer's
attempt started. The job writes START/END witness lines (END also when SIGTERMed) and, on
start, OVERLAP if any process of another attempt of its run is alive.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from test_agent import events, publish, trigger

from conftest import alive
from jetcron.domain.definition import Job
from jetcron.domain.events import RunStarted, RunSucceeded
from jetcron.log.stream import EventLog
from jetcron.projections.attempts import attempts
from polling import until

SRC = Path(__file__).resolve().parents[2] / "src"
ACK_WAIT = 6.0
"""Short, so the test is quick: the supervisor stops a silent executor's job at 0.3 × this."""

JOB = """
import os, signal, sys, time, psutil
path = sys.argv[1]
run, attempt = os.environ["JETCRON_RUN_ID"], os.environ["JETCRON_ATTEMPT"]
me = f"{attempt} {os.environ['JETCRON_EXECUTOR']} {os.getpid()}"

def line(kind):
    with open(path, "a") as f:
        f.write(f"{kind} {me} {time.time():.6f}\\n")

for p in psutil.process_iter():
    try:
        env = p.environ()
        if p.status() != psutil.STATUS_ZOMBIE and env.get("JETCRON_RUN_ID") == run \\
                and env.get("JETCRON_ATTEMPT") != attempt:
            line(f"OVERLAP-with-{p.pid}")
    except psutil.Error:
        pass
signal.signal(signal.SIGTERM, lambda *_: (line("END"), sys.exit(143)))
line("START")
time.sleep((float(sys.argv[2]) if len(sys.argv) > 2 else 30) if attempt == "1" else 1)
line("END")
"""
"""A witness job: START/END lines (and OVERLAP if another attempt of its run lives); attempt 1
runs argv[2] seconds (30 by default), later ones 1 s."""


class Witness:
    """The witness file: (kind, attempt, executor, pid, wall time) per line."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def lines(self) -> list[tuple[str, str, str, int, float]]:
        text = self.path.read_text() if self.path.exists() else ""
        rows = [line.split() for line in text.splitlines()]
        return [(k, a, e, int(p), float(t)) for k, a, e, p, t in rows]

    def one(self, kind: str, attempt: str) -> tuple[str, str, str, int, float]:
        [row] = [r for r in self.lines() if r[0] == kind and r[1] == attempt]
        return row

    def has(self, kind: str, attempt: str) -> bool:
        return any(r[0] == kind and r[1] == attempt for r in self.lines())


@pytest.fixture
def executors(nats_url: str, tmp_path: Path) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    procs: dict[str, subprocess.Popen[bytes]] = {}
    env = {**os.environ, "PYTHONPATH": str(SRC), "JETCRON_LOG_LEVEL": "INFO"}
    for name in ("fz-a", "fz-b"):
        cmd = [sys.executable, "-m", "jetcron", "executor", "--name", name, "--target", "fzpool",
               "--ack-wait", str(ACK_WAIT), "--journal-dir", str(tmp_path / name), "-s", nats_url]  # fmt: skip
        with open(tmp_path / f"{name}.log", "wb") as log:
            procs[name] = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    yield procs
    for proc in procs.values():
        with contextlib.suppress(OSError):
            os.kill(proc.pid, signal.SIGCONT)
        proc.send_signal(signal.SIGTERM)
    for proc in procs.values():
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def stop(pid: int) -> None:
    """SIGSTOP and wait until the process is stopped (the signal lands asynchronously)."""
    os.kill(pid, signal.SIGSTOP)
    for _ in range(100):
        if psutil.Process(pid).status() == psutil.STATUS_STOPPED:
            return
        time.sleep(0.01)
    raise AssertionError(f"{pid} did not stop within 1 s")


async def test_a_frozen_executors_job_is_stopped_before_its_peer_runs_the_next_attempt(
    event_log: EventLog, executors: dict[str, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    witness = Witness(tmp_path / "witness")
    logs = {name: tmp_path / f"{name}.log" for name in executors}
    await until(lambda: all("serving" in p.read_text() for p in logs.values()), 20, "startup")
    t = trigger(Job(command=[sys.executable, "-c", JOB, str(witness.path)]), target="fzpool")
    await publish(event_log, t)
    await until(lambda: witness.has("START", "1"), 20, "attempt 1 started")
    _, _, holder, pid1, _ = witness.one("START", "1")
    [peer] = [name for name in executors if name != holder]
    frozen = executors[holder].pid
    stop(frozen)  # the executor holding the run: its supervisor and its job run on
    froze = time.time()
    try:
        await until(lambda: witness.has("START", "2"), 25, "the peer's attempt 2")
    finally:
        os.kill(frozen, signal.SIGCONT)
    await until(lambda: witness.has("END", "2"), 10, "attempt 2 ended")

    assert not [r for r in witness.lines() if r[0].startswith("OVERLAP")], witness.lines()
    end1, start2 = witness.one("END", "1")[4], witness.one("START", "2")[4]
    assert end1 < start2, "the frozen executor's copy ran beside the next attempt"
    assert end1 - froze < (0.3 + 0.1) * ACK_WAIT + 1.0, "stopped later than the rule allows"
    assert not alive(pid1)
    assert witness.one("START", "2")[2] == peer

    async def settled() -> bool:
        return any(isinstance(e, RunSucceeded) for e in await events(event_log, t))

    await until(settled, 10)
    thawed = logs[holder]
    await until(lambda: "took over" in thawed.read_text(), 10, "the thawed executor's note")
    stored, _ = await event_log.load_run(t.name, t.run_id)
    evs = [s.event for s in stored]
    assert [(type(e).__name__, e.attempt, e.executor) for e in evs] == [
        ("RunStarted", 1, holder), ("RunStarted", 2, peer), ("RunSucceeded", 2, peer),
    ], "no result of the stopped attempt 1: it was let go, like one lost in a crash"  # fmt: skip
    assert isinstance(evs[0], RunStarted)
    fates = [(a.attempt, a.executor, a.fate) for a in attempts(stored)]
    assert fates == [(1, holder, "abandoned"), (2, peer, "succeeded")]
    note = thawed.read_text()
    assert f"attempt 1 of {t.run_id} was stopped (its executor (pid {frozen}) gave no sign" in note
    assert f"attempt 2 took over on {peer}" in note
    assert executors[holder].poll() is None, "the thawed executor serves on"
