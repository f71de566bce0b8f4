"""A job's life across a SIGKILLed executor: adopted, reported from the journal, or abandoned in time.

Every test runs the executor as a real subprocess (the one that gets SIGKILLed), real jobs that
write to a witness file, and a real nats-server. The witness holds an flock while the job runs,
so a second copy of one run that overlaps the first writes OVERLAP.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client
from test_agent import config, events, kinds, publish, sh, trigger
from test_concurrency import most_at_once

from conftest import alive
from jetcron import subjects
from jetcron.domain.definition import Job
from jetcron.domain.events import RunCancelled, RunSucceeded
from jetcron.executors.agent import Executor
from jetcron.log.stream import EventLog
from polling import until

SRC = Path(__file__).resolve().parents[2] / "src"

# why: it imports and connects, says "ready", and serves only once it reads "go": see Victim.
VICTIM = """
import asyncio, sys, nats
from jetcron.executors.agent import Executor, ExecutorConfig

async def main():
    nc = await nats.connect(sys.argv[1])
    config = ExecutorConfig(
        name=sys.argv[2], targets=["kpool"], ack_wait_s=float(sys.argv[3]),
        journal_dir=sys.argv[4], kill_grace_s=0.3, heartbeat_s=0.5,
        concurrency=int(sys.argv[5]),
    )
    print("ready", flush=True)
    if (await asyncio.to_thread(sys.stdin.readline)).strip() == "go":
        await Executor(nc, config).run(asyncio.Event())

asyncio.run(main())
"""

# why: the job holds an exclusive lock on the witness while it runs: a copy that starts while
# another copy of the same run is alive cannot take it and says so.
JOB = """
import fcntl, os, sys, time
path, seconds = sys.argv[1], float(sys.argv[2])
with open(path + ".lock", "w") as lock, open(path, "a") as witness:
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        witness.write("OVERLAP\\n"); witness.flush()
    witness.write(f"start {os.getpid()}\\n"); witness.flush()
    time.sleep(seconds)
    witness.write("end\\n"); witness.flush()
"""


def job(witness: Path, seconds: float) -> Job:
    return Job(command=[sys.executable, "-c", JOB, str(witness), str(seconds)])


class Victim:
    """An executor in a subprocess that a test can SIGKILL and start again.

    why a spare: a restarted executor adopts its predecessor's job only within orphan_after
    (0.3 x ack_wait, ORPHAN_SHARE) of the death; that is a promise about the executor's
    reconciling, not about Python's start-up, which alone took longer than 0.9 s on 2 loaded
    cores. So the next process is started (imported, connected) before the kill and only
    begins serving after it: `prepare` (before the job starts), `kill`, then `start`.
    """

    def __init__(
        self,
        nats_url: str,
        journal: Path,
        ack_wait: float,
        name: str = "victim",
        concurrency: int = 4,
    ):
        self.args = [nats_url, name, str(ack_wait), str(journal), str(concurrency)]
        self.log = Path(journal).parent / f"{name}.stderr"
        """What its processes log (warnings: Python's last-resort handler), all of them."""
        self.proc: asyncio.subprocess.Process | None = None
        self.spare: asyncio.subprocess.Process | None = None

    async def prepare(self) -> None:
        """Start the next executor process up to serving (it waits for `start`)."""
        env = {**os.environ, "PYTHONPATH": str(SRC)}
        with self.log.open("a") as log:
            spare = await asyncio.create_subprocess_exec(
                sys.executable, "-c", VICTIM, *self.args, env=env,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=log,
            )  # fmt: skip
        self.spare = spare
        assert spare.stdout is not None
        assert await asyncio.wait_for(spare.stdout.readline(), 60) == b"ready\n"

    async def start(self) -> None:
        """Let the prepared process serve (prepared now if none is)."""
        if self.spare is None:
            await self.prepare()
        self.proc, self.spare = self.spare, None
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(b"go\n")
        await self.proc.stdin.drain()
        self.proc.stdin.close()

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await asyncio.wait_for(self.proc.wait(), 5)

    async def stop(self) -> None:
        for proc in (self.spare, self.proc):
            if proc is not None and proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), 10)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()


@pytest.fixture
async def victims() -> AsyncIterator[list[Victim]]:
    started: list[Victim] = []
    yield started
    for v in started:
        await v.stop()


