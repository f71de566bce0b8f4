"""The process layer against real subprocesses: capture, caps, timeouts, tree kill, policy."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import psutil
import pytest

from jetcron.executors.commands import DEFAULT_PATH, build_env, resolve_command, resolve_cwd
from jetcron.executors.errors import (
    ExecutableNotAllowed,
    InvalidCommand,
    InvalidWorkingDir,
    JobNotAllowed,
    ShellNotAllowed,
)
from jetcron.executors.process import run_process

GRACE = 0.5
PATH = os.environ.get("PATH", DEFAULT_PATH)


def gone(pid: int) -> bool:
    """Whether the pid no longer runs (a zombie awaiting its reaper counts as gone)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def pids(stdout: str) -> list[int]:
    """The pids a test script printed, one per line."""
    return [int(line) for line in stdout.split()]


# --- run_process ---------------------------------------------------------------------------


async def test_success_captures_stdout_and_pid() -> None:
    started: list[int] = []
    result = await run_process(["echo", "hello"], on_start=started.append)
    assert (result.exit_code, result.signal, result.stdout) == (0, None, "hello\n")
    assert not (result.timed_out or result.cancelled or result.stdout_truncated)
    assert result.pid == started[0]
    assert result.duration_s > 0


async def test_nonzero_exit_and_stderr() -> None:
    result = await run_process(["sh", "-c", "echo oops >&2; exit 3"])
    assert (result.exit_code, result.stdout, result.stderr) == (3, "", "oops\n")


async def test_timeout_kills_a_term_ignoring_tree() -> None:
    # why: `trap '' TERM` is inherited by the background sleep, so both need the SIGKILL.
    script = "trap '' TERM; sleep 1000 & echo $!; sleep 1000"
    started: list[int] = []
    t0 = time.monotonic()
    result = await run_process(
        ["sh", "-c", script], timeout=0.5, grace=GRACE, on_start=started.append
    )
    elapsed = time.monotonic() - t0
    assert result.timed_out and not result.cancelled
    assert (result.exit_code, result.signal) == (None, signal.SIGKILL)
    assert elapsed < 0.5 + GRACE + 2
    assert gone(started[0]) and all(gone(pid) for pid in pids(result.stdout))


async def test_timeout_kills_a_descendant_that_left_the_group() -> None:
    escape = (
        "import os, signal, time; os.setsid(); signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print(os.getpid(), flush=True); time.sleep(1000)"
    )
    script = f"{sys.executable} -c '{escape}' & sleep 1000"
    t0 = time.monotonic()
    result = await run_process(["sh", "-c", script], timeout=1.0, grace=GRACE)
    elapsed = time.monotonic() - t0
    [escaped] = pids(result.stdout)
    assert result.timed_out
    assert elapsed < 1.0 + GRACE + 2
    assert gone(escaped)


async def test_terminates_within_grace_when_term_is_honoured() -> None:
    result = await run_process(["sleep", "1000"], timeout=0.2, grace=5.0)
    assert result.timed_out and result.signal == signal.SIGTERM
    assert result.duration_s < 2


async def test_cancel_event_stops_the_process() -> None:
    cancel = asyncio.Event()
    asyncio.get_running_loop().call_later(0.2, cancel.set)
    result = await run_process(["sleep", "1000"], grace=GRACE, cancel=cancel)
    assert result.cancelled and not result.timed_out
    assert (result.exit_code, result.signal) == (None, signal.SIGTERM)
    assert result.pid is not None and gone(result.pid)


async def test_background_child_does_not_hold_the_run_open() -> None:
    result = await run_process(["sh", "-c", "sleep 2 & echo done"])
    assert (result.exit_code, result.stdout) == (0, "done\n")
    assert result.duration_s < 1.9


async def test_output_is_capped_and_the_child_never_blocks() -> None:
    code = "import sys; sys.stdout.write('x' * 1_000_000); sys.stderr.write('e')"
    result = await run_process([sys.executable, "-c", code], output_cap=1000, timeout=10)
    assert result.exit_code == 0 and not result.timed_out
    assert result.stdout == "x" * 1000 and result.stdout_truncated
    assert result.stderr == "e" and not result.stderr_truncated


async def test_output_is_decoded_with_replacement() -> None:
    result = await run_process(["printf", "a\\377b"])
    assert result.stdout == "a\ufffdb"


