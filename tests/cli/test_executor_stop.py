"""`jetcron executor` stopped with Ctrl-C ends with a line that says what became of the runs
it held (newcomer18a #12: it ended without one, so "stopped cleanly" looked like "still
draining"). A real nats-server, a real executor process, real jobs."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import nats
import pytest

from jetcron import ids, subjects
from jetcron.domain.definition import Job
from jetcron.domain.envelope import Envelope
from jetcron.domain.events import RunTriggered
from jetcron.log.stream import EventLog
from jetcron.server import NatsServer

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


def start(url: str, tmp_path: Path, drain_s: float) -> subprocess.Popen[str]:
    """An executor `ex` on the log at `url` (made first: an executor takes work from it)."""
    send(url, None)
    cmd = [sys.executable, "-m", "jetcron", "executor", "--name", "ex", "--drain-timeout",
           str(drain_s), "--journal-dir", str(tmp_path / "journal"), "-s", url]  # fmt: skip
    proc = subprocess.Popen(cmd, env=ENV, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    hello = proc.stderr.readline()
    assert hello.startswith("executor 'ex' (targets ex, default)"), hello
    return proc


def send(url: str, script: str | None) -> None:
    """Trigger a run of `sh -c script` on target `ex` (None: only make the log)."""

    async def main() -> None:
        nc = await nats.connect(url)
        event_log = await EventLog(nc).open()
        if script is None:
            await event_log.close()
            await nc.close()
            return
        fire_id = f"job:v1:{ids.new_id()}"
        t = RunTriggered(
            schedule_id="sid-job", name="job", fire_id=fire_id, fire_time=datetime.now(UTC),
            run_id=ids.run_id_for(fire_id), version=1, target="ex",
            job=Job(command=["sh", "-c", script]), timeout_s=60,
        )  # fmt: skip
        envelope = Envelope(id=ids.new_id(), at=datetime.now(UTC), actor="test", event=t)
        await event_log.publish(subjects.trigger("ex"), envelope, msg_id=fire_id)
        await event_log.close()
        await nc.close()

    asyncio.run(main())


def interrupt(proc: subprocess.Popen[str]) -> tuple[int, str]:
    """Ctrl-C; the exit status and the last line it printed."""
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    lines = [line for line in err.splitlines() if line.strip()]
    return proc.returncode, lines[-1] if lines else ""


def test_an_idle_executor_says_it_stopped_with_nothing_in_flight(
    nats_url: str, tmp_path: Path
) -> None:
    proc = start(nats_url, tmp_path, 30)
    assert interrupt(proc) == (0, "executor 'ex' stopped: no run was in flight")


@pytest.mark.parametrize(
    ("job_s", "drain_s", "said"),
    [
        (2, 30, "1 finished"),
        (60, 0.5, "1 handed back (each runs again from the start as its next attempt, on "
         "another executor or at the next start)"),
    ],
    ids=["finished-while-draining", "handed-back"],
)  # fmt: skip
def test_a_stop_says_what_became_of_the_run_in_flight(
    nats_url: str, tmp_path: Path, job_s: float, drain_s: float, said: str
) -> None:
    proc = start(nats_url, tmp_path, drain_s)
    witness = tmp_path / "started"
    try:
        send(nats_url, f"touch {witness}; sleep {job_s}")
        deadline = time.monotonic() + 15
        while not witness.exists():
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
    except BaseException:
        proc.kill()
        raise
    assert interrupt(proc) == (0, f"executor 'ex' stopped: 1 run was in flight: {said}")


def test_an_executor_stopped_while_waiting_for_nats_says_it_took_nothing(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # why: nothing listens there once it is closed
    cmd = [sys.executable, "-m", "jetcron", "executor", "--name", "ex", "--journal-dir",
           str(tmp_path / "journal"), "-s", f"nats://127.0.0.1:{port}"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=ENV, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    said = proc.stderr.readline()  # it waits for NATS, and says so
    assert "unreachable since" in said, said
    assert interrupt(proc) == (0, "executor 'ex' stopped before it reached NATS: it took no run")


@pytest.mark.timeout(90)
def test_a_stop_while_nats_is_gone_ends_soon_after_the_jobs_result_is_journaled(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    """newcomer20a #16: SIGTERM, then NATS gone; the job ended 27 s before the process did
    (the result's publish waited out 5 acks of 5 s, the heartbeat its own timeout)."""
    proc = start(nats_server.url, tmp_path, 30)
    started, ended = tmp_path / "started", tmp_path / "ended"
    try:
        send(nats_server.url, f"touch {started}; sleep 2; touch {ended}")
        deadline = time.monotonic() + 15
        while not started.exists():
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)  # why: it is draining, its job running, when NATS goes
        nats_server.stop()
        while not ended.exists():
            assert time.monotonic() < deadline + 15, "the job did not end"
            time.sleep(0.02)
        job_ended = time.monotonic()
        _, err = proc.communicate(timeout=60)
    except BaseException:
        proc.kill()
        raise
    took = time.monotonic() - job_ended
    last = [line for line in err.splitlines() if line.strip()][-1]
    assert (proc.returncode, last) == (0, "executor 'ex' stopped: 1 run was in flight: 1 ended "
                                       "with the result kept in the journal (stored at the next "
                                       "start)")  # fmt: skip
    assert took < 4.0, f"exited {took:.1f}s after its job ended:\n{err}"
