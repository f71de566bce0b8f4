"""Run one job command as a child process tree: capture, cap, time out, kill the whole tree."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import errno
import os
import shutil
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec
import psutil

from jetcron.executors.errors import (
    ExecutableNotAllowed,
    InvalidCommand,
    InvalidWorkingDir,
    ShellNotAllowed,
)

DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
_PASSTHROUGH_ENV = ("HOME", "LANG", "LC_ALL", "TZ", "USER", "LOGNAME")
_CHUNK = 65536
_POLL_S = 0.05
# why: an escaped grandchild can hold our pipes open forever; after the child is gone
# (or killed) we read what is already buffered and then stop waiting.
_DRAIN_AFTER_EXIT_S = 1.0
_KILL_WAIT_S = 1.0


class ProcessResult(msgspec.Struct, frozen=True, kw_only=True):
    """What happened to one child process; a failing job is data, not an exception."""

    exit_code: int | None
    """The exit status, or None if the child was killed by a signal."""
    signal: int | None = None
    timed_out: bool = False
    cancelled: bool = False
    stdout: str = ""
    """The first `output_cap` bytes of stdout, decoded as UTF-8 with replacement."""
    stderr: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    duration_s: float
    pid: int | None = None


class _Ending(enum.Enum):
    """Why we stopped waiting for the child."""

    EXITED = enum.auto()
    TIMED_OUT = enum.auto()
    CANCELLED = enum.auto()


class _Capture:
    """Keeps the first `cap` bytes of a stream and drains (discards) the rest."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.data = bytearray()
        self.truncated = False

    async def drain(self, stream: asyncio.StreamReader | None) -> None:
        """Read the stream to EOF, keeping only the first `cap` bytes."""
        if stream is None:
            return
        # why: reading on past the cap keeps the child from blocking on a full pipe.
        while chunk := await stream.read(_CHUNK):
            room = self.cap - len(self.data)
            if len(chunk) > room:
                self.truncated = True
            if room > 0:
                self.data += chunk[:room]

    def text(self) -> str:
        """The captured bytes as text."""
        return self.data.decode("utf-8", errors="replace")


async def run_process(
    argv: list[str],
    *,
    cwd: str | None = None,
    env: dict[str, str] | None = None,
    # why: the job's own time limit, not a wrapper deadline: on expiry we must kill the tree
    # and report timed_out, which a caller's asyncio.timeout() could not do.
    timeout: float | None = None,  # noqa: ASYNC109
    grace: float = 5.0,
    output_cap: int = 65536,
    cancel: asyncio.Event | None = None,
    on_start: Callable[[int], None] | None = None,
) -> ProcessResult:
    """Run `argv` in its own session; on timeout or `cancel`, terminate then kill its tree."""
    if not argv or not argv[0]:
        raise InvalidCommand("the command is empty")
    started = time.monotonic()
    proc = await _spawn(argv, cwd, env)
    if isinstance(proc, ProcessResult):
        return msgspec.structs.replace(proc, duration_s=time.monotonic() - started)
    out, err = _Capture(output_cap), _Capture(output_cap)
    drains = [
        asyncio.create_task(out.drain(proc.stdout)),
        asyncio.create_task(err.drain(proc.stderr)),
    ]
    exited = asyncio.create_task(_wait_exit(proc))
    try:
        ending = await _supervise(proc, exited, on_start, timeout, cancel, grace)
    finally:
        await _release(proc, exited, drains)
    return _result(proc, ending, out, err, time.monotonic() - started)


