"""What is left of a job whose supervisor died: the identity rule (pure) and real processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import psutil
import pytest

from jetcron.executors.leftovers import Mark, Seen, end, ours, verdict
from jetcron.executors.process import Job, JobSpec
from jetcron.executors.supervisor import proc_start

MARK = ("run-1", "2")
JOB = Mark(leader=(100, 5000), not_before=4000, marker=MARK)


def p(
    pid: int,
    *,
    start: int = 6000,
    pgid: int = 0,
    sid: int = 0,
    marker: tuple[str, str] | None = None,
) -> Seen:
    return Seen(pid=pid, start=start, pgid=pgid or pid, sid=sid or pid, marker=marker)


@pytest.mark.parametrize(
    ("seen", "expected"),
    [
        pytest.param([p(100, start=5000)], [100], id="the-leader"),
        pytest.param([p(100, start=9999)], [], id="the-leaders-pid-reused"),
        pytest.param([p(100, start=5000), p(101, pgid=100, sid=100)], [100, 101], id="its-group"),
        pytest.param([p(101, pgid=100, sid=100)], [], id="group-without-leader-or-mark"),
        pytest.param(
            [p(101, pgid=100, sid=100, marker=MARK), p(102, pgid=100, sid=100)],
            [101, 102],
            id="group-held-by-a-marked-member",
        ),
        pytest.param([p(103, sid=100)], [], id="session-of-a-reused-id"),
        pytest.param([p(100, start=5000), p(103, pgid=103, sid=100)], [100, 103], id="session"),
        pytest.param([p(200, marker=MARK)], [200], id="setsid-daemon-with-the-mark"),
        pytest.param([p(200, marker=("run-1", "1"))], [], id="another-attempts-mark"),
        pytest.param([p(200, marker=("run-9", "2"))], [], id="another-runs-mark"),
        pytest.param([p(200, start=3000, marker=MARK)], [], id="older-than-the-attempt"),
        pytest.param([p(300), p(301, pgid=300)], [], id="strangers"),
    ],
)
def test_only_the_attempts_own_processes_are_leftovers(
    seen: list[Seen], expected: list[int]
) -> None:
    assert [x.pid for x in ours(seen, JOB)] == expected


def test_without_job_json_only_the_mark_identifies() -> None:
    mark = Mark(marker=MARK)
    seen = [p(100, start=5000), p(200, marker=MARK), p(201, pgid=200)]
    assert [x.pid for x in ours(seen, mark)] == [200]


# --- real processes ---------------------------------------------------------------------------

# why: a job with a child in its group and a daemon that left it (setsid); each prints its pid.
TREE = """
import os, sys, time
if os.fork() == 0:
    os.setsid()
elif os.fork() == 0:
    pass