async def killed_mid_run(
    nats_url: str,
    tmp_path: Path,
    victims: list[Victim],
    event_log: EventLog,
    t: Any,
    ack_wait: float,
) -> Victim:
    """An executor subprocess that took trigger `t`, started its job, and was SIGKILLed (its
    restart prepared, see Victim)."""
    v = Victim(nats_url, tmp_path / "journal", ack_wait=ack_wait)
    victims.append(v)
    await v.start()
    await v.prepare()  # why: before the job starts, so the kill lands while it runs (a 0.5 s job)
    await publish(event_log, t)
    await until(lambda: job_pids(tmp_path / "witness"))
    await v.kill()
    return v


def lines(witness: Path) -> list[str]:
    return witness.read_text().split() if witness.exists() else []


def job_pids(witness: Path) -> list[int]:
    words = lines(witness)
    return [int(words[i + 1]) for i, w in enumerate(words) if w == "start"]


async def run_events(event_log: EventLog, t: Any) -> list[str]:
    return kinds(await events(event_log, t))


async def test_a_restarted_executor_adopts_the_running_job_and_reports_it(
    nc: Client, event_log: EventLog, nats_url: str, tmp_path: Path, victims: list[Victim]
) -> None:
    witness = tmp_path / "witness"
    t = trigger(job(witness, 2.5), target="kpool")
    v = await killed_mid_run(nats_url, tmp_path, victims, event_log, t, ack_wait=10)
    [pid] = job_pids(witness)
    assert alive(pid), "the job outlives its executor, waiting to be adopted"
    await v.start()
    await until(lambda: _has(event_log, t, "RunSucceeded"), 20)
    assert lines(witness) == ["start", str(pid), "end"]
    assert await run_events(event_log, t) == ["RunStarted", "RunSucceeded"]
    said = v.log.read_text()  # newcomer19b F10: one line says so
    assert f"executor victim: adopted run {t.run_id} of {t.name}: its job (pid {pid})" in said
    journal = tmp_path / "journal"
    # why: the entry goes once the result is stored: just after the event, not with it
    await until(lambda: list(journal.iterdir()) == [journal / ".lock"], 10)


async def test_a_job_that_finished_while_its_executor_was_dead_is_reported_not_rerun(
    nc: Client, event_log: EventLog, nats_url: str, tmp_path: Path, victims: list[Victim]
) -> None:
    witness = tmp_path / "witness"
    t = trigger(job(witness, 0.5), target="kpool")
    v = await killed_mid_run(nats_url, tmp_path, victims, event_log, t, ack_wait=10)
    await until(lambda: "end" in lines(witness))
    ended = time.time()
    await asyncio.sleep(2.0)  # why: the result is reported well after the job ended
    await v.start()
    await until(lambda: _has(event_log, t, "RunSucceeded"), 20)
    evs = await events(event_log, t)
    assert kinds(evs) == ["RunStarted", "RunSucceeded"]
    assert isinstance(evs[-1], RunSucceeded) and evs[-1].exit_code == 0
    # the event names when the job ended, not when it was reported (newcomer16b F5)
    assert evs[-1].ended_at is not None
    assert abs(evs[-1].ended_at.timestamp() - ended) < 0.5
    said = f"executor victim: stored the result of run {t.run_id} of {t.name} from the journal"
    # why: the executor logs it once the store answered, which may be after the test saw the event
    await until(lambda: f"{said} (succeeded, ended at " in v.log.read_text(), 10)  # newcomer19b F10
    await asyncio.sleep(1.0)  # why: a redelivery, had it started a copy, would show by now
    assert lines(witness).count("start") == 1


async def test_an_unadopted_job_is_stopped_before_another_executor_can_start_it(
    nc: Client, event_log: EventLog, nats_url: str, tmp_path: Path, victims: list[Victim]
) -> None:
    ack_wait = 3.0
    witness = tmp_path / "witness"
    t = trigger(job(witness, 6), target="kpool")
    await killed_mid_run(nats_url, tmp_path, victims, event_log, t, ack_wait=ack_wait)
    [first] = job_pids(witness)
    survivor = Executor(
        nc,
        config(
            "survivor", targets=["kpool"], ack_wait_s=ack_wait, journal_dir=str(tmp_path / "j2")
        ),
    )
    task = asyncio.create_task(survivor.run(stop := asyncio.Event()))
    try:
        await until(lambda: _has(event_log, t, "RunSucceeded"), 30)
    finally:
        stop.set()
        await task
    words = lines(witness)
    assert "OVERLAP" not in words, "two copies of one run ran at the same time"
    assert words.count("start") == 2 and words.count("end") == 1
    assert not alive(first)
    assert await run_events(event_log, t) == ["RunStarted", "RunStarted", "RunSucceeded"]