async def _spawn(
    argv: list[str], cwd: str | None, env: dict[str, str] | None
) -> asyncio.subprocess.Process | ProcessResult:
    """Start the child, or describe why it could not start the way a shell would (126/127)."""
    try:
        return await asyncio.create_subprocess_exec(
            argv[0],
            *argv[1:],
            cwd=cwd,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        # why: subprocess reports a failed chdir with the cwd as filename; that is the
        # job's configuration, not a command failure.
        if cwd is not None and exc.filename == cwd:
            raise InvalidWorkingDir(cwd, exc.strerror or "cannot enter it") from exc
        if isinstance(exc, FileNotFoundError):
            return ProcessResult(
                exit_code=127, stderr=f"{argv[0]}: command not found", duration_s=0
            )
        if isinstance(exc, PermissionError) or exc.errno == errno.ENOEXEC:
            return ProcessResult(exit_code=126, stderr=f"{argv[0]}: {exc.strerror}", duration_s=0)
        raise  # why: EMFILE/EAGAIN/ENOMEM at spawn are host faults, not the job's failure


async def _supervise(
    proc: asyncio.subprocess.Process,
    exited: asyncio.Task[int],
    on_start: Callable[[int], None] | None,
    time_limit: float | None,
    cancel: asyncio.Event | None,
    grace: float,
) -> _Ending:
    """Wait for the child to exit, the timeout or `cancel`; stop the tree on the latter two."""
    # why: pin the child's identity (pid + start time) while it cannot have been reaped yet,
    # so that a later signal can never hit an unrelated process that reused the pid.
    root = _process(proc.pid)
    try:
        if on_start is not None:
            on_start(proc.pid)
        ending = await _await_ending(exited, time_limit, cancel)
    except BaseException:
        # why: our caller is going away (task cancelled, or on_start raised); leave no
        # orphans behind and do not make it wait for a grace period.
        await _stop_tree(root, proc.pid, exited, grace=0.0)
        raise
    if ending is not _Ending.EXITED:
        await _stop_tree(root, proc.pid, exited, grace)
    return ending


async def _wait_exit(proc: asyncio.subprocess.Process) -> int:
    """Return the exit status as soon as the child exits."""
    # why: Process.wait() (3.11) also waits for both pipes to close, which a grandchild
    # that outlives the child can delay forever; returncode is set at exit, so poll it.
    waiter = asyncio.ensure_future(proc.wait())
    try:
        while proc.returncode is None:
            await asyncio.wait({waiter}, timeout=_POLL_S)
        return proc.returncode
    finally:
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)


async def _await_ending(
    exited: asyncio.Task[int], time_limit: float | None, cancel: asyncio.Event | None
) -> _Ending:
    """Whichever comes first: the child's exit, the timeout or the cancel event."""
    cancelled = asyncio.create_task(cancel.wait()) if cancel is not None else None
    waiters: set[asyncio.Future[Any]] = {exited}
    if cancelled is not None:
        waiters.add(cancelled)
    try:
        done, _ = await asyncio.wait(
            waiters, timeout=time_limit, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        if cancelled is not None:
            cancelled.cancel()
            await asyncio.gather(cancelled, return_exceptions=True)
    if exited in done:
        return _Ending.EXITED  # why: a child that finished as cancel arrived did finish
    return _Ending.CANCELLED if cancelled in done else _Ending.TIMED_OUT


async def _stop_tree(
    root: psutil.Process | None, pgid: int, exited: asyncio.Task[int], grace: float
) -> None:
    """SIGTERM the child's tree and group, wait up to `grace`, then SIGKILL what is left."""
    # why: take the snapshot before signalling, so descendants that left the group
    # (setsid) are still known by pid when we come back to kill them.
    tree = await asyncio.to_thread(_snapshot, root)
    _signal_tree(tree, pgid, signal.SIGTERM)
    await _wait_gone(exited, tree, grace)
    if not exited.done():
        tree += await asyncio.to_thread(_snapshot, root)
    # why: the group kill is unconditional: it also reaches members forked after the snapshot.
    _signal_tree(_alive(tree), pgid, signal.SIGKILL)
    # why: SIGKILL is delivered asynchronously; wait (bounded) so that on return the tree is dead.
    await _wait_gone(exited, tree, _KILL_WAIT_S)
    await asyncio.shield(exited)


async def _wait_gone(exited: asyncio.Task[int], tree: list[psutil.Process], within: float) -> None:
    """Poll until the child has exited and its tree is dead, for at most `within` seconds."""
    deadline = time.monotonic() + within
    while not (exited.done() and not _alive(tree)):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        await asyncio.sleep(min(_POLL_S, remaining))


def _process(pid: int) -> psutil.Process | None:
    """The psutil handle of a process, or None if it is already gone."""
    try:
        return psutil.Process(pid)
    except psutil.Error:
        return None


def _snapshot(root: psutil.Process | None) -> list[psutil.Process]:
    """The process and all its descendants, as far as /proc knows them now."""
    if root is None:
        return []
    try:
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    """The processes that still run (zombies count as gone)."""
    alive = []
    for p in procs:
        with contextlib.suppress(psutil.Error):
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p)
    return alive


def _signal_tree(procs: list[psutil.Process], pgid: int, sig: signal.Signals) -> None:
    """Send `sig` to every process given and to the process group `pgid`."""
    for p in procs:
        # why: psutil checks the pid was not reused by another process before signalling.
        with contextlib.suppress(psutil.Error):
            p.send_signal(sig)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def _release(
    proc: asyncio.subprocess.Process, exited: asyncio.Task[int], drains: list[asyncio.Task[None]]
) -> None:
    """Finish reading what is buffered (bounded), then close the pipes."""
    try:
        if exited.done():
            await asyncio.wait(drains, timeout=_DRAIN_AFTER_EXIT_S)
    finally:
        for task in (*drains, exited):
            task.cancel()
        await asyncio.gather(*drains, exited, return_exceptions=True)
        # why: with a pipe still held open by an escaped grandchild asyncio never closes
        # the transport itself (3.11 has no public API for it) and would warn on GC.
        transport = getattr(proc, "_transport", None)
        if transport is not None:
            transport.close()