os.write(1, f"{os.getpid()}\\n".encode())  # one write: the three share the file
time.sleep(60)
"""


def alive(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


async def started_tree(run_dir: Path, env: dict[str, str] | None) -> tuple[Job, list[int]]:
    spec = JobSpec(argv=[sys.executable, "-c", TREE], env=env, orphan_after_s=30.0)
    job = await Job.start(run_dir, spec)
    assert isinstance(job, Job)
    deadline = time.monotonic() + 10
    while len(pids := _printed(run_dir)) < 3:
        assert time.monotonic() < deadline, f"the job's tree did not start: {_diag(run_dir)}"
        await asyncio.sleep(0.02)
    return job, pids


def _printed(run_dir: Path) -> list[int]:
    try:
        return [int(x) for x in (run_dir / "stdout").read_text().split()]
    except (OSError, ValueError):
        return []


def marked_env(run_id: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", ""), "JETCRON_RUN_ID": run_id, "JETCRON_ATTEMPT": "1"}


async def test_a_dead_supervisors_job_is_gone_when_supervise_returns(tmp_path: Path) -> None:
    job, pids = await started_tree(tmp_path / "run", marked_env("run-leftovers-a"))
    await asyncio.sleep(1.0)
    os.kill(job.sup[0], signal.SIGKILL)
    result = await job.supervise(None, None, 1000)
    assert result.abandoned and "supervisor died" in result.reason
    # why: it ran until it was stopped; the time is known (newcomer18b F5: it read 0 s)
    assert result.duration_s is not None and 1.0 <= result.duration_s < 10
    assert [pid for pid in pids if alive(pid)] == [], "the job outlived its supervisor"


async def test_without_the_mark_the_group_still_goes(tmp_path: Path) -> None:
    # why: a job run without run variables (no mark): its leader and group are still known.
    job, pids = await started_tree(tmp_path / "run", None)
    in_group = [pid for pid in pids if _pgid(pid) == job.pid]
    os.kill(job.sup[0], signal.SIGKILL)
    await job.supervise(None, None, 1000)
    assert len(in_group) == 2 and not any(alive(pid) for pid in in_group)
    for pid in pids:  # why: the setsid daemon, unmarked, is not provably ours: left alone
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


async def test_a_stranger_with_a_reused_looking_identity_is_never_killed(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    stranger = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        # why: job.json naming the stranger's pid with another start time: a reused pid.
        start = proc_start(stranger.pid)
        assert start is not None
        info = {"supervisor": [1, 0], "job": [stranger.pid, start + 1]}
        (run_dir / "job.json").write_bytes(msgspec.json.encode(info))
        assert end(run_dir, within=1.0) == []
        assert alive(stranger.pid)
    finally:
        stranger.kill()
        stranger.wait()


def _entry(run_dir: Path, run_id: str, *, spawning: bool, leader: int | None = None) -> None:
    """A run directory as a supervisor that died at some point left it."""
    run_dir.mkdir()
    spec = {"argv": ["sleep", "30"], "env": marked_env(run_id)}
    (run_dir / "spec.json").write_bytes(msgspec.json.encode(spec))
    if spawning:
        (run_dir / "spawning").touch()
    if leader is not None:
        info = {"supervisor": [1, 0], "job": [leader, proc_start(leader)]}
        (run_dir / "job.json").write_bytes(msgspec.json.encode(info))


def test_no_spawning_file_means_the_job_never_started(tmp_path: Path) -> None:
    _entry(tmp_path / "run", "run-verdict-a", spawning=False)
    assert verdict(tmp_path / "run") == "not_started"


@pytest.mark.parametrize("recorded", [True, False], ids=["job.json", "only-spawning"])
def test_a_job_still_running_was_cut_short_one_gone_ended_unknown(
    tmp_path: Path, recorded: bool
) -> None:
    run_id = f"run-verdict-{recorded}"
    job = subprocess.Popen(["sleep", "30"], env=marked_env(run_id), start_new_session=True)
    try:
        _entry(tmp_path / "run", run_id, spawning=True, leader=job.pid if recorded else None)
        assert verdict(tmp_path / "run") == "cut_short"
    finally:
        job.kill()
        job.wait()
    # why: gone (reaped, or a zombie PID 1 has not reaped yet): it ended; how is not known
    assert verdict(tmp_path / "run") == "unknown"


async def test_a_job_that_ended_before_its_supervisor_died_has_an_unknown_outcome(
    tmp_path: Path,
) -> None:
    run_dir = tmp_path / "run"
    spec = JobSpec(argv=["sh", "-c", "sleep 0.2; exit 3"], env=marked_env("run-verdict-c"))
    job = await Job.start(run_dir, spec)
    assert isinstance(job, Job)
    os.kill(job.sup[0], signal.SIGSTOP)  # why: it can reap the job but not write its result
    deadline = time.monotonic() + 5
    while alive(job.pid):
        assert time.monotonic() < deadline, "the job did not end"
        await asyncio.sleep(0.02)
    os.kill(job.sup[0], signal.SIGKILL)
    result = await job.supervise(None, None, 1000)
    assert result.unknown and not result.abandoned and result.exit_code is None
    assert result.duration_s is None, "an ended job's duration died with its supervisor"
    assert "exit status" in result.reason
    assert msgspec.json.decode((run_dir / "result.json").read_bytes())["ending"] == "unknown"


def _pgid(pid: int) -> int:
    try:
        return os.getpgid(pid)
    except OSError:
        return -1


def _diag(run_dir: Path) -> str:
    return " | ".join(
        f"{name}: {(run_dir / name).read_text()!r}"
        for name in ("stdout", "stderr", "supervisor.log", "job.json")
        if (run_dir / name).exists()
    )