async def test_a_timeout_holds_across_an_executor_restart(
    nc: Client, event_log: EventLog, nats_url: str, tmp_path: Path, victims: list[Victim]
) -> None:
    witness = tmp_path / "witness"
    t = trigger(job(witness, 30), target="kpool", timeout_s=2.0)
    v = await killed_mid_run(nats_url, tmp_path, victims, event_log, t, ack_wait=10)
    began = time.monotonic()
    [pid] = job_pids(witness)
    await v.start()
    await until(lambda: _has(event_log, t, "RunTimedOut"), 20)
    assert time.monotonic() - began < 8
    assert not alive(pid)
    assert "end" not in lines(witness)


async def test_a_cancel_sent_while_the_executor_was_dead_reaches_the_adopted_job(
    nc: Client, event_log: EventLog, nats_url: str, tmp_path: Path, victims: list[Victim]
) -> None:
    from datetime import UTC, datetime

    from jetcron import ids, subjects
    from jetcron.domain.envelope import Envelope
    from jetcron.domain.events import RunCancelRequested

    witness = tmp_path / "witness"
    t = trigger(job(witness, 30), target="kpool")
    v = await killed_mid_run(nats_url, tmp_path, victims, event_log, t, ack_wait=10)
    [pid] = job_pids(witness)
    request = RunCancelRequested(
        schedule_id=t.schedule_id, name=t.name, run_id=t.run_id, reason="stop it"
    )
    envelope = Envelope(id=ids.new_id(), at=datetime.now(UTC), actor="test", event=request)
    await event_log.publish(subjects.run(t.name, t.run_id), envelope)
    await v.start()
    await until(lambda: _has(event_log, t, "RunCancelled"), 20)
    assert not alive(pid)
    [cancelled] = [e for e in await events(event_log, t) if isinstance(e, RunCancelled)]
    assert cancelled.reason == "cancel requested: stop it"


SPAN = "echo start $(date +%s.%N) >> {f}; sleep {s}; echo end $(date +%s.%N) >> {f}"


async def test_an_adopted_run_holds_a_run_slot_and_its_redelivered_trigger_none(
    nc: Client, event_log: EventLog, nats_url: str, tmp_path: Path, victims: list[Victim]
) -> None:
    """newcomer20b F1: after a restart, 5 ran under --concurrency 4: adopted runs held no slot."""
    ack_wait, adopted, others = 6.0, tmp_path / "adopted", tmp_path / "others"
    t = trigger(sh(SPAN.format(f=adopted, s=12)), target="kpool")
    v = Victim(nats_url, tmp_path / "journal", ack_wait=ack_wait, concurrency=2)
    victims.append(v)
    await v.start()
    await v.prepare()
    await publish(event_log, t)
    await until(adopted.exists)
    await v.kill()
    await v.start()
    # why: the adopted run's trigger comes back (ack_wait after the kill) and waits for its job
    # holding no slot: the adopted run holds one of its own
    await until(lambda: redeliveries(nc), 20)
    ts = [trigger(sh(SPAN.format(f=others, s=2)), target="kpool", name=f"o{i}") for i in range(3)]
    await publish(event_log, *ts)
    for x in [t, *ts]:
        await until(lambda x=x: _has(event_log, x, "RunSucceeded"), 40)
    both = tmp_path / "both"
    both.write_text(adopted.read_text() + others.read_text())
    assert most_at_once(both) == 2, "more than --concurrency 2 ran at once"
    adopted_end = float(adopted.read_text().split()[-1])
    first_other = min(float(w.split()[1]) for w in others.read_text().splitlines() if "start" in w)
    assert first_other < adopted_end, "the redelivered trigger of the adopted run held a slot"


async def redeliveries(nc: Client) -> int:
    """Deliveries of the pool-kpool consumer beyond the first of each message."""
    info = await nc.jetstream().consumer_info(subjects.STREAM, subjects.pool_consumer("kpool"))
    return int(info.num_redelivered or 0)


async def _has(event_log: EventLog, t: Any, kind: str) -> bool:
    return kind in await run_events(event_log, t)