async def test_env_has_job_and_run_vars_but_no_parent_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JETCRON_TEST_SECRET", "s3cret")
    env = build_env({"JOB_VAR": "job", "JETCRON_RUN_ID": "forged"}, {"JETCRON_RUN_ID": "run-1"})
    result = await run_process(["env"], env=env)
    seen = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert seen["JOB_VAR"] == "job" and seen["JETCRON_RUN_ID"] == "run-1"
    assert "JETCRON_TEST_SECRET" not in seen
    assert "s3cret" not in result.stdout


async def test_cwd_is_used(tmp_path: Path) -> None:
    result = await run_process(["pwd"], cwd=str(tmp_path))
    assert result.stdout.strip() == str(tmp_path)


async def test_missing_executable_is_127() -> None:
    result = await run_process(["jetcron-no-such-command", "x"])
    assert (result.exit_code, result.pid) == (127, None)
    assert result.stderr == "jetcron-no-such-command: command not found"


async def test_non_executable_file_is_126(tmp_path: Path) -> None:
    script = tmp_path / "script.sh"
    script.write_text("echo hi\n")
    script.chmod(0o644)
    result = await run_process([str(script)])
    assert result.exit_code == 126 and "Permission denied" in result.stderr


async def test_missing_cwd_is_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidWorkingDir, match="invalid working directory"):
        await run_process(["true"], cwd=str(tmp_path / "missing"))


async def test_empty_argv_is_invalid() -> None:
    with pytest.raises(InvalidCommand, match="empty"):
        await run_process([])


async def test_caller_cancellation_kills_the_tree_and_propagates() -> None:
    started: list[int] = []
    task = asyncio.create_task(
        run_process(["sh", "-c", "trap '' TERM; sleep 1000"], grace=5.0, on_start=started.append)
    )
    while not started:  # why: the supervisor's start takes longer on a loaded machine
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert gone(started[0])


async def test_on_start_failure_kills_the_child() -> None:
    started: list[int] = []

    def record_then_fail(pid: int) -> None:
        started.append(pid)
        raise RuntimeError("bookkeeping failed")

    with pytest.raises(RuntimeError, match="bookkeeping failed"):
        await run_process(["sleep", "1000"], on_start=record_then_fail)
    assert gone(started[0])


async def test_a_cancel_reason_reaches_the_result(tmp_path: Path) -> None:
    # why: the supervisor records it, so an executor that reports the run later has it too
    cancel = asyncio.Event()
    cancel.set()
    result = await run_process(
        ["sleep", "30"], cancel=cancel, run_dir=tmp_path / "run", cancel_reason=lambda: "why not"
    )
    assert result.cancelled and result.reason == "why not"


# --- build_env -----------------------------------------------------------------------------


def test_build_env_keeps_only_the_safe_base() -> None:
    parent = {"PATH": "/opt/bin", "HOME": "/h", "TZ": "UTC", "USER": "u", "AWS_SECRET": "x"}
    assert build_env({}, {}, inherit=parent) == {
        "PATH": "/opt/bin",
        "HOME": "/h",
        "TZ": "UTC",
        "USER": "u",
    }


def test_build_env_defaults_path() -> None:
    assert build_env({}, {}, inherit={}) == {"PATH": DEFAULT_PATH}


def test_build_env_rejects_a_bad_name() -> None:
    with pytest.raises(InvalidCommand, match="environment variable"):
        build_env({"A=B": "1"}, {}, inherit={})


# --- resolve_command -----------------------------------------------------------------------


def test_no_allowlist_keeps_argv() -> None:
    assert resolve_command(["rm", "-rf", "x"], None, allow=[], allow_shell=False, path=PATH) == [
        "rm",
        "-rf",
        "x",
    ]


@pytest.mark.parametrize("entry", ["echo", "/bin/echo"], ids=["name", "absolute"])
def test_allowlisted_executable_resolves_to_its_path(entry: str) -> None:
    argv = resolve_command(["echo", "hi"], None, allow=[entry], allow_shell=False, path=PATH)
    assert os.path.isabs(argv[0]) and os.path.basename(argv[0]) == "echo"
    assert argv[1:] == ["hi"]


