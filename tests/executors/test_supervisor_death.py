"""A job's supervisor SIGKILLed under a live executor: nothing of the job runs on.

A real executor (in this process, or a subprocess that is SIGKILLed too) runs a real job tree (a leader, a child in its group, a daemon that left it
with setsid); the test SIGKILLs the job's supervisor. Every process of the job ticks into a
witness file with its attempt and wall time, and a new attempt first looks for any live
process of an earlier attempt of its run (by the JETCRON_* variables) and writes OVERLAP.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
from nats.aio.client import Client
from test_agent import config, kinds, publish, trigger
from test_crash import Victim, _has

from conftest import alive
from jetcron.domain.definition import Job, RetryPolicy
from jetcron.domain.events import RunFailed, RunTriggered
from jetcron.executors.agent import Executor
from jetcron.log.stream import EventLog
from polling import until

JOB = """
import os, sys, time, psutil
path = sys.argv[1]
run, attempt = os.environ["JETCRON_RUN_ID"], os.environ["JETCRON_ATTEMPT"]
seconds = float(sys.argv[2]) if attempt == "1" else 0.3
fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
for p in psutil.process_iter():
    try:
        env = p.environ()
        if p.status() != psutil.STATUS_ZOMBIE and env.get("JETCRON_RUN_ID") == run \\
                and env.get("JETCRON_ATTEMPT") != attempt:
            os.write(fd, f"OVERLAP {p.pid}\\n".encode())
    except psutil.Error:
        pass
if os.fork() == 0:
    os.setsid(); role = "daemon"
elif os.fork() == 0:
    role = "child"
else:
    role = "leader"
end = time.time() + seconds
while True:
    now = time.time()
    os.write(fd, f"{attempt} {role} {os.getpid()} {now:.6f}\\n".encode())
    if now >= end:
        break
    time.sleep(0.05)
"""


def tree(witness: Path, seconds: float) -> Job:
    """Attempt 1 runs `seconds`, later attempts 0.3 s."""
    return Job(command=[sys.executable, "-c", JOB, str(witness), str(seconds)])


def ticks(witness: Path) -> dict[str, list[tuple[int, float]]]:
    """attempt -> (pid, wall time) of every tick; OVERLAP lines under "OVERLAP"."""
    by: dict[str, list[tuple[int, float]]] = {}
    text = witness.read_text() if witness.exists() else ""
    for line in text.splitlines():
        words = line.split()
        if words[0] == "OVERLAP":
            by.setdefault("OVERLAP", []).append((int(words[1]), 0.0))
        else:
            by.setdefault(words[0], []).append((int(words[2]), float(words[3])))
    return by


def pids(witness: Path, attempt: str) -> set[int]:
    return {pid for pid, _ in ticks(witness).get(attempt, [])}


def span(witness: Path, attempt: str) -> tuple[float, float]:
    times = [at for _, at in ticks(witness)[attempt]]
    return min(times), max(times)


async def kill_supervisor(journal: Path, t: RunTriggered, witness: Path) -> set[int]:
    """Once attempt 1's three processes tick: SIGKILL its supervisor; their pids."""
    await until(lambda: len(pids(witness, "1")) == 3, 20)
    info = msgspec.json.decode((journal / t.run_id / "job.json").read_bytes())
    os.kill(info["supervisor"][0], signal.SIGKILL)
    return pids(witness, "1")


async def test_the_retry_starts_only_once_the_killed_supervisors_job_is_gone(
    nc: Client, event_log: EventLog, tmp_path: Path
) -> None:
    witness, journal = tmp_path / "witness", tmp_path / "journal"
    retry = RetryPolicy(max_attempts=2, initial_backoff_s=0.2)
    t = trigger(tree(witness, 4), target="kpool", retry=retry)
    executor = Executor(nc, config("solo", targets=["kpool"], journal_dir=str(journal)))
    task = asyncio.create_task(executor.run(stop := asyncio.Event()))
    try:
        await publish(event_log, t)
        first = await kill_supervisor(journal, t, witness)
        await until(lambda: _has(event_log, t, "RunSucceeded"), 30)
    finally:
        stop.set()
        await task
    assert "OVERLAP" not in ticks(witness), "attempt 2 started while attempt 1 still ran"
    assert span(witness, "1")[1] < span(witness, "2")[0], "the attempts' lives overlap"
    assert not any(alive(pid) for pid in first)
    stored, _ = await event_log.load_run(t.name, t.run_id)
    assert kinds([s.event for s in stored]) == [
        "RunStarted", "RunFailed", "RunStarted", "RunSucceeded",
    ]  # fmt: skip


async def test_without_retries_the_failure_is_recorded_after_the_job_is_gone(
    nc: Client, event_log: EventLog, tmp_path: Path
) -> None:
    witness, journal = tmp_path / "witness", tmp_path / "journal"
    t = trigger(tree(witness, 4), target="kpool")
    executor = Executor(nc, config("solo", targets=["kpool"], journal_dir=str(journal)))
    task = asyncio.create_task(executor.run(stop := asyncio.Event()))
    try:
        await publish(event_log, t)
        first = await kill_supervisor(journal, t, witness)
        await until(lambda: _has(event_log, t, "RunFailed"), 20)
        assert not any(alive(pid) for pid in first), "recorded failed while its job runs on"
    finally:
        stop.set()
        await task
    stored, _ = await event_log.load_run(t.name, t.run_id)
    [failed] = [s for s in stored if isinstance(s.event, RunFailed)]
    assert isinstance(failed.event, RunFailed) and failed.event.next_retry_at is None
    assert "supervisor died" in failed.event.error
    assert failed.envelope.at.timestamp() > span(witness, "1")[1]
    assert not (journal / t.run_id).exists()


@pytest.fixture
async def victim(nats_url: str, tmp_path: Path) -> AsyncIterator[Victim]:
    v = Victim(nats_url, tmp_path / "journal", ack_wait=3.0)
    yield v
    await v.stop()


def owner_pid(journal: Path, t: RunTriggered) -> int:
    try:
        return int((journal / t.run_id / "owner").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


@pytest.mark.parametrize("when", ["with-its-executor", "after-adoption"])
async def test_a_restarted_executor_ends_a_dead_supervisors_job_before_it_runs_again(
    event_log: EventLog, tmp_path: Path, victim: Victim, when: str
) -> None:
    witness, journal = tmp_path / "witness", tmp_path / "journal"
    t = trigger(tree(witness, 20), target="kpool")
    await victim.start()
    await victim.prepare()  # why: the restart adopts within orphan_after of the kill (see Victim)
    await publish(event_log, t)
    await until(lambda: len(pids(witness, "1")) == 3, 20)
    await victim.kill()
    if when == "with-its-executor":
        first = await kill_supervisor(journal, t, witness)  # why: the job now runs under PID 1
        await victim.start()
    else:
        await victim.start()
        assert victim.proc is not None
        pid = victim.proc.pid
        await until(lambda: owner_pid(journal, t) == pid, 20)  # why: adopted
        first = await kill_supervisor(journal, t, witness)
    await until(lambda: _has(event_log, t, "RunSucceeded"), 30)
    assert "OVERLAP" not in ticks(witness), "attempt 2 started while attempt 1 still ran"
    assert span(witness, "1")[1] < span(witness, "2")[0], "the attempts' lives overlap"
    assert not any(alive(pid) for pid in first)
    stored, _ = await event_log.load_run(t.name, t.run_id)
    assert kinds([s.event for s in stored]) == ["RunStarted", "RunStarted", "RunSucceeded"]
