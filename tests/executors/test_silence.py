"""A job's supervisor treats an executor that stopped answering like a dead one (no NATS here).

The executor shows it is alive by touching the run's `owner` file from its event loop
(process.Job._pulse); a supervisor that sees no touch for `orphan_after` stops the job, so a
frozen executor's job never runs beside the next attempt of its run (see launch.ORPHAN_SHARE).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import psutil

from jetcron.executors.process import Job, JobSpec, run_process
from jetcron.executors.process_result import ProcessResult, read_result
from jetcron.executors.supervisor import pulse_every

ORPHAN = 0.6


def spec(seconds: float) -> JobSpec:
    return JobSpec(
        argv=["sleep", str(seconds)],
        orphan_after_s=ORPHAN,
        pulse_s=pulse_every(ORPHAN),
        grace_s=0.2,
    )


def gone(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def test_pulses_are_several_per_window_and_at_most_one_a_second() -> None:
    assert pulse_every(0.6) == 0.15
    assert pulse_every(9.0) == 1.0


async def test_an_owner_alive_but_silent_has_its_job_stopped(tmp_path: Path) -> None:
    job = await Job.start(tmp_path, spec(30))
    assert not isinstance(job, ProcessResult)
    began = time.monotonic()
    # why: this process owns the run and lives, but nothing touches `owner` (no supervise()):
    # to the supervisor that is an executor whose loop is stopped.
    await job.wait()
    took = time.monotonic() - began
    result = read_result(tmp_path, 1000)
    assert result.abandoned and result.given_up
    assert "gave no sign of life" in result.reason
    assert gone(job.pid)
    assert ORPHAN <= took < ORPHAN + 1.5


async def test_a_pulsing_owner_keeps_its_job_past_the_window(tmp_path: Path) -> None:
    result = await run_process(["sleep", str(3 * ORPHAN)], run_dir=tmp_path, orphan_after=ORPHAN)
    assert result.exit_code == 0 and not result.abandoned


async def test_a_stalled_loop_lets_its_job_go_and_records_why(tmp_path: Path) -> None:
    async def stall() -> None:
        await asyncio.sleep(0.3)
        time.sleep(2 * ORPHAN)  # noqa: ASYNC251 - the point: a stuck loop (no pulse, no acks)

    stalling = asyncio.create_task(stall())
    result = await run_process(["sleep", "30"], run_dir=tmp_path, orphan_after=ORPHAN)
    await stalling
    assert result.given_up, result
    assert "gave no sign of life" in result.reason
    assert result.duration_s < 5


async def test_a_supervisor_that_died_without_a_result_is_not_a_given_up_job(
    tmp_path: Path,
) -> None:
    # why: the executor records that one as failed (retried), not as let go
    (tmp_path / "stdout").write_text("")
    result = read_result(tmp_path, 1000)
    assert result.abandoned and not result.given_up


TICKER = """
import signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
while True:
    with open(sys.argv[1], "a") as f:
        f.write(f"{time.time()}\\n")
    time.sleep(0.02)
"""


async def test_a_supervisor_frozen_with_its_executor_stops_the_job_without_grace_on_thaw(
    tmp_path: Path,
) -> None:
    # why: a paused container freezes the executor, the supervisor and the job alike; a next
    # attempt may have started elsewhere meanwhile, so the job must not get its 5 s grace.
    ticks = tmp_path / "ticks"
    argv = [sys.executable, "-c", TICKER, str(ticks)]
    paced = JobSpec(argv=argv, orphan_after_s=ORPHAN, pulse_s=pulse_every(ORPHAN), grace_s=5.0)
    job = await Job.start(tmp_path / "run", paced)
    assert not isinstance(job, ProcessResult)
    watching = asyncio.create_task(job.supervise(None, None, 1000))
    await asyncio.sleep(0.5)  # pulses flow
    for pid in (job.sup[0], job.pid):
        os.kill(pid, signal.SIGSTOP)
    time.sleep(3 * ORPHAN)  # noqa: ASYNC251 - this loop (the executor) is frozen with them
    for pid in (job.sup[0], job.pid):
        os.kill(pid, signal.SIGCONT)
    thawed = time.time()
    result = await watching
    assert result.given_up, result
    assert float(ticks.read_text().split()[-1]) - thawed < 1.0, "it ran on for its grace"


async def test_an_owner_from_before_pulses_is_watched_by_its_pid(tmp_path: Path) -> None:
    """An executor before 0.2.0 that adopted the job rewrites `owner` but never pulses: its job
    must run on while it lives (it was killed as 'silent' after a downgrade, newcomer17a)."""
    job = await Job.start(tmp_path, spec(2))
    assert not isinstance(job, ProcessResult)
    # why: what an older executor's adoption leaves: `owner` rewritten, `pulses` not
    (tmp_path / "pulses").write_text("1 1")
    await job.wait()
    result = read_result(tmp_path, 1000)
    assert not result.abandoned, result.reason
    assert result.exit_code == 0


async def test_a_live_executor_that_lost_its_trigger_lets_the_job_go(tmp_path: Path) -> None:
    # newcomer17b #1: alive and pulsing, but its NATS node hung: its in-progress acks are not
    # confirmed, so the trigger may go to a peer; the job stops as for a silent executor
    holding = True
    began = time.monotonic()

    async def lose_it() -> None:
        nonlocal holding
        await asyncio.sleep(3 * ORPHAN)  # kept past the window while held
        holding = False

    losing = asyncio.create_task(lose_it())
    result = await run_process(
        ["sleep", "30"], run_dir=tmp_path, orphan_after=ORPHAN, grace=0.2, holding=lambda: holding
    )
    await losing
    took = time.monotonic() - began
    assert result.given_up, result
    assert "gave no sign of life" in result.reason
    assert 3 * ORPHAN + ORPHAN / 2 <= took < 3 * ORPHAN + ORPHAN + 1.5, "kept while held"


async def test_a_hold_back_within_the_window_keeps_the_job(tmp_path: Path) -> None:
    # a failover: the hold lapses for less than orphan_after, then renewals are confirmed again
    # why a window of 2 x ORPHAN and a lapse of one pulse: the silence seen is the lapse plus up
    # to two pulses around it; with a lapse of half the window that left no margin, and a loaded
    # machine's late pulse read as the window running out
    window = 2 * ORPHAN
    began = time.monotonic()

    def holding() -> bool:
        return not window <= time.monotonic() - began < window * 1.25

    result = await run_process(
        ["sleep", str(2 * window)], run_dir=tmp_path, orphan_after=window, holding=holding
    )
    assert result.exit_code == 0 and not result.abandoned, result