def _result(
    proc: asyncio.subprocess.Process, ending: _Ending, out: _Capture, err: _Capture, duration: float
) -> ProcessResult:
    """Build the result from the exit status and the captures."""
    code = proc.returncode
    killed_by = -code if code is not None and code < 0 else None
    return ProcessResult(
        exit_code=None if killed_by is not None else code,
        signal=killed_by,
        timed_out=ending is _Ending.TIMED_OUT,
        cancelled=ending is _Ending.CANCELLED,
        stdout=out.text(),
        stderr=err.text(),
        stdout_truncated=out.truncated,
        stderr_truncated=err.truncated,
        duration_s=duration,
        pid=proc.pid,
    )


def build_env(
    job_env: Mapping[str, str],
    run_vars: Mapping[str, str],
    *,
    inherit: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """A minimal environment: a safe base from `inherit`, then the job's vars, then run vars."""
    source: Mapping[str, str] = os.environ if inherit is None else inherit
    # why: nothing else is inherited, so the executor's own secrets never reach a job.
    env = {"PATH": source.get("PATH") or DEFAULT_PATH}
    env.update({name: source[name] for name in _PASSTHROUGH_ENV if name in source})
    for name, value in job_env.items():
        if not name or "=" in name or "\0" in name or "\0" in value:
            raise InvalidCommand(f"invalid environment variable {name!r}")
        env[name] = value
    env.update(run_vars)  # why: run vars win, so a job cannot forge its own run id
    return env


def resolve_command(
    argv: list[str] | None,
    shell: str | None,
    *,
    allow: Sequence[str],
    allow_shell: bool,
    path: str,
) -> list[str]:
    """The argv to execute for a job, after the executor's allowlist and shell policy."""
    if (argv is None) == (shell is None):
        raise InvalidCommand("a command needs exactly one of argv or shell")
    if shell is not None:
        if not allow_shell:
            raise ShellNotAllowed()
        if not shell.strip():
            raise InvalidCommand("the shell command is empty")
        # why: --allow-shell is the operator's explicit opt-in to arbitrary commands,
        # so the allowlist does not apply to shell commands.
        return ["/bin/sh", "-c", shell]
    if not argv or not argv[0]:
        raise InvalidCommand("the command is empty")
    if not allow:
        return list(argv)
    return [_allowed_executable(argv[0], allow, path), *argv[1:]]


def _allowed_executable(name: str, allow: Sequence[str], path: str) -> str:
    """The absolute path to run for `name`, if the allowlist holds it."""
    # why: a relative path would be checked here against our cwd but run in the job's.
    if os.sep in name and not os.path.isabs(name):
        raise ExecutableNotAllowed(name)
    found = shutil.which(name, path=path)
    if found is None:
        raise ExecutableNotAllowed(name)
    candidate = _identity(found)
    for entry in allow:
        entry_path = entry if os.path.isabs(entry) else shutil.which(entry, path=path)
        if entry_path is not None and _identity(entry_path) == candidate:
            # why: run exactly what we checked; the job's env PATH must not pick another binary.
            return os.path.abspath(found)
    raise ExecutableNotAllowed(name)


def _identity(executable: str) -> tuple[str, str]:
    """The resolved file plus the name it is called by."""
    # why: busybox-style multi-call binaries dispatch on argv[0]; with the realpath alone,
    # allowing `ls` (-> busybox) would allow `rm` (-> busybox) too.
    return os.path.realpath(executable), os.path.basename(executable)


def resolve_cwd(cwd: str | None, work_dir: str | None) -> str | None:
    """The job's working directory, confined to `work_dir` when the executor has one."""
    if work_dir is None:
        if cwd is None:
            return None
        if not os.path.isdir(cwd):
            raise InvalidWorkingDir(cwd, "no such directory")
        return os.path.abspath(cwd)
    root = os.path.realpath(work_dir)
    # why: realpath before the containment check, so `..` and symlinks cannot escape.
    target = os.path.realpath(os.path.join(root, cwd or "."))
    if os.path.commonpath([root, target]) != root:
        raise InvalidWorkingDir(cwd or ".", f"outside the executor's --work-dir {root}")
    if not os.path.isdir(target):
        raise InvalidWorkingDir(cwd or ".", "no such directory")
    return target