@pytest.mark.parametrize("argv0", ["rm", "jetcron-no-such-command", "./echo"])
def test_executable_outside_the_allowlist_is_refused(argv0: str) -> None:
    with pytest.raises(
        ExecutableNotAllowed, match=r"is not in this executor's allowlist \(--allow\)"
    ):
        resolve_command([argv0], None, allow=["echo"], allow_shell=False, path=PATH)


def test_multi_call_binary_allows_only_the_allowed_name(tmp_path: Path) -> None:
    binary = tmp_path / "multi"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    (tmp_path / "ls").symlink_to(binary)
    (tmp_path / "rm").symlink_to(binary)
    allowed = resolve_command(["ls"], None, allow=["ls"], allow_shell=False, path=str(tmp_path))
    assert allowed == [str(tmp_path / "ls")]
    with pytest.raises(ExecutableNotAllowed, match="`rm`"):
        resolve_command(["rm"], None, allow=["ls"], allow_shell=False, path=str(tmp_path))


def test_shell_is_refused_unless_allowed() -> None:
    with pytest.raises(ShellNotAllowed, match="start it with --allow-shell"):
        resolve_command(None, "echo hi", allow=[], allow_shell=False, path=PATH)


def test_shell_runs_through_sh_when_allowed() -> None:
    argv = resolve_command(None, "echo hi | wc -c", allow=["echo"], allow_shell=True, path=PATH)
    assert argv == ["/bin/sh", "-c", "echo hi | wc -c"]


@pytest.mark.parametrize(
    ("argv", "shell"),
    [(None, None), (["echo"], "echo"), ([], None), ([""], None), (None, "  ")],
    ids=["neither", "both", "empty-argv", "empty-argv0", "blank-shell"],
)
def test_malformed_commands_are_invalid(argv: list[str] | None, shell: str | None) -> None:
    with pytest.raises(InvalidCommand):
        resolve_command(argv, shell, allow=[], allow_shell=True, path=PATH)


def test_refusals_are_invalid_input() -> None:
    assert issubclass(ExecutableNotAllowed, JobNotAllowed)
    assert issubclass(JobNotAllowed, ValueError)


# --- resolve_cwd ---------------------------------------------------------------------------


@pytest.fixture
def work_dir(tmp_path: Path) -> Path:
    root = tmp_path / "work"
    (root / "jobs" / "a").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (root / "link-out").symlink_to(tmp_path / "outside")
    return root


@pytest.mark.parametrize(
    ("cwd", "expected"),
    [(None, "."), ("jobs/a", "jobs/a"), ("jobs/a/../a", "jobs/a")],
    ids=["default", "relative", "dotdot-inside"],
)
def test_cwd_inside_work_dir(work_dir: Path, cwd: str | None, expected: str) -> None:
    assert resolve_cwd(cwd, str(work_dir)) == os.path.realpath(work_dir / expected)


def test_absolute_cwd_inside_work_dir(work_dir: Path) -> None:
    assert resolve_cwd(str(work_dir / "jobs"), str(work_dir)) == os.path.realpath(work_dir / "jobs")


@pytest.mark.parametrize(
    "cwd",
    ["..", "../outside", "link-out", "/tmp"],
    ids=["parent", "sibling", "symlink", "absolute"],
)
def test_cwd_outside_work_dir_is_refused(work_dir: Path, cwd: str) -> None:
    with pytest.raises(InvalidWorkingDir, match="outside the executor's --work-dir"):
        resolve_cwd(cwd, str(work_dir))


def test_missing_cwd_inside_work_dir_is_refused(work_dir: Path) -> None:
    with pytest.raises(InvalidWorkingDir, match="no such directory"):
        resolve_cwd("jobs/missing", str(work_dir))


def test_cwd_without_work_dir(tmp_path: Path) -> None:
    assert resolve_cwd(None, None) is None
    assert resolve_cwd(str(tmp_path), None) == str(tmp_path)


def test_missing_cwd_without_work_dir_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidWorkingDir, match="no such directory"):
        resolve_cwd(str(tmp_path / "missing"), None)


def test_a_missing_work_dir_is_named_not_the_jobs_dot(tmp_path: Path) -> None:
    missing = tmp_path / "gone"
    with pytest.raises(InvalidWorkingDir, match=f"invalid working directory '{missing}'"):
        resolve_cwd(None, str(missing))
